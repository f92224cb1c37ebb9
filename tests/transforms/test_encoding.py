"""Decoding real captured pages and feeds: declared, mis-declared and undeclared charsets.

The rows iterated are those of the pinned fixture manifest (`tests/resources/shared`): all 26
genuinely legacy-encoded pages and feeds, and 11 of the 16 pages whose UTF-8 bytes declare a legacy
charset (the five largest left out for size). The full set stays at `../shared/data`.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

import pytest

from tests.fixtures import SHARED_DATA
from transforms.encoding import decode_html, normalize_charset, sniff_declared_charset

DATA = SHARED_DATA
_DECLARATION = re.compile(rb"""(encoding|charset)\s*=\s*["']?[\w.:-]+""", re.IGNORECASE)


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, Any]]:
    """Rows of the shared fixture manifest (fails, never skips, when the data is missing)."""
    path = DATA / "manifest.json"
    assert path.is_file(), f"shared data missing: {path}"
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return rows


def _rows(manifest: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    return [row for row in manifest if marker in (row.get("encoding") or "")]


def _declared(row: dict[str, Any]) -> str:
    return str(row["encoding"]).split(" ", 1)[0]


def test_legacy_declaration_over_utf8_bytes_decodes_as_utf8(manifest: list[dict[str, Any]]) -> None:
    rows = _rows(manifest, "declaration/bytes mismatch")
    assert len(rows) >= 10
    for row in rows:
        body = (DATA / row["file"]).read_bytes()
        text, codec = decode_html(body, None)
        assert codec == "utf-8", row["file"]
        assert text == body.decode("utf-8")


def test_genuine_legacy_bytes_decode_with_their_declaration(manifest: list[dict[str, Any]]) -> None:
    rows = _rows(manifest, "not valid UTF-8 (genuine legacy encoding)")
    assert len(rows) >= 20
    for row in rows:
        body = (DATA / row["file"]).read_bytes()
        text, codec = decode_html(body, None)
        expected = normalize_charset(_declared(row))
        assert expected is not None
        assert codec == expected, row["file"]
        assert "\ufffd" not in text, row["file"]


@pytest.mark.parametrize(
    ("name", "codec", "word"),
    [
        ("feeds/newsru-com__chardet-windows-1251-russian.xml", "cp1251", "Минюста"),
        ("feeds/newsru-com__chardet-koi8-r.xml", "koi8-r", "Минюста"),
        ("feeds/noticias-uol-com-br__rss-parser-uolNoticias.xml", "cp1252", "simulações"),
        ("feeds/whatsup-org-il__chardet-windows-1255-hebrew.xml", "cp1255", None),
        ("pages/de/winfuture-de__traf-winfuture-de-nasa.html", "cp1252", "Gebühren"),
        (
            "pages/zh/he-xinhuanet-com__traf-archive-org-he-xinhuanet-com-25340717.html",
            "gb18030",
            None,
        ),
    ],
)
def test_undeclared_legacy_bytes_are_detected(name: str, codec: str, word: str | None) -> None:
    # Remove every declaration so only detection (plus the language hint) is left.
    body = _DECLARATION.sub(b"", (DATA / name).read_bytes())
    text, detected = decode_html(body, None)
    assert detected == codec
    if word is not None:
        assert word in text


def test_http_charset_is_used_when_document_declares_nothing() -> None:
    body = "<html><body><p>Привет, мир: новости дня</p></body></html>".encode("cp1251")
    text, codec = decode_html(body, "text/html; charset=windows-1251")
    assert codec == "cp1251"
    assert "Привет" in text


def test_byte_order_mark_wins_over_a_wrong_declaration() -> None:
    body = codecs.BOM_UTF16_LE + '<meta charset="iso-8859-1"><p>Ärger</p>'.encode("utf-16-le")
    text, codec = decode_html(body, "text/html; charset=iso-8859-1")
    assert codec == "utf-16-le"
    assert "Ärger" in text


def test_ascii_only_page_keeps_its_declared_codec_name() -> None:
    text, codec = decode_html(b'<meta charset="iso-8859-1"><p>plain</p>', None)
    assert text.endswith("plain</p>")
    assert codec == "cp1252"


def test_labels_map_to_the_supersets_browsers_use() -> None:
    assert normalize_charset("ISO-8859-1") == "cp1252"
    assert normalize_charset("GB2312") == "gb18030"
    assert normalize_charset("Shift_JIS") == "cp932"
    assert normalize_charset("x-unknown-charset") is None
    # A UTF-16 declaration inside ASCII-readable bytes cannot be true.
    assert normalize_charset("utf-16") == "utf-8"


def test_declaration_sniffing_reads_meta_and_xml() -> None:
    assert sniff_declared_charset(b'<?xml version="1.0" encoding="KOI8-R"?><rss/>') == "KOI8-R"
    assert (
        sniff_declared_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=gbk">')
        == "gbk"
    )
    assert sniff_declared_charset(b"<html><p>none</p></html>") is None


def test_declared_utf8_body_with_a_legacy_fragment_decodes_segment_by_segment() -> None:
    """Constructed: a real UTF-8 page (French) with a cp1252 fragment pasted in, as a CMS
    template does; the page stays UTF-8 and only the fragment is read as cp1252."""
    page = (DATA / "pages" / "fr" / "20minutes-fr__htmldate-ciaran.html").read_bytes()
    fragment = "<p>Café mixed, déjà vu</p>"
    body = page.replace(b"<p>", fragment.encode("cp1252") + b"<p>", 1)
    text, codec = decode_html(body, "text/html; charset=utf-8")
    whole, _ = decode_html(page, "text/html; charset=utf-8")
    assert codec == "utf-8"
    assert fragment in text  # not "CafГ© mixed" (the body read as cp1251 as a whole)
    assert text.replace(fragment, "", 1) == whole  # the UTF-8 around it is untouched


def test_declared_utf8_body_that_is_all_legacy_still_goes_to_detection(
    manifest: list[dict[str, Any]],
) -> None:
    """A declaration that is simply wrong (no real UTF-8 in the body) is not segment-decoded."""
    rows = _rows(manifest, "not valid UTF-8 (genuine legacy encoding)")
    assert len(rows) >= 20
    for row in rows:
        body = (DATA / row["file"]).read_bytes()
        _text, codec = decode_html(body, "text/html; charset=utf-8")
        assert codec != "utf-8", row["file"]
