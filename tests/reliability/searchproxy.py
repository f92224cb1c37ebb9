"""A small HTTP proxy in front of the real local search server that injects cluster faults.

The official Elasticsearch client talks to it exactly as to a cluster (every header, including
`X-Elastic-Product`, is passed through). Faults it can inject into `_bulk` requests:
- `reject_every`: items whose document id hashes to the same residue modulo n as the first
  article document seen are not forwarded and answered with a per-item 429
  (`es_rejected_execution_exception`) on every attempt, as a cluster under lasting write pressure
  does on some shards (about one in n, and always at least one article, whatever the ids);
- `busy_requests`: the first n bulk requests are answered 429 as a whole;
- `required_auth`: HTTP basic credentials every request must carry (401 otherwise).
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class SearchProxy:
    """A threaded proxy on 127.0.0.1 (ephemeral port) forwarding to `upstream`."""

    def __init__(
        self,
        upstream: str,
        *,
        reject_every: int = 0,
        busy_requests: int = 0,
        required_auth: tuple[str, str] | None = None,
        on_bulk: Callable[[int], None] | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.reject_every = reject_every
        self.busy_requests = busy_requests
        self.required_auth = required_auth
        self.on_bulk = on_bulk  # called with the bulk request's number before it is forwarded
        self.bulk_requests = 0
        self.items_rejected = 0
        self.requests_refused_busy = 0
        self.unauthorized = 0
        self.seen: list[tuple[str, str, bytes]] = []  # method, path, body (what clients sent)
        self.lock = threading.Lock()
        # Set by the first article item: document ids (and so their hashes) change with the
        # sample servers' ports, and a fixed residue would reject no article in some runs.
        self.reject_residue: int | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                body = self._body()
                with proxy.lock:
                    proxy.seen.append((self.command, self.path, body))
                if proxy.required_auth is not None:
                    user, password = proxy.required_auth
                    token = base64.b64encode(f"{user}:{password}".encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {token}":
                        with proxy.lock:
                            proxy.unauthorized += 1
                        return self._reply(
                            401,
                            {
                                "error": {
                                    "type": "security_exception",
                                    "reason": "missing or bad credentials",
                                },
                                "status": 401,
                            },
                            {"WWW-Authenticate": 'Basic realm="security"'},
                        )
                is_bulk = self.command in ("POST", "PUT") and urlsplit(self.path).path.endswith(
                    "/_bulk"
                )
                if is_bulk:
                    with proxy.lock:
                        proxy.bulk_requests += 1
                        busy = proxy.bulk_requests <= proxy.busy_requests
                        if busy:
                            proxy.requests_refused_busy += 1
                    if proxy.on_bulk is not None:
                        proxy.on_bulk(proxy.bulk_requests)
                    if busy:
                        return self._reply(
                            429,
                            {
                                "error": {
                                    "type": "es_rejected_execution_exception",
                                    "reason": "queue full",
                                },
                                "status": 429,
                            },
                        )
                    if proxy.reject_every:
                        return self._bulk_with_rejections(body)
                status, headers, data = proxy.forward(
                    self.command, self.path, dict(self.headers), body
                )
                self._relay(status, headers, data)

            def _relay(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _bulk_with_rejections(self, body: bytes) -> None:
                items = _split_bulk(body)
                kept: list[bytes] = []
                plan: list[dict[str, Any] | None] = []  # None: forwarded; dict: fabricated answer
                for op, header, lines in items:
                    if proxy.rejects(header):
                        with proxy.lock:
                            proxy.items_rejected += 1
                        plan.append(
                            {
                                op: {
                                    "_index": header.get("_index"),
                                    "_id": header.get("_id"),
                                    "status": 429,
                                    "error": {
                                        "type": "es_rejected_execution_exception",
                                        "reason": "rejected by test proxy",
                                    },
                                }
                            }
                        )
                    else:
                        kept.extend(lines)
                        plan.append(None)
                answers: list[dict[str, Any]] = []
                took = 0
                headers: list[tuple[str, str]] = [
                    ("Content-Type", "application/json"),
                    ("X-Elastic-Product", "Elasticsearch"),
                ]
                if kept:
                    status, headers, data = proxy.forward(
                        self.command, self.path, dict(self.headers), b"".join(kept)
                    )
                    if status != 200:
                        return self._relay(status, headers, data)
                    upstream = json.loads(data)
                    answers = list(upstream["items"])
                    took = upstream.get("took", 0)
                merged: list[dict[str, Any]] = []
                forwarded = iter(answers)
                for entry in plan:
                    merged.append(entry if entry is not None else next(forwarded))
                self._reply(200, {"took": took, "errors": True, "items": merged})

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def rejects(self, header: dict[str, Any]) -> bool:
        """Whether the bulk item with this action header is answered with a per-item 429."""
        digest = zlib.crc32(str(header.get("_id")).encode()) % self.reject_every
        with self.lock:
            if self.reject_residue is None and "-articles-" in str(header.get("_index")):
                self.reject_residue = digest
            return digest == self.reject_residue

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request upstream and return its status, headers and body."""
        connection = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60
        )
        try:
            sent = {
                k: v
                for k, v in headers.items()
                if k.lower() not in ("host", "content-length", "authorization", "connection")
            }
            sent["Content-Length"] = str(len(body))
            connection.request(
                method,
                path,
                body=body if body or method not in ("GET", "HEAD") else None,
                headers=sent,
            )
            response = connection.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()

    def __enter__(self) -> SearchProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _split_bulk(body: bytes) -> list[tuple[str, dict[str, Any], list[bytes]]]:
    """Split an NDJSON bulk body into (operation, action header, raw lines) per item."""
    lines = [line + b"\n" for line in body.split(b"\n") if line.strip()]
    items: list[tuple[str, dict[str, Any], list[bytes]]] = []
    position = 0
    while position < len(lines):
        action = json.loads(lines[position])
        op, header = next(iter(action.items()))
        if op == "delete":
            items.append((op, header, [lines[position]]))
            position += 1
        else:
            items.append((op, header, lines[position : position + 2]))
            position += 2
    return items
