"""Decoding the bytes of a fetched page into text.

Order of evidence (strongest first): a byte-order mark, the HTTP `charset` parameter, the
document's own `<meta charset>` / `http-equiv` / XML declaration, then statistical detection
(charset-normalizer). A declaration is only believed when the bytes agree with it: pages that
declare a legacy charset but whose bytes are valid UTF-8 (archives that transcoded them on save)
are decoded as UTF-8, and a page that declares UTF-8 but is not valid UTF-8 goes to detection.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# How far into the document a charset declaration is looked for (HTML's prescan reads 1024 bytes;
# real pages put long <script>/<link> blocks first, so read further).
_PRESCAN_BYTES = 8192

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)""", re.IGNORECASE)

# Labels as written by servers mapped to the codec browsers actually use (WHATWG Encoding
# Standard): a page "in ISO-8859-1" really uses windows-1252's C1 characters (curly quotes),
# "GB2312" pages use GBK/GB18030 extensions, "Shift_JIS"/"EUC-KR" pages use the Microsoft supersets.
_SUPERSETS = {
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "big5": "big5hkscs",
    "unicode": "utf-8",
    "utf8": "utf-8",
}


def normalize_charset(label: str) -> str | None:
    """Return the Python codec name for a declared charset label, or None if it is unknown.

    Known-broken labels are widened to the superset browsers decode them with.
    """
    cleaned = label.strip().strip("\"'").lower()
    cleaned = _SUPERSETS.get(cleaned, cleaned)
    try:
        name = codecs.lookup(cleaned).name
    except LookupError:
        return None
    # A UTF-16 declaration inside bytes we could read as ASCII is a lie (browsers ignore it too).
    if name.startswith("utf-16") or name.startswith("utf-32"):
        return "utf-8"
    return name


def sniff_declared_charset(body: bytes) -> str | None:
    """Return the charset label the document declares about itself (meta or XML), or None."""
    head = body[:_PRESCAN_BYTES]
    match = _XML_DECLARATION.match(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


def _header_charset(content_type_header: str | None) -> str | None:
    if not content_type_header:
        return None
    match = _HEADER_CHARSET.search(content_type_header)
    return match.group(1) if match else None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decodes_strictly(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _detect(body: bytes) -> str:
    best = from_bytes(body).best()
    if best is None or best.encoding is None:
        return "cp1252"
    return normalize_charset(best.encoding) or "cp1252"


def decode_html(body: bytes, content_type_header: str | None) -> tuple[str, str]:
    """Decode a page body; return `(text, codec_name)`.

    Never raises on bad bytes: the chosen codec decodes with replacement characters for the few
    bytes it cannot map. The returned codec name is Python's canonical name (e.g. "utf-8", "cp1251").
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace"), codec

    declared: list[str] = []
    for label in (_header_charset(content_type_header), sniff_declared_charset(body)):
        codec = normalize_charset(label) if label else None
        if codec and codec not in declared:
            declared.append(codec)

    is_ascii = body.isascii()
    if is_ascii:
        return body.decode("ascii"), declared[0] if declared else "ascii"

    # Valid UTF-8 with non-ASCII bytes is, in practice, never legacy text: a legacy-declared page
    # whose bytes are valid UTF-8 was transcoded by whoever stored it (mojibake if we trust it).
    if _is_utf8(body):
        return body.decode("utf-8"), "utf-8"

    for codec in declared:
        if codec != "utf-8" and _decodes_strictly(body, codec):
            return body.decode(codec), codec

    codec = _detect(body)
    return body.decode(codec, errors="replace"), codec
