"""The hostile outlet server of issue 16: one local site (127.0.0.1 only) whose responses and
registry entries reproduce each defect, beside a good outlet serving a real captured page.

What is real and what is constructed:
- the good outlet's article is a real page from `tests/resources/shared/pages/en`, byte for
  byte; its feed is a minimal RSS document listing it (constructed, like every feed here);
- the hostile payloads are constructed on purpose: a feed whose `<language>` and `xml:lang` are
  longer than the store's language column, a section page with one attacker-chosen link that a
  backtracking pattern cannot match, a sitemap index of 700,000 children (about 1.8 MB gzipped)
  whose every child answers with the same index, a page that is the real page with `[/]` (Rich
  markup) in its title, a search "cluster" answering 501 to everything, and (on a second host) a
  feed of 300 links each answered only after 2 s.

`mediamon run` is started as a subprocess per case, so a hang is cut at a deadline and the peak
memory of that one run is read from the kernel (`wait4`), not from the test process.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fixtures import SHARED_DATA
from tests.localserver import LocalServer, Reply, Route, serve_bytes
from tests.reliability.harness import REPO_ROOT, mediamon_command

SHARED_PAGES = SHARED_DATA / "pages" / "en"
SITEMAP_CHILDREN = 700_000
LONG_LANGUAGE = "en-x-" + "hostile" * 6  # 47 characters: the store's column holds 16
# Passes the load check (no nested repeat) yet takes 2^40 steps in re: the match-time budget holds.
BACKTRACKING_PATTERN = r"^https?://[^/]+/(x|x)+\.html$"
ATTACKER_LINK = "/" + "x" * 40 + "!"
MARKUP = "[/]"
SLOW_LINKS = 300
SLOW_SECONDS = 2.0


def real_page() -> bytes:
    """The first real English page of the shared fixtures (the good outlet's article)."""
    pages = sorted(SHARED_PAGES.glob("*.html"))
    if not pages:
        raise AssertionError(f"no real pages in {SHARED_PAGES}")
    return pages[0].read_bytes()


def rss(items: list[tuple[str, str]], *, language: str | None = None, item_lang: str = "") -> bytes:
    """A minimal RSS 2.0 document listing (title, url) items (constructed)."""
    head = f"<language>{language}</language>" if language else ""
    lang = f' xml:lang="{item_lang}"' if item_lang else ""
    body = "".join(
        f"<item{lang}><title>{title}</title><link>{url}</link></item>" for title, url in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="2.0"><channel><title>t</title>{head}{body}</channel></rss>'
    ).encode()


def huge_sitemap_index(base: str) -> bytes:
    """A gzipped sitemap index of 700,000 distinct children on `base` (constructed)."""
    children = b"".join(
        b"<sitemap><loc>%s/s/child-%d.xml</loc></sitemap>" % (base.encode(), number)
        for number in range(SITEMAP_CHILDREN)
    )
    return gzip.compress(
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + children
        + b"</sitemapindex>",
        compresslevel=6,
    )


def titled_page(page: bytes, marker: str) -> bytes:
    """The real page with `marker` put at the start of its <title> and og:title (constructed)."""
    out = page.replace(b"<title>", b"<title>" + marker.encode(), 1)
    for quote in (b'"', b"'"):
        needle = b"property=" + quote + b"og:title" + quote + b" content=" + quote
        out = out.replace(needle, needle + marker.encode(), 1)
    return out


class HostileSite:
    """The server and the registry entries of every case; a context manager."""

    def __init__(self) -> None:
        self.server = LocalServer()
        self.page = real_page()
        self._index = huge_sitemap_index(self.server.url("").rstrip("/"))
        html = "text/html; charset=utf-8"
        xml = "application/rss+xml"
        index: Route = serve_bytes(self._index, "application/gzip")
        self.server.routes.update(
            {
                "/good/article.html": serve_bytes(self.page, html),
                "/good/feed.xml": serve_bytes(
                    rss([("good", self.server.url("/good/article.html"))]), xml
                ),
                "/lang/feed.xml": serve_bytes(
                    rss(
                        [("long language", self.server.url("/lang/article.html"))],
                        language=LONG_LANGUAGE,
                        item_lang=LONG_LANGUAGE,
                    ),
                    xml,
                ),
                "/lang/article.html": serve_bytes(self.page, html),
                "/regex/section.html": serve_bytes(
                    f'<html><body><a href="{ATTACKER_LINK}">x</a></body></html>'.encode(), html
                ),
                "/s/index.xml.gz": index,
                "/markup/feed.xml": serve_bytes(
                    rss([("markup", self.server.url("/markup/article.html"))]), xml
                ),
                "/markup/article.html": serve_bytes(titled_page(self.page, MARKUP), html),
            }
        )
        # Every child of the index answers with the same 700,000-child index.
        self.server.default = lambda seen: (
            index(seen)
            if seen.path.startswith("/s/child-")
            else Reply(404, {"Content-Type": "text/plain"}, b"")
        )

        # A second host (politeness is per host): a feed whose links each take 2 s to answer 404.
        self.slow = LocalServer(
            {
                "/feed.xml": serve_bytes(
                    rss([(f"slow {n}", f"/never/{n}") for n in range(SLOW_LINKS)]), xml
                )
            },
            default=_slow_not_found,
        )

    def slow_outlet(self) -> dict[str, Any]:
        """The outlet of 300 links that each answer after 2 s, on its own host."""
        return {
            "id": "slow",
            "homepage": self.slow.url("/"),
            "feeds": ["/feed.xml"],
            "allow_private": True,
        }

    def outlet(self, case: str, **fields: Any) -> dict[str, Any]:
        """A registry entry on this server (loopback allowed for it alone)."""
        return {"id": case, "homepage": self.server.url("/"), "allow_private": True, **fields}

    def good(self) -> dict[str, Any]:
        """The outlet that must be ingested whatever the hostile one does."""
        return self.outlet("good", feeds=["/good/feed.xml"])

    def sitemap_requests(self) -> int:
        """How many sitemap documents were served so far."""
        return sum(1 for path in self.server.paths() if path.startswith("/s/"))

    def __enter__(self) -> HostileSite:
        self.server.start()
        self.slow.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.slow.stop()


def _slow_not_found(seen: Any) -> Reply:
    if seen.path.startswith("/never/"):
        time.sleep(SLOW_SECONDS)
    return Reply(404, {"Content-Type": "text/plain"}, b"")


class FailingSearch:
    """A "search cluster" that answers every request, whatever its method, with one status (501
    by default), the way a proxy or an unfinished endpoint does; body and headers are what
    Elasticsearch sends, the reason holding Rich markup."""

    def __init__(self, status: int = 501) -> None:
        body = json.dumps(
            {"error": {"type": "hostile", "reason": f"status {status} {MARKUP}"}, "status": status}
        ).encode()
        self.requests = 0
        failing = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                failing.requests += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FailingSearch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Measured:
    """One `mediamon` subprocess: exit code, output, wall time, its own peak RSS."""

    returncode: int | None  # None: cut at the deadline
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr


def run_measured(env: Mapping[str, str], *args: str, deadline: float) -> Measured:
    """Run `mediamon <args>`; kill its process group at `deadline` seconds; measure it alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            mediamon_command(*args),
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        returncode: int | None = None
        usage = None
        # The child's own high-water mark, read while it runs: ru_maxrss of a forked child also
        # counts the parent's pages it held before exec (the whole test process in a long run).
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, _high_water_kib(process.pid))
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() - started > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                _pid, _status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        process.returncode = returncode if returncode is not None else -9  # reaped above
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=seconds,
            peak_rss_mb=(peak_kib or usage.ru_maxrss) / 1024,
        )


def _high_water_kib(pid: int) -> int:
    """VmHWM of a running process in KiB (0 when it is gone or not readable)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def registry_file(directory: Path, outlets: list[dict[str, Any]]) -> Path:
    """Write a registry of these outlets and return its path."""
    from tests.reliability.harness import write_registry

    return write_registry({"outlets": outlets}, directory / "outlets.yaml")
