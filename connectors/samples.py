"""Local sample outlets: the bundled samples served as real HTTP sites on 127.0.0.1.

Each outlet gets its own server on a free port (so per-host politeness applies as on the web) with
`/robots.txt`, an RSS 2.0 feed `/feed.xml`, a Google News sitemap `/news-sitemap.xml` and its
articles at the paths of their original URLs. Real captures are served byte for byte; documents of
the syndication set (plain text) are served as a minimal constructed HTML page that says so.
See `mediamon/samples/README.md` for what is real and what is constructed.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import yaml

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "mediamon" / "samples"


@dataclass(frozen=True, slots=True)
class SamplePage:
    """One article a sample outlet serves."""

    path: str  # path + query of the original URL
    title: str | None
    published_at: datetime | None  # None: the feed and sitemap do not announce a date
    body: bytes
    content_type: str
    language: str | None


@dataclass(slots=True)
class SampleOutlet:
    """A sample outlet: its slug, language and pages."""

    id: str
    language: str | None
    pages: list[SamplePage] = field(default_factory=list)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    if len(value) == 10:  # day-only precision: announce the day, not an invented time
        return datetime.fromisoformat(value + "T00:00:00+00:00")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _constructed_page(doc: Mapping[str, Any]) -> bytes:
    """Render a syndication-set document (plain text) as a minimal, clearly constructed page."""
    title = html.escape(doc.get("title") or "")
    paragraphs = "\n".join(
        f"<p>{html.escape(part.strip())}</p>" for part in doc["text"].split("\n\n") if part.strip()
    )
    published = doc.get("published_at")
    meta_time = (
        f'<meta property="article:published_time" content="{html.escape(published)}">'
        if published
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html.escape(doc["language"])}"><head><meta charset="utf-8">'
        f"<title>{title}</title>{meta_time}"
        '<meta name="generator" content="mediamon sample page constructed from the syndication '
        'evaluation set (text real or written, HTML constructed)">'
        f"</head><body><article><h1>{title}</h1>\n{paragraphs}\n</article></body></html>\n"
    ).encode()


def load_sample_outlets(samples_dir: Path = SAMPLES_DIR) -> list[SampleOutlet]:
    """Read the bundled samples into outlets with their pages, in a stable order."""
    outlets: dict[str, SampleOutlet] = {}
    with (samples_dir / "syndication.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            parts = urlsplit(doc["url"])
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            outlet = outlets.setdefault(doc["outlet"], SampleOutlet(doc["outlet"], doc["language"]))
            outlet.pages.append(
                SamplePage(
                    path=path,
                    title=doc.get("title"),
                    published_at=_parse_time(doc.get("published_at")),
                    body=_constructed_page(doc),
                    content_type="text/html; charset=utf-8",
                    language=doc["language"],
                )
            )
    for row in json.loads((samples_dir / "captures.json").read_text(encoding="utf-8")):
        slug = row["outlet"].removeprefix("www.").replace(".", "-")
        parts = urlsplit(row["url"])
        outlet = outlets.setdefault(slug, SampleOutlet(slug, row["language"]))
        # Real captures are served as they were stored; the HTTP header names no charset so the
        # page's own declaration (or detection) decides, as for a misconfigured real server.
        outlet.pages.append(
            SamplePage(
                path=parts.path + (f"?{parts.query}" if parts.query else ""),
                title=None,
                published_at=None,
                body=(samples_dir / "captures" / row["file"]).read_bytes(),
                content_type="text/html",
                language=row["language"],
            )
        )
    return [outlets[key] for key in sorted(outlets)]


def render_feed(outlet: SampleOutlet, base_url: str) -> bytes:
    """RSS 2.0 feed listing every page of the outlet, newest first."""
    items = []
    for page in sorted(outlet.pages, key=_newest_first):
        link = escape(base_url + page.path)
        parts = [
            f"<title>{escape(page.title or page.path)}</title>",
            f"<link>{link}</link>",
            f'<guid isPermaLink="true">{link}</guid>',
        ]
        if page.published_at is not None:
            parts.append(f"<pubDate>{format_datetime(page.published_at, usegmt=True)}</pubDate>")
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(outlet.id)} (mediamon sample)</title><link>{escape(base_url)}/</link>"
        f"<description>Sample outlet</description><language>{escape(outlet.language or '')}"
        "</language>" + "\n".join(items) + "</channel></rss>\n"
    ).encode()


def render_news_sitemap(outlet: SampleOutlet, base_url: str) -> bytes:
    """Google News sitemap of the outlet's dated pages."""
    entries = []
    for page in sorted(outlet.pages, key=_newest_first):
        news = ""
        if page.published_at is not None:
            news = (
                "<news:news><news:publication><news:name>"
                f"{escape(outlet.id)}</news:name><news:language>{escape(page.language or '')}"
                "</news:language></news:publication><news:publication_date>"
                f"{page.published_at.isoformat()}</news:publication_date><news:title>"
                f"{escape(page.title or '')}</news:title></news:news>"
            )
        entries.append(f"<url><loc>{escape(base_url + page.path)}</loc>{news}</url>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        + "\n".join(entries)
        + "</urlset>\n"
    ).encode()


def _newest_first(page: SamplePage) -> tuple[float, str]:
    return (-(page.published_at.timestamp() if page.published_at else 0.0), page.path)


class _OutletServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, outlet: SampleOutlet, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.outlet = outlet
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"
        self.by_path = {urlsplit(page.path).path: page for page in outlet.pages}
        self.requests_served = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _OutletServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sample %s: %s", self.server.outlet.id, format % args)

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests_served += 1
        path = urlsplit(self.path).path
        outlet = self.server.outlet
        if path == "/robots.txt":
            body = (
                f"User-agent: *\nAllow: /\nSitemap: {self.server.base_url}/news-sitemap.xml\n"
            ).encode()
            return self._send(200, "text/plain; charset=utf-8", body)
        if path == "/feed.xml":
            return self._send(
                200, "application/rss+xml; charset=utf-8", render_feed(outlet, self.server.base_url)
            )
        if path == "/news-sitemap.xml":
            return self._send(
                200,
                "application/xml; charset=utf-8",
                render_news_sitemap(outlet, self.server.base_url),
            )
        page = self.server.by_path.get(path)
        if page is None:
            return self._send(404, "text/plain; charset=utf-8", b"not found\n")
        return self._send(200, page.content_type, page.body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass(frozen=True, slots=True)
class RunningSamples:
    """The running sample outlets: base URL per outlet id, and the registry that lists them."""

    base_urls: Mapping[str, str]
    outlets: Sequence[SampleOutlet]

    def registry_document(self) -> dict[str, Any]:
        """An outlet-registry document (as in `config/outlets.yaml`) for the running samples."""
        return {
            "outlets": [
                {
                    "id": outlet.id,
                    "name": f"{outlet.id} (sample)",
                    "homepage": self.base_urls[outlet.id] + "/",
                    "languages": [outlet.language] if outlet.language else [],
                    "feeds": ["/feed.xml"],
                    "sitemaps": ["/news-sitemap.xml"],
                    "allow_private": True,
                }
                for outlet in self.outlets
            ]
        }

    def write_registry(self, path: Path) -> Path:
        """Write the registry of the running samples to `path` (YAML) and return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# Generated by mediamon demo for the sample outlets running on 127.0.0.1.\n"
        path.write_text(
            header + yaml.safe_dump(self.registry_document(), sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
        return path


def free_port_range(count: int, *, start: int = 20000, stop: int = 30000) -> int:
    """Return a base port such that `count` consecutive ports on 127.0.0.1 are free right now."""
    import random
    import socket

    for _ in range(200):
        base = random.randrange(start, stop - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise OSError(f"no {count} consecutive free ports on 127.0.0.1 in [{start}, {stop})")


@contextmanager
def serve_samples(
    outlets: Sequence[SampleOutlet] | None = None, *, base_port: int | None = None
) -> Iterator[RunningSamples]:
    """Serve every sample outlet on its own 127.0.0.1 port for the duration of the context.

    With `base_port`, outlet number i (in id order) gets port `base_port + i`, so its URLs, and
    therefore its article ids, are the same on every run; without it, free ports are taken.
    """
    chosen = list(outlets) if outlets is not None else load_sample_outlets()
    servers: list[_OutletServer] = []
    try:
        for number, outlet in enumerate(chosen):
            port = 0 if base_port is None else base_port + number
            try:
                servers.append(_OutletServer(outlet, port))
            except OSError as error:
                raise OSError(
                    f"cannot serve sample outlet {outlet.id} on 127.0.0.1:{port}: "
                    f"{error.strerror} (set MEDIAMON_SAMPLES_BASE_PORT)"
                ) from error
    except OSError:
        for server in servers:
            server.server_close()
        raise
    threads = [
        threading.Thread(target=s.serve_forever, name=f"sample-{s.outlet.id}", daemon=True)
        for s in servers
    ]
    for thread in threads:
        thread.start()
    try:
        yield RunningSamples({s.outlet.id: s.base_url for s in servers}, chosen)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
