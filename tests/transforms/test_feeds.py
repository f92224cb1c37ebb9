"""parse_feed on every real captured feed, against other parsers' ground truth, and on attacks."""

from __future__ import annotations

import gzip
import json
import re
import time
import tracemalloc
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.errors import PermanentError
from schemas.records import SourceKind
from tests.fixtures import SHARED_DATA
from transforms.feeds import decompress_gzip_bounded, parse_feed, parse_localized_rfc822

DATA = SHARED_DATA
FEEDS = DATA / "feeds"
SOURCE = "https://feeds.example/rss"

# Fixtures that are not (usable) feeds, and the typed error each must end in.
BROKEN = {
    "example-com__node-feedparser-notafeed.html": "not-a-feed",
    "reuters-com__feed-rs-rss_2.0_invalid_1.xml": "malformed-feed",
}
# Script each legacy-encoded feed is written in: decoding right means titles in that script.
LEGACY_SCRIPTS = {
    "acnnewswire-net__chardet-gb2312.xml": "CJK",
    "aif-ru__chardet-windows-1251-russian.xml": "CYRILLIC",
    "aviaport-ru__chardet-koi8-r.xml": "CYRILLIC",
    "bbc-co-uk__chardet-windows-1251-bulgarian.xml": "CYRILLIC",
    "newsru-com__chardet-koi8-r.xml": "CYRILLIC",
    "newsru-com__chardet-windows-1251-russian.xml": "CYRILLIC",
    "oren-ru__node-feedparser-iconv.xml": "CYRILLIC",
    "naftemporiki-gr__chardet-iso-8859-7-greek.xml": "GREEK",
    "whatsup-org-il__chardet-windows-1255-hebrew.xml": "HEBREW",
}
# Latin-script legacy feeds: accented letters that only a right decoding produces.
LEGACY_LATIN = {
    "hirtv-hu__chardet-iso-8859-2-hungarian.xml": "őűáéíóúö",
    "dicas-l-com-br__feed-rs-rss_0.91_encoding_1.xml": "ãçéâêõ",
    "inovacaotecnologica-com-br__feed-rs-rss_2.0_encoding_1.xml": "ãçéâêõ",
    "jn-pt__rss-parser-encoding.xml": "ãçéâêõ",
    "noticias-uol-com-br__rss-parser-uolNoticias.xml": "ãçéâêõº",
    "unknown__feed-rs-rss_1.0_iso8859.xml": "äöüß",
}


def _feed_files() -> list[Path]:
    if not FEEDS.is_dir():
        pytest.fail(f"shared test data missing at {FEEDS.resolve()}")
    return sorted(FEEDS.iterdir())


def _script_share(texts: list[str], script: str) -> float:
    letters = [ch for text in texts for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(script in unicodedata.name(ch, "") for ch in letters) / len(letters)


@pytest.mark.parametrize("path", _feed_files(), ids=lambda p: p.name)
def test_every_real_feed_gives_links_or_a_typed_error(path):
    if path.name in BROKEN:
        with pytest.raises(PermanentError) as caught:
            parse_feed(path.read_bytes(), outlet_id="o", source_url=SOURCE)
        assert caught.value.kind == BROKEN[path.name]
        assert SOURCE in caught.value.message
        return
    links = parse_feed(path.read_bytes(), outlet_id="o", source_url=SOURCE)
    assert links, path.name
    urls = [link.url for link in links]
    assert len(urls) == len(set(urls))
    for link in links:
        assert link.url.startswith(("http://", "https://"))
        assert link.outlet_id == "o"
        assert link.source_kind is SourceKind.FEED
        assert link.source_url == SOURCE
        assert link.published_at is None or link.published_at.utcoffset().total_seconds() == 0
        for text in (link.title, link.summary, link.author):
            assert text is None or "\ufffd" not in text, (path.name, text)


@pytest.mark.parametrize(("name", "script"), sorted(LEGACY_SCRIPTS.items()))
def test_legacy_encoded_feeds_decode_to_their_script(name, script):
    links = parse_feed((FEEDS / name).read_bytes(), outlet_id="o", source_url=SOURCE)
    titles = [link.title or "" for link in links]
    assert _script_share(titles, script) > 0.5, titles[:3]


@pytest.mark.parametrize(("name", "letters"), sorted(LEGACY_LATIN.items()))
def test_legacy_latin_feeds_keep_their_accents(name, letters):
    links = parse_feed((FEEDS / name).read_bytes(), outlet_id="o", source_url=SOURCE)
    text = " ".join(f"{link.title} {link.summary}" for link in links)
    assert any(letter in text for letter in letters)
    assert not re.search("Ã[\u0080-\u00bf]|Å[\u0080-\u00bf]", text), "UTF-8 read as Latin-1"


def test_same_capture_in_koi8r_and_windows1251_parses_identically():
    koi8 = parse_feed(
        (FEEDS / "newsru-com__chardet-koi8-r.xml").read_bytes(), outlet_id="o", source_url=SOURCE
    )
    cp1251 = parse_feed(
        (FEEDS / "newsru-com__chardet-windows-1251-russian.xml").read_bytes(),
        outlet_id="o",
        source_url=SOURCE,
    )
    assert [(a.url, a.title) for a in koi8] == [(b.url, b.title) for b in cp1251]


def _rss_parser_items(stem: str) -> list[dict[str, str]]:
    raw = (DATA / "expected" / "feeds" / f"{stem}.rss-parser.json").read_bytes()
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:  # one expected file was saved in Latin-1 by its producer
        document = json.loads(raw.decode("latin-1"))
    return list(document.get("feed", document)["items"])


@pytest.mark.parametrize(
    "name",
    [
        "feedburner-com__rss-parser-feedburner.atom",
        "heise-de__rss-parser-heise.atom",
        "jn-pt__rss-parser-encoding.xml",
        "theguardian-com__rss-parser-guardian.xml",
    ],
)
def test_links_titles_and_dates_agree_with_rss_parser_ground_truth(name):
    expected = _rss_parser_items(name.rsplit(".", 1)[0])
    links = parse_feed((FEEDS / name).read_bytes(), outlet_id="o", source_url=SOURCE)
    assert [item["link"] for item in expected] == [link.url for link in links]
    assert [" ".join(item["title"].split()) for item in expected] == [link.title for link in links]
    for item, link in zip(expected, links, strict=True):
        expected_time = datetime.fromisoformat(item["isoDate"].replace("Z", "+00:00"))
        # feedparser keeps whole seconds; rss-parser keeps milliseconds
        assert link.published_at == expected_time.astimezone(UTC).replace(microsecond=0)


def test_uol_feed_without_declaration_is_decoded_where_rss_parser_failed():
    # rss-parser's own output for this feed is mojibake (U+FFFD); the links still agree.
    expected = _rss_parser_items("noticias-uol-com-br__rss-parser-uolNoticias")
    links = parse_feed(
        (FEEDS / "noticias-uol-com-br__rss-parser-uolNoticias.xml").read_bytes(),
        outlet_id="o",
        source_url=SOURCE,
    )
    assert [item["link"] for item in expected] == [link.url for link in links]
    assert (
        links[0].title
        == "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno"
    )


def test_entry_metadata_is_kept():
    links = parse_feed(
        (FEEDS / "theguardian-com__rss-parser-guardian.xml").read_bytes(),
        outlet_id="guardian",
        source_url=SOURCE,
    )
    first = links[0]
    assert first.author == "David Smith in Washington"
    assert first.language == "en-gb"
    assert first.published_at == datetime(2018, 1, 31, 7, 26, 5, tzinfo=UTC)
    assert first.summary is not None
    assert "<" not in first.summary  # plain text, tags stripped


def test_duplicate_guids_give_one_link():
    links = parse_feed(
        (FEEDS / "braingle-com__node-feedparser-guid-dupes.xml").read_bytes(),
        outlet_id="o",
        source_url=SOURCE,
    )
    assert [link.url for link in links] == ["http://www.braingle.com/50366.html"]


def test_recoverable_sax_error_keeps_the_good_entries():
    links = parse_feed(
        (FEEDS / "example-com__node-feedparser-saxerror.xml").read_bytes(),
        outlet_id="o",
        source_url=SOURCE,
    )
    assert "Good Item" in [link.title for link in links]


def test_gzipped_feed_body_is_inflated():
    body = (FEEDS / "unknown__node-feedparser-invalid-characters-gzipped.xml.gz").read_bytes()
    links = parse_feed(body, outlet_id="o", source_url=SOURCE)
    assert links[0].url == "http://nshipster.com/nsoperation/"


def test_atom_relative_links_resolve_against_the_feed_url():
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>t</title><entry><title>A</title><link href='/2018/09/08/idlib'/>"
        b"<id>urn:a</id><updated>2018-09-08T10:00:00+03:00</updated></entry></feed>"
    )
    links = parse_feed(body, outlet_id="o", source_url="https://fr.sputniknews.example/feed")
    assert links[0].url == "https://fr.sputniknews.example/2018/09/08/idlib"
    assert links[0].published_at == datetime(2018, 9, 8, 7, 0, tzinfo=UTC)


def test_html_page_served_as_feed_is_not_a_feed():
    page = (DATA / "pages" / "en").glob("*.html").__next__().read_bytes()
    with pytest.raises(PermanentError) as caught:
        parse_feed(page, outlet_id="o", source_url=SOURCE, content_type="text/html")
    assert caught.value.kind == "not-a-feed"


@pytest.mark.parametrize("body", [b"", b"   \n", b"just some text, no markup", b"\x00\x01\x02"])
def test_non_xml_bodies_are_not_feeds(body):
    with pytest.raises(PermanentError) as caught:
        parse_feed(body, outlet_id="o", source_url=SOURCE)
    assert caught.value.kind == "not-a-feed"


def test_empty_but_valid_feed_is_an_empty_result():
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    assert parse_feed(body, outlet_id="o", source_url=SOURCE) == []


# --- attacks (generated payloads: these are not outlet pages) -----------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
    + b"".join(
        b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<rss version="2.0"><channel><title>t</title>'
    b"<item><title>&lol9;</title><link>http://a.example/x</link></item></channel></rss>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<rss version="2.0"><channel><title>t</title>'
    b"<item><title>a&xxe;b</title><link>http://a.example/x</link></item></channel></rss>"
)


def test_entity_bomb_is_not_expanded():
    tracemalloc.start()
    started = time.monotonic()
    try:
        links = parse_feed(BILLION_LAUGHS, outlet_id="o", source_url=SOURCE)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 10 * 1024 * 1024  # expanded, the title alone would be 3 GB
    assert len(links[0].title or "") < 100


def test_external_entity_is_not_resolved():
    links = parse_feed(EXTERNAL_ENTITY, outlet_id="o", source_url=SOURCE)
    assert "root:" not in (links[0].title or "")


def test_gzip_bomb_feed_is_refused():
    bomb = gzip.compress(b" " * (40 * 1024 * 1024))
    with pytest.raises(PermanentError) as caught:
        parse_feed(bomb, outlet_id="o", source_url=SOURCE, max_bytes=8 * 1024 * 1024)
    assert caught.value.kind == "decompression-bomb"


def test_bounded_gunzip_handles_members_and_garbage():
    assert (
        decompress_gzip_bounded(gzip.compress(b"ab") + gzip.compress(b"cd"), max_bytes=10)
        == b"abcd"
    )
    with pytest.raises(PermanentError) as caught:
        decompress_gzip_bounded(b"\x1f\x8bnot gzip at all", max_bytes=10)
    assert caught.value.kind == "malformed-gzip"


def test_portuguese_rfc822_dates_are_read():
    links = parse_feed(
        (FEEDS / "noticias-uol-com-br__rss-parser-uolNoticias.xml").read_bytes(),
        outlet_id="o",
        source_url=SOURCE,
    )
    # <pubDate>Seg, 24 Set 2018 19:42:40 -0300</pubDate>: feedparser alone gives no date
    assert all(link.published_at is not None for link in links)
    assert links[0].published_at == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Seg, 24 Set 2018 19:42:40 -0300", datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)),
        ("mié, 05 dic 2018 10:00:00 +0100", datetime(2018, 12, 5, 9, 0, tzinfo=UTC)),
        ("jeu., 4 juin 2020 10:00:00 +0200", datetime(2020, 6, 4, 8, 0, tzinfo=UTC)),
        ("ven., 3 juil. 2020 10:00 +0200", datetime(2020, 7, 3, 8, 0, tzinfo=UTC)),
        ("Di, 03 Mär 2020 10:00:00 GMT", datetime(2020, 3, 3, 10, 0, tzinfo=UTC)),
        ("ср, 10 окт 2018 10:00:00 +0300", datetime(2018, 10, 10, 7, 0, tzinfo=UTC)),
        ("2018-09-08", None),
        ("24 Xyz 2018 10:00:00", None),
    ],
)
def test_localized_rfc822(value, expected):
    assert parse_localized_rfc822(value) == expected


def test_summary_scripts_and_styles_are_dropped():
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        b"<link>https://a.example/1</link><description>&lt;p&gt;Idlib &lt;script&gt;track()"
        b"&lt;/script&gt;&lt;style&gt;p{}&lt;/style&gt;talks&lt;/p&gt;</description></item>"
        b"</channel></rss>"
    )
    assert parse_feed(body, outlet_id="o", source_url=SOURCE)[0].summary == "Idlib talks"


@pytest.mark.parametrize(
    "content_type",
    ["application/xml; charset=iso-8859-1", "text/html; charset=windows-1252", "text/xml"],
)
@pytest.mark.parametrize(("name", "script"), sorted(LEGACY_SCRIPTS.items()))
def test_wrong_http_charset_does_not_override_a_fitting_declaration(name, script, content_type):
    # Servers stamp a default charset on feeds written in another one; the bytes would decode
    # without error into mojibake if the header won.
    links = parse_feed(
        (FEEDS / name).read_bytes(), outlet_id="o", source_url=SOURCE, content_type=content_type
    )
    assert _script_share([link.title or "" for link in links], script) > 0.5


def test_utf8_body_with_stale_latin1_declaration_trusts_the_utf8_header():
    body = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>t</title>'
        "<item><link>https://a.example/1</link><title>Ataque químico em Idlib</title></item>"
        "</channel></rss>"
    ).encode()
    links = parse_feed(
        body, outlet_id="o", source_url=SOURCE, content_type="text/xml; charset=utf-8"
    )
    assert links[0].title == "Ataque químico em Idlib"
