"""Hostile responses served locally and taken through the real pipeline (discover -> fetch ->
extract -> store), on SQLite and PostgreSQL: every case ends in a typed, recorded error or a correct
result, the run itself never fails, no external entity is ever resolved, and memory stays bounded.

Also SSRF through the pipeline: registry and feed URLs aimed at private, loopback, link-local,
metadata, IPv6-mapped and decimal/octal/hex addresses, and a redirect from an allowed host to the
metadata address, are each refused and recorded, and the local server sees none of them."""

from __future__ import annotations

import itertools
import resource
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.http import Fetcher, FetchSettings
from mediamon.runner import ingest
from mediamon.services import Services, load_outlets, open_services
from mediamon.settings import Settings, load_settings
from tests.fixtures import SHARED_DATA
from tests.localserver import LocalServer, Reply, serve_bytes
from tests.reliability.harness import write_registry

MB = 1024 * 1024
PASSWD_MARK = "root:x:0:0"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _gzip_bomb(size: int) -> bytes:
    """`size` bytes of zeros, gzip-compressed (about 1000:1)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * MB
    parts = [packer.compress(block) for _ in range(size // MB)]
    parts.append(packer.flush())
    return b"".join(parts)


def _endless(chunk: bytes, total: int) -> Iterator[bytes]:
    return itertools.islice(itertools.repeat(chunk), total // len(chunk))


LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "lollollollollollollollollollol">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b"]>\n"
)


def _feed(
    items: list[str], prefix: bytes = b'<?xml version="1.0" encoding="utf-8"?>\n', title: str = "t"
) -> bytes:
    body = "".join(f"<item><title>{title}</title><link>{url}</link></item>" for url in items)
    return prefix + f'<rss version="2.0"><channel><title>x</title>{body}</channel></rss>'.encode()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _gzip_bomb(1024 * MB)


@pytest.fixture(scope="module")
def real_page() -> bytes:
    data = SHARED_DATA / "pages" / "en"
    pages = sorted(data.glob("*.html"))
    assert pages, f"no real pages in {data}"
    return pages[0].read_bytes()


def _hostile_routes(
    server: LocalServer, bomb: bytes, real_page: bytes
) -> tuple[dict[str, Any], dict[str, str]]:
    """Routes of the hostile site, and the page cases the pages feed lists (path -> case)."""
    probe = server.url("/xxe-probe")
    xxe_doctype = (
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">'
        f'<!ENTITY y SYSTEM "{probe}">]>\n'
    ).encode()
    html = "text/html; charset=utf-8"
    pages: dict[str, Reply | Any] = {
        "/p/good": serve_bytes(real_page, "text/html"),
        "/p/entity-bomb": serve_bytes(
            LAUGHS.replace(b"rss", b"html") + b"<html><body><p>&j;</p></body></html>", html
        ),
        "/p/xxe": serve_bytes(
            xxe_doctype + b"<html><head><title>&x;</title></head><body><p>&x;&y;</p></body></html>",
            "application/xhtml+xml",
        ),
        "/p/gzip-bomb": serve_bytes(bomb, html, **{"Content-Encoding": "gzip"}),
        "/p/huge": lambda _s: Reply(
            200, {"Content-Type": html}, _endless(b"<p>" + b"word " * 200 + b"</p>\n", 1024 * MB)
        ),
        "/p/deep": serve_bytes(
            b"<html><body>"
            + b"<div>" * 100_000
            + b"deep"
            + b"</div>" * 100_000
            + b"</body></html>",
            html,
        ),
        "/p/nul": serve_bytes(
            real_page.replace(b"<title>", b"<title>\0\0nul\0", 1).replace(b"<p>", b"<p>\0", 5),
            "text/html",
        ),
        "/p/bad-utf8": serve_bytes(
            real_page.replace(b"<p>", b"<p>\xff\xfe\xc3\x28\xa0\xa1", 20), html
        ),
        "/p/loop": lambda _s: Reply(302, {"Location": "/p/loop2", "Content-Length": "0"}),
        "/p/loop2": lambda _s: Reply(302, {"Location": "/p/loop", "Content-Length": "0"}),
        "/p/long-chain": lambda seen: Reply(
            302,
            {
                "Location": f"/p/long-chain?{int(([*seen.path.split('?'), '0'])[1]) + 1}",
                "Content-Length": "0",
            },
        ),
        "/p/slow": lambda _s: Reply(
            200,
            {"Content-Type": html, "Content-Length": "100000"},
            b"x" * 100_000,
            chunk_delay=0.05,
        ),
        "/p/png": serve_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 1000, "image/png"),
        "/p/empty": serve_bytes(b"", html),
        "/p/error": lambda _s: Reply(500, {"Content-Length": "0"}),
    }
    feeds: dict[str, Any] = {
        "/f/entity-bomb": serve_bytes(
            LAUGHS
            + b'<rss version="2.0"><channel><title>&j;</title>'
            + b"<item><title>&j;</title><link>/p/good</link></item></channel></rss>",
            "application/rss+xml",
        ),
        "/f/xxe": serve_bytes(
            xxe_doctype.replace(b"DOCTYPE r", b"DOCTYPE rss")
            + b'<rss version="2.0"><channel><title>&x;</title>'
            + b"<item><title>&x;&y;</title><link>/p/good</link></item></channel></rss>",
            "application/rss+xml",
        ),
        "/f/gzip-bomb": serve_bytes(bomb, "application/rss+xml", **{"Content-Encoding": "gzip"}),
        "/f/gzip-bomb-raw": serve_bytes(bomb, "application/gzip"),
        "/f/huge": lambda _s: Reply(
            200,
            {"Content-Type": "application/rss+xml"},
            _endless(b"<item><title>x</title><link>/p/good</link></item>\n", 1024 * MB),
        ),
        "/f/deep": serve_bytes(
            b'<rss version="2.0"><channel>'
            + b"<x>" * 100_000
            + b"</x>" * 100_000
            + b"</channel></rss>",
            "application/rss+xml",
        ),
        "/f/nul": serve_bytes(
            _feed([server.url("/p/good")], title="a\0b").replace(b"<channel>", b"<channel>\0"),
            "application/rss+xml",
        ),
        "/f/bad-utf8": serve_bytes(
            _feed([server.url("/p/good")], title="caf\xe9").replace(b"caf", b"caf\xff\xfe"),
            "application/rss+xml",
        ),
        "/f/loop": lambda _s: Reply(301, {"Location": "/f/loop", "Content-Length": "0"}),
        "/f/png": serve_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 1000, "image/png"),
        "/f/slow": lambda _s: Reply(
            200,
            {"Content-Type": "application/rss+xml", "Content-Length": "100000"},
            b" " * 100_000,
            chunk_delay=0.05,
        ),
        "/s/entity-bomb": serve_bytes(
            LAUGHS.replace(b"rss", b"urlset")
            + b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&j;</loc></url></urlset>',
            "application/xml",
        ),
        "/s/xxe": serve_bytes(
            xxe_doctype.replace(b"DOCTYPE r", b"DOCTYPE urlset")
            + b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&y;</loc></url></urlset>',
            "application/xml",
        ),
        "/s/gzip-bomb": serve_bytes(bomb, "application/gzip"),
    }
    page_list = [server.url(path) for path in pages if path != "/p/loop2"]
    feeds["/f/pages"] = serve_bytes(_feed(page_list), "application/rss+xml")
    return {**pages, **feeds}, {server.url(p): p for p in pages if p != "/p/loop2"}


def _fast_fetcher(services: Services) -> None:
    """The pipeline's fetcher with a 3 s response deadline and no retries (slow drips end fast)."""
    services.__dict__["fetcher"] = Fetcher(
        FetchSettings(
            user_agent=services.settings.user_agent,
            allow_private=services.settings.allow_private,
            default_requests_per_second=200.0,
            total_timeout=3.0,
            read_timeout=2.0,
            retries=0,
        )
    )


def _settings(tmp_path: Path, database_url: str, registry: dict[str, Any]) -> Settings:
    path = write_registry(registry, tmp_path / "outlets.yaml")
    return load_settings({}, data_dir=tmp_path / "data").with_overrides(
        database_url=database_url, registry_path=path, search_url=None, requests_per_second=200.0
    )


def test_hostile_responses_end_in_typed_recorded_errors_or_correct_results(
    tmp_path: Path, database_url: str, bomb: bytes, real_page: bytes
) -> None:
    server = LocalServer()
    routes, page_cases = _hostile_routes(server, bomb, real_page)
    server.routes.update(routes)
    feed_cases = [p for p in routes if p.startswith("/f/") and p != "/f/pages"]
    sitemap_cases = [p for p in routes if p.startswith("/s/")]
    registry = {
        "outlets": [
            {
                "id": "hostile-pages",
                "homepage": server.url("/"),
                "feeds": ["/f/pages"],
                "allow_private": True,
            },
            *(
                {
                    "id": f"hostile-feed-{p.rsplit('/', 1)[1]}",
                    "homepage": server.url("/"),
                    "feeds": [p],
                    "allow_private": True,
                }
                for p in feed_cases
            ),
            *(
                {
                    "id": f"hostile-sitemap-{p.rsplit('/', 1)[1]}",
                    "homepage": server.url("/"),
                    "sitemaps": [p],
                    "allow_private": True,
                }
                for p in sitemap_cases
            ),
        ]
    }
    settings = _settings(tmp_path, database_url, registry)
    with server:
        # Warm-up on the one good page: models and parsers loaded, so what follows measures
        # only what the hostile responses cost.
        warm = _settings(
            tmp_path / "warm",
            f"sqlite:///{tmp_path / 'warm.sqlite3'}",
            {"outlets": registry["outlets"][:1]},
        )
        server.routes["/f/warm"] = serve_bytes(
            _feed([server.url("/p/good")]), "application/rss+xml"
        )
        warm = warm.with_overrides(
            registry_path=write_registry(
                {"outlets": [{**registry["outlets"][0], "feeds": ["/f/warm"]}]},
                tmp_path / "warm.yaml",
            )
        )
        with open_services(warm) as services:
            _fast_fetcher(services)
            assert ingest(services, load_outlets(warm)).counts.get("articles_new") == 1
        rss_before, peak_before = _rss_mb(), _peak_mb()
        with open_services(settings) as services:
            _fast_fetcher(services)
            report = ingest(services, load_outlets(settings))
            health = {row.url: row for row in services.store.outlet_health()}
            links = {row.url: row for row in _link_rows(services)}
            articles = _article_texts(services)
    rss_after, peak_after = _rss_mb(), _peak_mb()
    print(
        f"hostile corpus: {len(page_cases)} pages, {len(feed_cases)} feeds, {len(sitemap_cases)} "
        f"sitemaps; RSS {rss_before:.0f} -> {rss_after:.0f} MB, "
        f"peak {peak_before:.0f} -> {peak_after:.0f} MB; "
        f"errors {sorted({error.kind for error in report.errors})}"
    )
    outcomes: dict[str, str] = {}
    for path in feed_cases + sitemap_cases:
        row = health[server.url(path)]
        outcomes[path] = row.last_error_kind or "ok"
        if row.last_error_kind is None:
            assert row.last_success_at is not None
    for url, path in page_cases.items():
        row = links[url]
        if row.article_id is not None:
            outcomes[path] = "article"
        else:
            assert row.last_error_kind, (
                f"{path}: neither an article nor a recorded error ({row.status})"
            )
            outcomes[path] = row.last_error_kind
    print(outcomes)
    assert outcomes["/p/good"] == "article"
    for path in (
        "/p/loop",
        "/p/long-chain",
        "/p/png",
        "/p/slow",
        "/p/gzip-bomb",
        "/p/huge",
        "/p/error",
        "/f/loop",
        "/f/png",
        "/f/gzip-bomb",
        "/f/huge",
        "/f/slow",
        "/s/gzip-bomb",
    ):
        assert outcomes[path] not in ("ok", "article"), f"{path} should have been refused"
    assert all(PASSWD_MARK not in text for text in articles)  # no file entity was ever expanded
    assert all("lollollol" * 100 not in text for text in articles)  # no entity bomb expanded
    assert "/xxe-probe" not in server.paths()  # no network entity was ever fetched
    # The bound by design: at most 2 responses per host in flight, each capped at 16 MB on the
    # wire and 64 MB inflated (plus the parsers' copies). One of the 1 GB bodies or bombs
    # materialised would be 1024 MB on its own.
    assert peak_after - peak_before < 450, "a hostile body was materialised in memory"


def _link_rows(services: Services) -> list[Any]:
    from sqlalchemy import select

    from schemas import tables as t

    with services.store.begin() as conn:
        return list(conn.execute(select(t.discovered_urls)).all())


def _article_texts(services: Services) -> list[str]:
    from sqlalchemy import select

    from schemas import tables as t

    with services.store.begin() as conn:
        rows = conn.execute(
            select(t.articles.c.title, t.article_versions.c.text).join(
                t.article_versions, t.article_versions.c.article_id == t.articles.c.id
            )
        ).all()
    return [f"{row.title}\n{row.text}" for row in rows]


def test_ssrf_targets_in_the_registry_and_feeds_are_refused_and_recorded(
    tmp_path: Path, database_url: str
) -> None:
    target = LocalServer(
        default=lambda _s: Reply(
            200, {"Content-Type": "application/rss+xml"}, _feed(["http://example.org/a"])
        )
    )
    allowed = LocalServer()
    with target, allowed:
        port = target.port
        forbidden = {
            "loopback": f"http://127.0.0.1:{port}/feed",
            "loopback-other": f"http://127.9.8.7:{port}/feed",
            "localhost": f"http://localhost:{port}/feed",
            "ipv6-loopback": f"http://[::1]:{port}/feed",
            "ipv4-mapped": f"http://[::ffff:127.0.0.1]:{port}/feed",
            "decimal": f"http://2130706433:{port}/feed",
            "octal": f"http://0177.0.0.1:{port}/feed",
            "hex": f"http://0x7f.0.0.1:{port}/feed",
            "short": f"http://127.1:{port}/feed",
            "zero": f"http://0.0.0.0:{port}/feed",
            "private-10": "http://10.0.0.1/feed",
            "private-192": "http://192.168.1.1/feed",
            "cgnat": "http://100.64.0.1/feed",
            "link-local": "http://169.254.10.10/feed",
            "metadata": "http://169.254.169.254/latest/meta-data/",
            "metadata-decimal": "http://2852039166/latest/meta-data/",
            "metadata-mapped": "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
            "ipv6-ula": "http://[fd00::1]/feed",
            "ipv6-link-local": "http://[fe80::1]/feed",
        }
        to_metadata = "http://169.254.169.254/latest/meta-data/iam/"
        allowed.routes.update(
            {
                "/feed": serve_bytes(
                    _feed(
                        [
                            allowed.url("/to-metadata"),
                            allowed.url("/to-mapped"),
                            *forbidden.values(),
                        ]
                    ),
                    "application/rss+xml",
                ),
                "/to-metadata": lambda _s: Reply(
                    302, {"Location": to_metadata, "Content-Length": "0"}
                ),
                "/to-mapped": lambda _s: Reply(
                    302, {"Location": "http://[::ffff:169.254.169.254]/", "Content-Length": "0"}
                ),
            }
        )
        registry = {
            "outlets": [
                *(
                    {"id": f"ssrf-{name}", "homepage": url, "feeds": [url]}
                    for name, url in forbidden.items()
                ),
                # an allowed (loopback, allow_private) outlet: its feed and redirects go elsewhere
                {
                    "id": "ssrf-allowed",
                    "homepage": allowed.url("/"),
                    "feeds": ["/feed"],
                    "allow_private": True,
                },
            ]
        }
        settings = _settings(tmp_path, database_url, registry)
        with open_services(settings) as services:
            _fast_fetcher(services)
            report = ingest(services, load_outlets(settings))
            health = {row.url: row for row in services.store.outlet_health()}
            links = {row.url: row for row in _link_rows(services)}
        assert target.requests == [], f"a forbidden address was fetched: {target.paths()}"
    for name, url in forbidden.items():
        row = health[url]
        assert row.last_error_kind == "forbidden-address", (name, row)
    for path in ("/to-metadata", "/to-mapped"):
        row = links[allowed.url(path)]
        assert row.article_id is None
        assert row.last_error_kind == "forbidden-address", (path, row.last_error_kind)
    for url in forbidden.values():  # the same targets listed in an allowed outlet's feed
        if url in links:
            assert links[url].last_error_kind == "forbidden-address", url
    assert set(allowed.paths()) <= {"/robots.txt", "/feed", "/to-metadata", "/to-mapped"}
    kinds = [error.kind for error in report.errors]
    print(
        f"ssrf: {len(forbidden)} registry targets + 2 redirects + {len(forbidden)} feed links; "
        f"kinds {sorted(set(kinds))}"
    )
