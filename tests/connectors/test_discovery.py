"""discover_outlet against a local outlet serving real feeds, sitemaps and a section page."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.discovery import DateRange, DiscoverySettings, discover_outlet
from connectors.http import Fetcher
from schemas.records import Outlet, SourceKind
from tests.connectors.conftest import fast_settings
from tests.localserver import LocalServer, Reply, Seen, serve_bytes, serve_status
from transforms.sitemaps import parse_sitemap

ARTICLE_PATTERN = r"/\d{8}-OYT1T\d+/$"


def _index(*children: tuple[str, str | None]) -> bytes:
    """A sitemap index listing `children` (path, lastmod) — the index is our construct."""
    items = "".join(
        f"<sitemap><loc>{path}</loc>"
        + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
        + "</sitemap>"
        for path, lastmod in children
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    ).encode()


def _conditional(body: bytes, content_type: str, etag: str):
    def route(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == etag:
            return Reply(304, {"ETag": etag})
        return Reply(200, {"Content-Type": content_type, "ETag": etag}, body)

    return route


@pytest.fixture
def outlet_server(serve, data_dir: Path) -> LocalServer:
    feeds, sitemaps, pages = data_dir / "feeds", data_dir / "sitemaps", data_dir / "pages"
    guardian = (feeds / "theguardian-com__rss-parser-guardian.xml").read_bytes()
    return serve(
        {
            "/robots.txt": serve_bytes(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
            "/rss/world": _conditional(guardian, "application/rss+xml", '"w1"'),
            "/rss/ru": serve_bytes(
                (feeds / "aviaport-ru__chardet-koi8-r.xml").read_bytes(), "text/xml"
            ),
            "/rss/broken": serve_bytes(
                (feeds / "example-com__node-feedparser-notafeed.html").read_bytes(), "text/html"
            ),
            "/rss/down": serve_status(500),
            "/private/rss": serve_bytes(guardian, "application/rss+xml"),
            "/sitemap-index.xml": serve_bytes(
                _index(
                    ("/news-sitemap.xml", "2020-05-19T22:00:00Z"),
                    ("/sitemap.xml.gz", "2016-11-21"),
                    ("/nested-index.xml", None),
                    ("/missing.xml", None),
                ),
                "application/xml",
            ),
            "/nested-index.xml": serve_bytes(_index(("/video.xml", None)), "application/xml"),
            "/news-sitemap.xml": serve_bytes(
                (sitemaps / "nytimes-com__advertools-news_sitemap.xml").read_bytes(), "text/xml"
            ),
            "/sitemap.xml.gz": serve_bytes(
                (sitemaps / "sitemaps-org__trafilatura-sitemap.xml.gz").read_bytes(),
                "application/x-gzip",
            ),
            "/video.xml": serve_bytes(
                (sitemaps / "washingtonpost-com__advertools-video_sitemap.xml").read_bytes(),
                "text/xml",
            ),
            "/world/": serve_bytes(
                (
                    pages / "ja" / "yomiuri-co-jp__fundus-yomiurishimbun-2024-12-03.html"
                ).read_bytes(),
                "text/html; charset=utf-8",
            ),
        }
    )


def _outlet(server: LocalServer, **overrides: object) -> Outlet:
    values: dict[str, object] = {
        "id": "local",
        "name": "Local outlet",
        "homepage": server.url("/"),
        "feeds": (
            server.url("/rss/world"),
            server.url("/rss/ru"),
            server.url("/rss/broken"),
            server.url("/rss/down"),
            server.url("/private/rss"),
        ),
        "sitemaps": (server.url("/sitemap-index.xml"),),
        "sections": (server.url("/world/"),),
        "article_url_pattern": ARTICLE_PATTERN,
        "allow_private": True,
    }
    values.update(overrides)
    return Outlet(**values)  # type: ignore[arg-type]


def _no_wait_fetcher() -> Fetcher:
    return Fetcher(fast_settings(allowed_private_networks=(), retries=1), sleep=lambda _s: None)


def test_all_sources_contribute_and_broken_ones_are_recorded(outlet_server):
    with _no_wait_fetcher() as fetcher:
        result = discover_outlet(_outlet(outlet_server), fetcher)
    by_url = {source.url.removeprefix(outlet_server.url("")): source for source in result.sources}
    assert by_url["/rss/world"].link_count == 55
    assert by_url["/rss/world"].etag == '"w1"'
    assert by_url["/rss/ru"].link_count == 30
    assert by_url["/rss/broken"].error.kind == "not-a-feed"
    assert by_url["/rss/down"].error.kind == "http-5xx"
    assert by_url["/private/rss"].error.kind == "robots-disallowed"
    assert by_url["/news-sitemap.xml"].link_count == 6
    assert by_url["/sitemap.xml.gz"].link_count == 84
    assert by_url["/video.xml"].link_count == 6  # reached through the nested index
    assert by_url["/missing.xml"].error.kind == "http-4xx"
    assert by_url["/world/"].link_count >= 10
    assert {s.kind for s in result.sources} == {
        SourceKind.FEED,
        SourceKind.SITEMAP,
        SourceKind.SECTION,
    }
    # links: deduplicated across every source
    urls = [link.url for link in result.links]
    assert len(urls) == len(set(urls))
    assert len(urls) == 55 + 30 + 6 + 84 + 6 + by_url["/world/"].link_count
    section_links = [link for link in result.links if link.source_kind is SourceKind.SECTION]
    assert all(link.url.startswith(outlet_server.url("/")) for link in section_links)
    assert result.validators == {outlet_server.url("/rss/world"): ('"w1"', None)}


def test_conditional_get_on_second_run(outlet_server):
    outlet = _outlet(outlet_server, sitemaps=(), sections=())
    with _no_wait_fetcher() as fetcher:
        first = discover_outlet(outlet, fetcher)
        second = discover_outlet(outlet, fetcher, feed_state=first.validators)
    world = next(s for s in second.sources if s.url.endswith("/rss/world"))
    assert world.not_modified
    assert world.link_count == 0
    assert world.etag == '"w1"'  # kept for the run after
    assert not any(link.source_url.endswith("/rss/world") for link in second.links)
    assert any(link.source_url.endswith("/rss/ru") for link in second.links)


def test_backfill_date_range_filters_links_and_stale_children(outlet_server, data_dir):
    outlet = _outlet(outlet_server, feeds=(outlet_server.url("/rss/world"),))
    window = DateRange(datetime(2020, 5, 1, tzinfo=UTC), datetime(2020, 5, 12, tzinfo=UTC))
    with _no_wait_fetcher() as fetcher:
        result = discover_outlet(outlet, fetcher, feed_state={"x": ("y", None)}, date_range=window)
    paths = [s.url.removeprefix(outlet_server.url("")) for s in result.sources]
    assert "/sitemap.xml.gz" not in paths  # last modified in 2016: skipped without fetching
    assert "/sitemap.xml.gz" not in outlet_server.paths()
    assert "/world/" not in paths  # section pages carry no dates
    # The expected links, straight from the parsed documents: news date, else lastmod, in range.
    expected = set()
    for name in (
        "nytimes-com__advertools-news_sitemap.xml",
        "washingtonpost-com__advertools-video_sitemap.xml",
    ):
        parsed = parse_sitemap(
            (data_dir / "sitemaps" / name).read_bytes(), outlet_id="o", source_url="https://x/"
        )
        expected |= {e.link.url for e in parsed.entries if e.date and e.date in window}
    assert expected
    assert {link.url for link in result.links} == expected
    for link in result.links:
        assert link.published_at is None or link.published_at in window
    conditional = [s for s in outlet_server.requests if "if-none-match" in s.headers]
    assert conditional == []  # backfill never sends validators


def test_sitemap_bounds_are_respected(outlet_server):
    outlet = _outlet(outlet_server, feeds=(), sections=())
    with _no_wait_fetcher() as fetcher:
        shallow = discover_outlet(outlet, fetcher, settings=DiscoverySettings(max_sitemap_depth=1))
        few = discover_outlet(outlet, fetcher, settings=DiscoverySettings(max_sitemaps=2))
    assert not any(s.url.endswith("/video.xml") for s in shallow.sources)
    assert len(few.sources) == 2


def test_unreachable_outlet_fails_each_source_not_the_call(serve):
    dead = serve({})
    port = dead.port
    dead.stop()
    outlet = Outlet(
        id="dead",
        name="Dead",
        homepage=f"http://127.0.0.1:{port}/",
        feeds=(f"http://127.0.0.1:{port}/rss",),
        sitemaps=(f"http://127.0.0.1:{port}/sitemap.xml",),
        sections=(f"http://127.0.0.1:{port}/",),
        allow_private=True,
    )
    with _no_wait_fetcher() as fetcher:
        result = discover_outlet(outlet, fetcher)
    assert result.links == ()
    assert [s.error.kind for s in result.sources] == ["connection"] * 3


def test_private_outlet_needs_its_allow_private_flag(outlet_server):
    outlet = _outlet(outlet_server, allow_private=False, sitemaps=(), sections=())
    with _no_wait_fetcher() as fetcher:
        result = discover_outlet(outlet, fetcher)
    assert {s.error.kind for s in result.sources} == {"forbidden-address"}
    assert outlet_server.requests == []


_FEED_TYPES = {".atom": "application/atom+xml", ".html": "text/html", ".gz": "application/x-gzip"}
_NOT_FEEDS = {
    "example-com__node-feedparser-notafeed.html": "not-a-feed",
    "reuters-com__feed-rs-rss_2.0_invalid_1.xml": "malformed-feed",
}


def test_every_real_feed_through_server_fetcher_and_parser(serve, data_dir):
    files = sorted((data_dir / "feeds").iterdir())
    routes = {"/robots.txt": serve_bytes(b"User-agent: *\nAllow: /\n", "text/plain")}
    for path in files:
        routes[f"/feeds/{path.name}"] = serve_bytes(
            path.read_bytes(), _FEED_TYPES.get(path.suffix, "text/xml")
        )
    server = serve(routes)
    outlet = Outlet(
        id="all-feeds",
        name="All feeds",
        homepage=server.url("/"),
        feeds=tuple(server.url(f"/feeds/{path.name}") for path in files),
        allow_private=True,
    )
    with _no_wait_fetcher() as fetcher:
        result = discover_outlet(outlet, fetcher)
    assert len(result.sources) == len(files) == 31
    for path, source in zip(files, result.sources, strict=True):
        if path.name in _NOT_FEEDS:
            assert source.error is not None
            assert source.error.kind == _NOT_FEEDS[path.name]
        else:
            assert source.error is None, (path.name, source.error)
            assert source.link_count > 0, path.name


def test_outlet_request_rate_from_the_registry_is_applied(outlet_server):
    outlet = _outlet(
        outlet_server,
        feeds=(outlet_server.url("/rss/world"), outlet_server.url("/rss/ru")),
        sitemaps=(),
        sections=(outlet_server.url("/world/"),),
        requests_per_second=4.0,
    )
    with _no_wait_fetcher() as fetcher:  # its own default is 200 requests/s
        discover_outlet(outlet, fetcher)
    arrivals = [seen.at for seen in outlet_server.requests]
    assert len(arrivals) == 4  # robots.txt, two feeds, one section
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.2  # 0.25 s asked
