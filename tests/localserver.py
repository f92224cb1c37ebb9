"""A small threaded HTTP server on 127.0.0.1 for tests: routes are plain functions.

    with LocalServer({"/feed.xml": serve_bytes(data, "application/rss+xml")}) as server:
        fetcher.fetch(server.url("/feed.xml"))

A route returns a `Reply`; its body may be bytes or an iterable of chunks (streamed with chunked
transfer encoding, so a test can serve a 1 GB body that is never materialised). Every request is
recorded in `server.requests` (path, headers, monotonic arrival time) for assertions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What a route answers: status, headers and a body (bytes or an iterable of chunks)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    chunk_delay: float = 0.0  # seconds to sleep before each chunk (slow-drip servers)


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    path: str
    headers: Mapping[str, str]
    at: float
    port: int


Route = Callable[[Seen], Reply]


def serve_bytes(body: bytes, content_type: str, **headers: str) -> Route:
    """A route that always answers 200 with `body`."""
    all_headers = {"Content-Type": content_type, **headers}
    return lambda _seen: Reply(200, all_headers, body)


def serve_status(status: int, **headers: str) -> Route:
    """A route that always answers `status` with an empty body."""
    return lambda _seen: Reply(status, dict(headers), b"")


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with an ephemeral port; a context manager."""

    def __init__(self, routes: Mapping[str, Route] | None = None, *, default: Route | None = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.default = default
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                return

            def do_GET(self) -> None:
                seen = Seen(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    at=time.monotonic(),
                    port=server.port,
                )
                with server._lock:
                    server.requests.append(seen)
                route = server.routes.get(self.path.split("?", 1)[0]) or server.default
                reply = route(seen) if route else Reply(404, {"Content-Type": "text/plain"}, b"")
                try:
                    self._write(reply)
                except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            def _write(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if isinstance(reply.body, bytes | bytearray):
                    if "Content-Length" not in reply.headers:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if reply.chunk_delay:
                        for byte in reply.body:
                            time.sleep(reply.chunk_delay)
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                    else:
                        self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in reply.body:
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # clients that hang up early (size caps, deadlines) are expected here

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/") -> str:
        """Absolute URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        """Paths requested so far, in arrival order."""
        with self._lock:
            return [seen.path for seen in self.requests]

    def start(self) -> LocalServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
