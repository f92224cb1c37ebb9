"""Fetcher throughput against the politeness bound, and peak memory.

50 local hosts (distinct ports on 127.0.0.1, served by a separate process so the servers do not
compete with the fetcher for the GIL), each allowing 5 requests/s: a request that arrives less
than 0.9 x 200 ms after the previous one at the same host is answered 429 and counted as a
violation. The fetcher is configured at 5 requests/s per host and fetches 20 real pages per host
(plus each host's robots.txt). The politeness bound is the wall time a perfectly polite client
needs: (requests per host - 1) / rate. Prints one JSON line:

    throughput_share = bound seconds / achieved seconds   (goal >= 0.9)

Run: `.venv/bin/python bench/fetch.py [--hosts 50 --pages 20 --rate 5 --workers 32]`
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.http import Fetcher, FetchRequest, FetchSettings  # noqa: E402
from schemas.records import RawPage  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TOLERANCE = 0.9  # a gap shorter than 90 % of the interval is a violation


def _serve(hosts: int, rate: float, pages: list[bytes], conn: Connection) -> None:
    """Child process: start `hosts` servers, report ports, then report arrival stats on request."""
    interval = 1.0 / rate
    lock = threading.Lock()
    last: dict[int, float] = {}
    arrivals: dict[int, list[float]] = {}
    violations = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            now = time.monotonic()
            port = self.server.server_address[1]
            with lock:
                previous = last.get(port)
                too_soon = previous is not None and now - previous < interval * TOLERANCE
                last[port] = now
                arrivals.setdefault(port, []).append(now)
                if too_soon:
                    violations["count"] += 1
            if too_soon:
                body, status, ctype = b"slow down", 429, "text/plain"
            elif self.path == "/robots.txt":
                body, status, ctype = b"User-agent: *\nAllow: /\n", 200, "text/plain"
            else:
                index = int(self.path.rsplit("/", 1)[-1]) if self.path[-1].isdigit() else 0
                body, status, ctype = pages[index % len(pages)], 200, "text/html"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(body)

    servers = []
    for _ in range(hosts):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    conn.send([server.server_address[1] for server in servers])
    conn.recv()  # the parent is done
    conn.send({"arrivals": arrivals, "violations": violations["count"]})
    for server in servers:
        server.shutdown()


def run(hosts: int, pages_per_host: int, rate: float, workers: int) -> dict[str, Any]:
    """Run the benchmark once; return the figures."""
    files = sorted((DATA / "pages").rglob("*.html"))
    if not files:
        raise SystemExit(f"no pages under {DATA.resolve()}")
    bodies = [path.read_bytes() for path in files]
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(hosts, rate, bodies, child), daemon=True
    )
    process.start()
    ports: list[int] = parent.recv()
    del bodies

    settings = FetchSettings(
        default_requests_per_second=rate,
        default_per_host_concurrency=1,
        allowed_private_networks=("127.0.0.1/32",),
        retries=2,
    )
    requests = [
        FetchRequest(f"http://127.0.0.1:{port}/p/{page}")
        for page in range(pages_per_host)
        for port in ports
    ]
    tracemalloc.start()
    ok = failed = 0
    total_bytes = 0
    started = time.monotonic()
    with Fetcher(settings) as fetcher:
        for _request, outcome in fetcher.fetch_many(requests, max_workers=workers):
            if isinstance(outcome, RawPage):
                ok += 1
                total_bytes += len(outcome.body)
            else:
                failed += 1
    elapsed = time.monotonic() - started
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    parent.send("done")
    stats = parent.recv()
    process.join(timeout=5)

    per_host = [len(times) for times in stats["arrivals"].values()]
    requests_per_host = max(per_host) if per_host else 0
    bound = (requests_per_host - 1) / rate
    gaps = [
        later - earlier
        for times in stats["arrivals"].values()
        for earlier, later in zip(times, times[1:], strict=False)
    ]
    return {
        "bench": "fetch",
        "hosts": hosts,
        "pages_per_host": pages_per_host,
        "rate_per_host": rate,
        "workers": workers,
        "pages_ok": ok,
        "pages_failed": failed,
        "requests_seen_by_servers": sum(per_host),
        "bytes": total_bytes,
        "elapsed_s": round(elapsed, 3),
        "politeness_bound_s": round(bound, 3),
        "throughput_share": round(bound / elapsed, 3) if elapsed else None,
        "pages_per_s": round(ok / elapsed, 1),
        "bound_pages_per_s": round(hosts * pages_per_host / bound, 1) if bound else None,
        "violations": stats["violations"],
        "min_gap_s": round(min(gaps), 4) if gaps else None,
        "peak_traced_mib": round(traced_peak / 2**20, 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "goal_met": bool(elapsed and bound / elapsed >= 0.9 and stats["violations"] == 0),
    }


def main() -> None:
    """Parse arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()
    print(json.dumps(run(args.hosts, args.pages, args.rate, args.workers)))


if __name__ == "__main__":
    main()
