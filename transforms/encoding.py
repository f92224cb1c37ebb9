"""Decoding the bytes of a fetched page into text.

Order of evidence (strongest first): a byte-order mark, the HTTP `charset` parameter, the
document's own `<meta charset>` / `http-equiv` / XML declaration, then statistical detection
(charset-normalizer). A declaration is only believed when the bytes agree with it: pages that
declare a legacy charset but whose bytes are valid UTF-8 (archives that transcoded them on save)
are decoded as UTF-8. A page that declares UTF-8 but is not valid UTF-8 throughout is decoded
segment by segment (UTF-8 where it is, a detected legacy code page for the rest) when it holds
real UTF-8 text, and goes to detection as a whole when it does not.
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


# The legacy encoding a language was usually written in on the web (what browsers default to for
# that locale). Detection statistics alone confuse the single-byte Latin code pages: markup is
# ASCII, so Portuguese in cp1252 and in cp1257 look almost equally plausible.
_LEGACY_BY_LANGUAGE = {
    "ru": "cp1251", "uk": "cp1251", "bg": "cp1251", "sr": "cp1251", "mk": "cp1251", "be": "cp1251",
    "pl": "cp1250", "cs": "cp1250", "sk": "cp1250", "hu": "cp1250", "hr": "cp1250", "sl": "cp1250",
    "ro": "cp1250", "bs": "cp1250", "sq": "cp1250",
    "el": "cp1253", "tr": "cp1254", "he": "cp1255", "ar": "cp1256", "fa": "cp1256", "ur": "cp1256",
    "lt": "cp1257", "lv": "cp1257", "et": "cp1257", "vi": "cp1258", "th": "cp874",
    "zh": "gb18030", "ja": "cp932", "ko": "cp949",
}  # fmt: skip
# Otherwise: how common each legacy encoding is on the web, most common first.
_LEGACY_PRIOR = (
    "cp1252", "cp1251", "gb18030", "cp932", "cp949", "cp1250", "iso8859-2", "cp1256", "cp1254",
    "cp1253", "iso8859-7", "cp1255", "big5hkscs", "koi8-r", "cp874", "euc_jp", "cp1257", "cp1258",
)  # fmt: skip
_LANGUAGE_HINT = re.compile(
    rb"""<html[^>]*?\blang\s*=\s*["']?([a-zA-Z]{2})\b|<language>\s*([a-zA-Z]{2})\b|"""
    rb"""xml:lang\s*=\s*["']([a-zA-Z]{2})\b""",
    re.IGNORECASE,
)
_LATIN_FAMILY = frozenset(
    {"cp1250", "cp1252", "cp1254", "cp1257", "cp1258", "cp437", "cp775", "cp850", "cp852", "cp858"}
    | {f"iso8859-{n}" for n in (1, 2, 3, 4, 9, 10, 13, 14, 15, 16)}
    | {"latin-1", "mac-roman", "mac-latin2"}
)
# charset-normalizer's "chaos" (mess ratio) within which two decodings count as equally clean.
_CHAOS_TIE = 0.01


def _language_hint(body: bytes) -> str | None:
    match = _LANGUAGE_HINT.search(body[: _PRESCAN_BYTES * 4])
    if not match:
        return None
    code = next(group for group in match.groups() if group)
    return code.decode("ascii").lower()


def _detect(body: bytes, hint_source: bytes | None = None) -> str:
    results = [r for r in from_bytes(body) if r.encoding]
    if not results:
        return "cp1252"
    cleanest = min(result.chaos for result in results)
    tied: list[str] = []
    for result in results:
        codec = (
            normalize_charset(result.encoding) if result.chaos <= cleanest + _CHAOS_TIE else None
        )
        if codec and codec not in tied:
            tied.append(codec)
    if not tied:
        return "cp1252"
    language = _language_hint(body if hint_source is None else hint_source)
    preferred = _LEGACY_BY_LANGUAGE.get(language or "", "cp1252")
    if preferred in tied:
        return preferred
    # charset-normalizer reports one code page per family of near-identical ones (cp1250 for
    # German cp1252 text): a Latin code page in the tie stands for its siblings.
    if (
        preferred in _LATIN_FAMILY
        and any(codec in _LATIN_FAMILY for codec in tied)
        and _decodes_strictly(body, preferred)
    ):
        return preferred
    for codec in _LEGACY_PRIOR:
        if codec in tied:
            return codec
    return tied[0]


# One or more well-formed UTF-8 sequences (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
_UTF8_RUN = re.compile(
    rb"(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
    rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})+"
)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
# Legacy text holds a well-formed UTF-8 pair only by accident (an upper-case letter before a
# symbol); a real UTF-8 page with a pasted legacy fragment holds many. Below one real sequence
# per this many broken runs, the UTF-8 declaration is taken as wrong for the whole body.
_BROKEN_RUNS_PER_SEQUENCE = 10


def _decode_mixed_utf8(body: bytes) -> str | None:
    """Decode a declared-UTF-8 body that is not valid UTF-8 throughout, segment by segment.

    Well-formed UTF-8 stays UTF-8; each run of bytes that is not is decoded with the legacy
    code page detected on those runs alone (what a CMS pasting a cp1252 or cp1251 fragment into
    a UTF-8 template produces). None when the body has too few real UTF-8 sequences to believe
    the declaration at all.
    """
    valid = list(_UTF8_RUN.finditer(body))
    broken: list[tuple[int, int]] = []
    position = 0
    for match in valid:
        if match.start() > position:
            broken.append((position, match.start()))
        position = match.end()
    if position < len(body):
        broken.append((position, len(body)))
    sequences = sum(len(_UTF8_MULTIBYTE.findall(match.group())) for match in valid)
    if sequences == 0 or sequences * _BROKEN_RUNS_PER_SEQUENCE < len(broken):
        return None
    legacy = _detect(b" ".join(body[start:end] for start, end in broken), hint_source=body)
    if legacy == "utf-8":
        legacy = "cp1252"
    parts: list[str] = []
    position = 0
    for start, end in broken:
        parts.append(body[position:start].decode("utf-8"))
        parts.append(body[start:end].decode(legacy, errors="replace"))
        position = end
    parts.append(body[position:].decode("utf-8"))
    return "".join(parts)


def decode_html(body: bytes, content_type_header: str | None) -> tuple[str, str]:
    """Decode a page body; return `(text, codec_name)`.

    Never raises on bad bytes: the chosen codec decodes with replacement characters for the few
    bytes it cannot map. The codec name returned is Python's canonical one ("utf-8", "cp1251").
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace"), codec

    declared: list[str] = []
    for label in (_header_charset(content_type_header), sniff_declared_charset(body)):
        named = normalize_charset(label) if label else None
        if named and named not in declared:
            declared.append(named)

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

    if "utf-8" in declared:
        mixed = _decode_mixed_utf8(body)
        if mixed is not None:
            return mixed, "utf-8"

    codec = _detect(body)
    return body.decode(codec, errors="replace"), codec
