"""parse_sitemap on real sitemaps (news, plain, gzip, malformed) and on hostile XML."""

from __future__ import annotations

import gzip
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from schemas.errors import PermanentError
from schemas.records import DiscoveredLink, SourceKind
from tests.fixtures import SHARED_DATA
from transforms.sitemaps import parse_sitemap, parse_w3c_datetime

SITEMAPS = SHARED_DATA / "sitemaps"
SOURCE = "https://www.example.org/sitemap.xml"


def _read(name: str) -> bytes:
    path = SITEMAPS / name
    if not path.is_file():
        pytest.fail(f"shared test data missing: {path.resolve()}")
    return path.read_bytes()


def test_news_sitemap_gives_titles_languages_and_publication_dates():
    result = parse_sitemap(
        _read("nytimes-com__advertools-news_sitemap.xml"), outlet_id="nyt", source_url=SOURCE
    )
    assert not result.is_index
    assert len(result.entries) == 6
    first = result.entries[0]
    assert first.link.url == (
        "https://www.nytimes.com/interactive/2020/05/11/magazine/quarantine-insanity.html"
    )  # the <loc> had trailing whitespace
    assert first.link.title == (
        "Quarantine Was Driving Me Crazy — So I Decided to Lose My Mind on Purpose"
    )
    assert first.link.language == "en-US"
    assert first.link.published_at == datetime(2020, 5, 11, 9, 0, 1, tzinfo=UTC)
    assert first.lastmod == datetime(2020, 5, 19, 21, 57, 45, tzinfo=UTC)
    assert first.date == first.link.published_at
    assert first.link.source_kind is SourceKind.SITEMAP
    assert first.link.outlet_id == "nyt"


def test_plain_and_gzipped_sitemap_agree():
    plain = parse_sitemap(
        _read("sitemaps-org__trafilatura-sitemap.xml"), outlet_id="o", source_url=SOURCE
    )
    packed = parse_sitemap(
        _read("sitemaps-org__trafilatura-sitemap.xml.gz"), outlet_id="o", source_url=SOURCE
    )
    assert plain.links == packed.links
    assert len(plain.entries) == 84
    assert len({link.url for link in plain.links}) == 84
    assert plain.entries[0].lastmod == datetime(2016, 11, 21, tzinfo=UTC)


def test_video_sitemap_urls_are_read():
    result = parse_sitemap(
        _read("washingtonpost-com__advertools-video_sitemap.xml"), outlet_id="o", source_url=SOURCE
    )
    assert len(result.entries) == 6
    assert all(e.link.url.startswith("https://www.washingtonpost.com/") for e in result.entries)


def test_malformed_sitemap_is_a_typed_error():
    with pytest.raises(PermanentError) as caught:
        parse_sitemap(
            _read("synthetic__advertools-error_sitemap.xml"), outlet_id="o", source_url=SOURCE
        )
    assert caught.value.kind == "malformed-sitemap"


def test_truncated_sitemap_keeps_the_complete_entries():
    body = _read("nytimes-com__advertools-news_sitemap.xml")
    cut = body[: body.index(b"</url>", body.index(b"</url>") + 1) + 40]  # two entries and a bit
    result = parse_sitemap(cut, outlet_id="o", source_url=SOURCE)
    assert len(result.entries) >= 2


def test_sitemap_index_lists_children_with_lastmod():
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://www.example.org/news-2018-09.xml</loc>"
        b"<lastmod>2018-09-30T12:00:00+02:00</lastmod></sitemap>"
        b"<sitemap><loc>/news-2018-10.xml.gz</loc></sitemap>"
        b"<sitemap><loc>https://www.example.org/news-2018-09.xml</loc></sitemap>"
        b"</sitemapindex>"
    )
    result = parse_sitemap(body, outlet_id="o", source_url=SOURCE)
    assert result.is_index
    assert [c.url for c in result.children] == [
        "https://www.example.org/news-2018-09.xml",
        "https://www.example.org/news-2018-10.xml.gz",
    ]
    assert result.children[0].lastmod == datetime(2018, 9, 30, 10, 0, tzinfo=UTC)


def test_text_sitemap_and_rubbish():
    text = b"https://www.example.org/a\n\nhttps://www.example.org/b\nhttps://www.example.org/a\n"
    result = parse_sitemap(text, outlet_id="o", source_url=SOURCE)
    assert [link.url for link in result.links] == [
        "https://www.example.org/a",
        "https://www.example.org/b",
    ]
    with pytest.raises(PermanentError) as caught:
        parse_sitemap(b"hello, this is not a sitemap", outlet_id="o", source_url=SOURCE)
    assert caught.value.kind == "malformed-sitemap"
    with pytest.raises(PermanentError) as html:
        parse_sitemap(b"<html><body>404</body></html>", outlet_id="o", source_url=SOURCE)
    assert html.value.kind == "malformed-sitemap"


def test_non_http_locations_are_dropped():
    body = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>javascript:alert(1)</loc></url><url><loc>ftp://x.example/a</loc></url>"
        b"<url><loc>https://www.example.org/ok</loc></url></urlset>"
    )
    result = parse_sitemap(body, outlet_id="o", source_url=SOURCE)
    assert [link.url for link in result.links] == ["https://www.example.org/ok"]


def test_entity_bomb_and_external_entity_are_not_expanded():
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE urlset [\n<!ENTITY a "aaaaaaaaaa">\n'
        + b"".join(
            b'<!ENTITY a%d "%s">\n' % (i, (b"&a%d;" % (i - 1) if i > 1 else b"&a;") * 10)
            for i in range(1, 10)
        )
        + b']>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://www.example.org/&a9;</loc></url></urlset>"
    )
    tracemalloc.start()
    started = time.monotonic()
    links: tuple[DiscoveredLink, ...] = ()
    kind = "ok"
    try:
        # libxml2's incremental parser stops at the amplification limit (a typed error); either
        # way nothing is expanded.
        links = parse_sitemap(bomb, outlet_id="o", source_url=SOURCE).links
    except PermanentError as error:
        kind = error.kind
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 10 * 1024 * 1024
    assert kind in ("ok", "malformed-sitemap")
    assert all(len(link.url) < 200 for link in links)
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://www.example.org/&x;</loc></url></urlset>"
    )
    result = parse_sitemap(xxe, outlet_id="o", source_url=SOURCE)
    assert all("root" not in link.url for link in result.links)


def test_gzip_bomb_sitemap_is_refused():
    bomb = gzip.compress(b" " * (30 * 1024 * 1024))
    with pytest.raises(PermanentError) as caught:
        parse_sitemap(bomb, outlet_id="o", source_url=SOURCE, max_bytes=4 * 1024 * 1024)
    assert caught.value.kind == "decompression-bomb"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-09-08", datetime(2018, 9, 8, tzinfo=UTC)),
        ("2018-09", datetime(2018, 9, 1, tzinfo=UTC)),
        ("2018-09-08T14:03+03:00", datetime(2018, 9, 8, 11, 3, tzinfo=UTC)),
        ("2018-09-08T14:03:27.25Z", datetime(2018, 9, 8, 14, 3, 27, 250000, tzinfo=UTC)),
        ("2018-09-08T14:03:27-0500", datetime(2018, 9, 8, 19, 3, 27, tzinfo=UTC)),
        ("2018-09-08 14:03:27", datetime(2018, 9, 8, 14, 3, 27, tzinfo=UTC)),
        ("yesterday", None),
        ("2018-13-45", None),
        ("", None),
    ],
)
def test_w3c_datetimes(value, expected):
    parsed = parse_w3c_datetime(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)
        assert parsed.tzinfo in (UTC, UTC)
