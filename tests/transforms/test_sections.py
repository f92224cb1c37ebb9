"""extract_article_links on real outlet pages: same-site article links, by the outlet's pattern."""

from __future__ import annotations

import re
import time

import pytest

from schemas.errors import PermanentError
from schemas.records import SourceKind
from tests.fixtures import SHARED_DATA
from transforms.sections import extract_article_links, same_site

PAGES = SHARED_DATA / "pages"

# (page, the URL it was captured from, the outlet's article URL pattern)
YOMIURI = (
    "ja/yomiuri-co-jp__fundus-yomiurishimbun-2024-12-03.html",
    "https://www.yomiuri.co.jp/world/20241203-OYT1T50218/",
    r"/\d{8}-OYT1T\d+/$",
)
NACHRICHTEN = (
    "de/nachrichten-at__traf-0b96fc66e2c94f45a1b923ec9a31fcf2.html",
    "https://www.nachrichten.at/meine-welt/gesundheit/was-bringen-alternative-therapien-bei-krebs;art114,3177663",
    r";art\d+,\d+$",
)


def _page(name: str) -> bytes:
    path = PAGES / name
    if not path.is_file():
        pytest.fail(f"shared test data missing: {path.resolve()}")
    return path.read_bytes()


@pytest.mark.parametrize(("name", "url", "pattern"), [YOMIURI, NACHRICHTEN])
def test_article_links_match_pattern_and_site(name, url, pattern):
    links = extract_article_links(_page(name), base_url=url, pattern=pattern, outlet_id="o")
    assert len(links) >= 10
    host = re.sub(r"^www\.", "", url.split("/")[2])
    for link in links:
        assert re.search(pattern, link.url)
        assert link.url.split("/")[2].endswith(host)
        assert "#" not in link.url
        assert link.source_kind is SourceKind.SECTION
        assert link.source_url == url
    assert len({link.url for link in links}) == len(links)
    # anchors carry headlines: most links get a real title
    assert sum(bool(link.title and len(link.title) > 8) for link in links) >= 0.8 * len(links)


def test_without_pattern_all_same_site_links_are_kept():
    name, url, pattern = YOMIURI
    everything = extract_article_links(_page(name), base_url=url, pattern=None, outlet_id="o")
    articles = extract_article_links(_page(name), base_url=url, pattern=pattern, outlet_id="o")
    assert len(everything) > 5 * len(articles)
    assert {a.url for a in articles} <= {e.url for e in everything}


def test_relative_links_resolve_against_base_and_base_href():
    html = (
        b"<html><head><base href='https://news.example/politics/'></head><body>"
        b"<a href='2018/09/08/idlib.html'>Idlib: Pentagon warns</a>"
        b"<a href='/2018/09/08/idlib.html#comments'>12 comments</a>"
        b"<a href='https://other.example/2018/09/08/x.html'>elsewhere</a>"
        b"<a href='https://m.news.example/2018/09/09/y.html'>mobile</a>"
        b"<a href='javascript:void(0)'>js</a><a>no href</a></body></html>"
    )
    links = extract_article_links(
        html, base_url="https://news.example/", pattern=r"/\d{4}/\d{2}/\d{2}/", outlet_id="o"
    )
    assert [(link.url, link.title) for link in links] == [
        ("https://news.example/politics/2018/09/08/idlib.html", "Idlib: Pentagon warns"),
        ("https://news.example/2018/09/08/idlib.html", "12 comments"),
        ("https://m.news.example/2018/09/09/y.html", "mobile"),
    ]


def test_legacy_encoded_section_page_titles():
    html = "<html><body><a href='/2018/a.html'>Идлиб: провокация</a></body></html>".encode("cp1251")
    links = extract_article_links(
        html, base_url="https://ria.example/", pattern=None, outlet_id="o", encoding="cp1251"
    )
    assert links[0].title == "Идлиб: провокация"


def test_bad_pattern_and_empty_pages():
    with pytest.raises(PermanentError) as caught:
        extract_article_links(
            b"<a href='/x'>x</a>", base_url="https://a.example/", pattern="(", outlet_id="o"
        )
    assert caught.value.kind == "bad-pattern"
    assert (
        extract_article_links(b"", base_url="https://a.example/", pattern=None, outlet_id="o") == []
    )
    assert (
        extract_article_links(
            b"\x00\x00", base_url="https://a.example/", pattern=None, outlet_id="o"
        )
        == []
    )


@pytest.mark.parametrize(
    ("host", "home", "expected"),
    [
        ("www.example.org", "example.org", True),
        ("example.org", "www.example.org", True),
        ("m.example.org", "www.example.org", True),
        ("news.example.org", "www.example.org", True),
        ("example.org.evil.net", "example.org", False),
        ("notexample.org", "example.org", False),
        ("co.uk", "news.bbc.co.uk", False),
    ],
)
def test_same_site(host, home, expected):
    assert same_site(host, home) is expected


@pytest.mark.parametrize(
    "pattern",
    [r"^https?://[^/]+/(x|x)+\.html$", r"^https?://[^/]+/(x|xx)+\.html$"],
)
def test_a_backtracking_pattern_is_stopped_within_the_page_budget(pattern: str) -> None:
    """Constructed: a section page of 500 attacker links that backtracking patterns (which
    pass the load-time check) cannot match; the page's budget bounds them all together."""
    links = "".join(f'<a href="/{"x" * 40}{n}!">x</a>' for n in range(500))
    html = f"<html><body>{links}</body></html>".encode()
    started = time.monotonic()
    with pytest.raises(PermanentError) as raised:
        extract_article_links(
            html,
            base_url="https://www.example.org/",
            pattern=pattern,
            outlet_id="o",
            pattern_budget=0.5,
        )
    elapsed = time.monotonic() - started
    print(f"pattern {pattern}: stopped after {elapsed:.2f} s (budget 0.5 s)")
    assert raised.value.kind == "pattern-timeout"
    # The regex engine checks its timeout every few thousand steps: measured up to ~3 s late.
    assert elapsed < 5
