"""Property-based fuzzing of every parser that reads outside input: feeds, sitemaps, HTML pages,
URLs, the outlet registry and the taxonomy. Each either returns a well-typed result or raises a
typed `MediamonError` (a `ConfigError` for configuration) - never any other exception.

Inputs are random bytes and text, and real captured documents (the repository copy in
`tests/resources/shared`) mutated (truncated, spliced, bytes flipped, nested, NUL-injected)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.errors import ConfigError, MediamonError
from schemas.records import DiscoveredLink, ExtractedArticle, Outlet, RawPage, SourceKind
from schemas.registry import parse_registry_text
from schemas.taxonomy import Taxonomy, parse_taxonomy_text
from tests.fixtures import SHARED_DATA
from transforms.extraction import extract_article
from transforms.feeds import parse_feed
from transforms.sitemaps import SitemapResult, parse_sitemap
from transforms.urls import canonicalize_url, dedup_key

DATA = SHARED_DATA
if not (DATA / "manifest.json").exists():
    pytest.fail(f"real fixtures missing at {DATA}", pytrace=False)


def _files(folder: str, limit: int = 12) -> list[bytes]:
    paths = sorted((DATA / folder).rglob("*"))
    chosen = [p for p in paths if p.is_file() and p.stat().st_size < 400_000][:limit]
    assert chosen, f"no fixtures in {DATA / folder}"
    return [p.read_bytes() for p in chosen]


FEEDS = _files("feeds")
SITEMAPS = _files("sitemaps")
PAGES = _files("pages", 8)
NOW = datetime(2026, 11, 25, tzinfo=UTC)
FAST = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
SLOWER = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
TRIED: Counter[str] = Counter()
SURVIVED: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _tally() -> Iterator[None]:
    yield
    for name in sorted(TRIED):
        print(f"fuzz {name}: {TRIED[name]} cases tried, {SURVIVED[name]} survived")


def _mutated(corpus: list[bytes]) -> st.SearchStrategy[bytes]:
    """A real document changed the way broken servers and hostile authors change them."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        body = draw(st.sampled_from(corpus))
        for _ in range(draw(st.integers(0, 4))):
            action = draw(
                st.sampled_from(["truncate", "insert", "flip", "splice", "nest", "nul", "entity"])
            )
            at = draw(st.integers(0, max(len(body) - 1, 0)))
            if action == "truncate":
                body = body[:at]
            elif action == "insert":
                body = body[:at] + draw(st.binary(max_size=64)) + body[at:]
            elif action == "flip" and body:
                body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
            elif action == "splice":
                other = draw(st.sampled_from(corpus))
                body = body[:at] + other[draw(st.integers(0, max(len(other) - 1, 0))) :]
            elif action == "nest":
                depth = draw(st.integers(1, 3000))
                body = (
                    body[:at] + b"<a>" * depth + b"</a>" * draw(st.integers(0, depth)) + body[at:]
                )
            elif action == "nul":
                body = body[:at] + b"\x00" * draw(st.integers(1, 16)) + body[at:]
            elif action == "entity":
                doctype = (
                    b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x SYSTEM "file:///etc/passwd">]>'
                )
                body = doctype + body.replace(b"<title>", b"<title>&c;&x;", 1)
        return body

    return build()


def _bytes(corpus: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(_mutated(corpus), st.binary(max_size=2048))


NUL_IN_ENCODING = (  # found by this fuzzer: feedparser raised ValueError on the encoding name
    b'<?xml version="1.0" encoding="\x00gb2312" ?>\n<rss version="2.0"><channel><title>t</title>'
    b"<item><title>x</title><link>https://x.org/a</link></item></channel></rss>"
)


@FAST
@example(body=NUL_IN_ENCODING, content_type=None)
@given(
    body=_bytes(FEEDS),
    content_type=st.sampled_from(
        [None, "application/rss+xml", "text/html", "text/plain; charset=latin-1"]
    ),
)
def test_parse_feed_returns_links_or_a_typed_error(body: bytes, content_type: str | None) -> None:
    TRIED["feeds"] += 1
    try:
        links = parse_feed(
            body, outlet_id="fuzz", source_url="https://example.org/feed", content_type=content_type
        )
    except MediamonError:
        pass
    else:
        assert all(isinstance(link, DiscoveredLink) for link in links)
        assert all(
            "passwd" not in (link.title or "") and "root:" not in (link.title or "")
            for link in links
        )
    SURVIVED["feeds"] += 1


UNDECLARED_PREFIX = (  # found by this fuzzer: lxml keeps "news:news" verbatim, QName raised
    b'<?xml version="1.0"?><urlset><url urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    b' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://x.org/a</loc>'
    b"<news:news><news:title>T</news:title></news:news></url></url></urlset>"
)


@FAST
@given(body=_bytes(SITEMAPS))
@example(body=UNDECLARED_PREFIX)
def test_parse_sitemap_returns_entries_or_a_typed_error(body: bytes) -> None:
    TRIED["sitemaps"] += 1
    try:
        result = parse_sitemap(body, outlet_id="fuzz", source_url="https://example.org/sitemap.xml")
    except MediamonError:
        pass
    else:
        assert isinstance(result, SitemapResult)
    SURVIVED["sitemaps"] += 1


@SLOWER
@given(
    body=_bytes(PAGES),
    content_type=st.sampled_from(
        [
            "text/html",
            "text/html; charset=utf-8",
            "application/xhtml+xml",
            "text/plain",
            "image/png",
        ]
    ),
)
def test_extract_article_returns_an_article_or_a_typed_error(
    body: bytes, content_type: str
) -> None:
    TRIED["extraction"] += 1
    page = RawPage(
        requested_url="https://example.org/news/1",
        final_url="https://example.org/news/1",
        status=200,
        headers=(("content-type", content_type),),
        body=body,
        fetched_at=NOW,
    )
    link = DiscoveredLink(
        outlet_id="fuzz",
        url=page.final_url,
        source_kind=SourceKind.FEED,
        source_url="https://example.org/feed",
    )
    try:
        article = extract_article(page, link, now=NOW)
    except MediamonError:
        pass
    else:
        assert isinstance(article, ExtractedArticle)
        assert "root:x:0:0" not in article.text  # no external entity was ever resolved
    SURVIVED["extraction"] += 1


_HOSTS = st.sampled_from(
    [
        "example.org",
        "EXAMPLE.org.",
        "xn--bcher-kva.example",
        "bücher.example",
        "127.0.0.1",
        "[::1]",
        "[::ffff:10.0.0.1]",
        "0x7f.1",
        "2130706433",
        "a..b",
        "",
        "[",
        "[zz]",
        "host:99999",
        "host:-1",
        "user:pw@host",
        "%00",
        "www.m.amp.example.org",
    ]
)
_URLS = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda scheme, host, path, query, fragment: f"{scheme}://{host}{path}{query}{fragment}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "javascript", ""]),
        _HOSTS,
        st.text(alphabet=st.characters(codec="utf-8"), max_size=40).map(lambda s: "/" + s),
        st.sampled_from(["", "?utm_source=x&b=2&a=1", "?", "?a=%zz", "?sid=1&&", "?x=" + "%" * 5]),
        st.sampled_from(["", "#top", "#", "#%"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(url=_URLS)
@example(url="A://[")  # found by this fuzzer: urlsplit raised ValueError
@example(url="http://x.org:99999/")  # port out of range: .port raised ValueError
@example(url="HTTP://0/\x0c#")  # found by this fuzzer: not idempotent (trailing form feed)
def test_canonicalize_url_is_idempotent_and_dedup_key_stable(url: str) -> None:
    TRIED["urls"] += 1
    try:
        canonical = canonicalize_url(url)
    except MediamonError:
        SURVIVED["urls"] += 1
        return
    assert canonicalize_url(canonical) == canonical
    key = dedup_key(url)
    assert dedup_key(canonical) == key
    assert dedup_key(url) == key
    SURVIVED["urls"] += 1


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
_YAML_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
REPO = Path(__file__).resolve().parents[2]
REAL_REGISTRY = yaml.safe_load((REPO / "config" / "outlets.yaml").read_text(encoding="utf-8"))
REAL_TAXONOMY = yaml.safe_load((REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for number, value in enumerate(node[:6]):
            found += _paths(value, (*prefix, number))
    return found


@st.composite
def _mutated_yaml(draw: st.DrawFn, real: object) -> str:
    """The real document with a few values replaced by random YAML values or removed."""
    import copy

    document = copy.deepcopy(real)
    paths = _paths(document)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]  # type: ignore[index]
            if draw(st.booleans()):
                parent[path[-1]] = draw(_YAML_VALUES)  # type: ignore[index]
            else:
                del parent[path[-1]]  # type: ignore[attr-defined]
        except (KeyError, IndexError, TypeError):
            continue
    return yaml.safe_dump(document, allow_unicode=True)


_OUTLET_KEYS = [
    "id",
    "name",
    "homepage",
    "languages",
    "feeds",
    "sitemaps",
    "sections",
    "enabled",
    "allow_private",
    "requests_per_second",
    "country",
    "tags",
]


@st.composite
def _registry_documents(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.text(max_size=300))
    if kind == 1:
        return yaml.safe_dump(draw(_YAML_VALUES))
    if kind == 2:
        return draw(_mutated_yaml(REAL_REGISTRY))
    outlets = draw(
        st.lists(
            st.dictionaries(st.sampled_from(_OUTLET_KEYS), _YAML_VALUES, max_size=6), max_size=4
        )
    )
    return yaml.safe_dump({"outlets": outlets}, allow_unicode=True)


@FAST
@given(text=_registry_documents())
def test_registry_loader_returns_outlets_or_a_config_error(text: str) -> None:
    TRIED["registry"] += 1
    try:
        outlets = parse_registry_text(text, source="fuzz.yaml")
    except ConfigError as error:
        message = str(error)
        assert "fuzz.yaml" in message
    else:
        assert all(isinstance(outlet, Outlet) for outlet in outlets)
    SURVIVED["registry"] += 1


_TAXONOMY_KEYS = [
    "topics",
    "id",
    "label",
    "terms",
    "languages",
    "parent",
    "weight",
    "exclude",
    "description",
]


@st.composite
def _taxonomy_documents(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.text(max_size=300))
    if kind == 1:
        return yaml.safe_dump(draw(_YAML_VALUES))
    if kind == 2:
        return draw(_mutated_yaml(REAL_TAXONOMY))
    topics = draw(
        st.lists(
            st.dictionaries(st.sampled_from(_TAXONOMY_KEYS), _YAML_VALUES, max_size=6), max_size=4
        )
    )
    return yaml.safe_dump({"topics": topics}, allow_unicode=True)


@FAST
@given(text=_taxonomy_documents())
def test_taxonomy_loader_returns_a_taxonomy_or_a_config_error(text: str) -> None:
    TRIED["taxonomy"] += 1
    try:
        taxonomy = parse_taxonomy_text(text, source="fuzz.yaml")
    except ConfigError:
        pass
    else:
        assert isinstance(taxonomy, Taxonomy)
    SURVIVED["taxonomy"] += 1
