"""Parse RSS 0.9x/1.0/2.0 and Atom documents into discovered links (pure: bytes in, records out).

feedparser does the format work; this module converts its dict-of-anything result once, at the
edge, into `DiscoveredLink` records, and decides what counts as "not a feed" versus "a feed with
a recoverable flaw".

Safety: the bytes are handed to feedparser as a stream, so it never treats them as a URL or a file
name. feedparser strips the DOCTYPE before parsing and keeps only entities that are single
character references, and it disables external general entities; so neither an entity bomb
("billion laughs") nor an external entity (``SYSTEM "file:///etc/passwd"``) is expanded. The
tests prove both.
"""

from __future__ import annotations

import calendar
import codecs
import email.utils
import io
import re
import time
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser
import lxml.html
from lxml import etree

from schemas.bounds import language_tag
from schemas.errors import PermanentError
from schemas.records import DiscoveredLink, SourceKind
from transforms.sections import resolve_http_url

__all__ = [
    "DEFAULT_MAX_FEED_BYTES",
    "decompress_gzip_bounded",
    "parse_feed",
    "parse_localized_rfc822",
]

# A real news feed is rarely above a few megabytes; anything that inflates beyond this is treated
# as a decompression bomb rather than a feed.
DEFAULT_MAX_FEED_BYTES = 32 * 1024 * 1024
_SUMMARY_MAX_CHARS = 2000
_GZIP_MAGIC = b"\x1f\x8b"
_XML_DECLARED_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']"""
)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*([^;]+)", re.I)
# Markers of a document that is an HTML page, not a feed (served where a feed was expected).
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])", re.I | re.S)


def decompress_gzip_bounded(body: bytes, *, max_bytes: int) -> bytes:
    """Return the gunzipped `body`, refusing to inflate more than `max_bytes`.

    Raises PermanentError(kind="decompression-bomb") when the output would exceed the cap and
    PermanentError(kind="malformed-gzip") when the stream is not valid gzip.
    """
    decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    out = bytearray()
    data = body
    try:
        while data:
            out += decoder.decompress(data, max_bytes + 1 - len(out))
            if len(out) > max_bytes:
                raise PermanentError(
                    f"gzip body inflates beyond {max_bytes} bytes", kind="decompression-bomb"
                )
            data = decoder.unconsumed_tail
            if decoder.eof and decoder.unused_data.startswith(_GZIP_MAGIC):
                # Concatenated gzip members are valid gzip; continue with the next member.
                data = decoder.unused_data
                decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    except zlib.error as error:
        raise PermanentError(f"invalid gzip data: {error}", kind="malformed-gzip") from error
    return bytes(out)


def parse_feed(
    body: bytes,
    *,
    outlet_id: str,
    source_url: str,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_FEED_BYTES,
) -> list[DiscoveredLink]:
    """Return the entries of an RSS/Atom feed as discovered links, first occurrence of each URL.

    Entry title, publication time (UTC; updated time when no published time), author, plain-text
    summary and language (entry's, else the feed's) are kept. Relative links resolve against
    `source_url`. A feed with no entries returns an empty list ("nothing new" is a result).

    Raises PermanentError with kind "not-a-feed" when the document is not a feed (an HTML page,
    plain text) and kind "malformed-feed" when it is XML that could not be parsed into any entry
    and is broken; a recoverably malformed feed (feedparser's bozo flag with entries) yields them.
    """
    if body[:2] == _GZIP_MAGIC:
        # Feeds stored or served gzipped without a Content-Encoding header.
        body = decompress_gzip_bounded(body, max_bytes=max_bytes)
    if len(body) > max_bytes:
        raise PermanentError(
            f"feed body of {len(body)} bytes exceeds {max_bytes}", kind="too-large"
        )
    if not body.strip():
        raise PermanentError(f"empty document at {source_url}", kind="not-a-feed")

    headers: dict[str, str] = {"content-location": source_url}
    if content_type:
        headers["content-type"] = _reconcile_charset(body, content_type)
    # Summaries are reduced to plain text here, so feedparser's HTML sanitiser and relative-URI
    # rewriting inside content (its slowest passes) are not needed; entry links still resolve.
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except ValueError as error:
        # feedparser decodes with the declared encoding name and only expects LookupError:
        # encoding="\x00gb2312" raises ValueError ("embedded null character") out of it.
        raise PermanentError(
            f"malformed feed at {source_url}: {error}", kind="malformed-feed"
        ) from error
    entries: list[Any] = list(parsed.get("entries") or [])
    version = str(parsed.get("version") or "")
    bozo_error = parsed.get("bozo_exception") if parsed.get("bozo") else None

    if not entries:
        reason = f" ({type(bozo_error).__name__}: {bozo_error})" if bozo_error else ""
        if _HTML_START.match(body[:4096]):
            raise PermanentError(f"{source_url} is an HTML page, not a feed", kind="not-a-feed")
        broken = bozo_error is not None and _is_fatal_xml_error(bozo_error)
        if not version and not (broken and body.lstrip()[:1] == b"<"):
            raise PermanentError(f"{source_url} is not an RSS/Atom feed{reason}", kind="not-a-feed")
        if broken:
            raise PermanentError(
                f"malformed {version or 'XML'} feed at {source_url}{reason}", kind="malformed-feed"
            )
        return []

    feed_meta: Mapping[str, Any] = parsed.get("feed") or {}
    feed_language = _clean_language(feed_meta.get("language"))
    links: list[DiscoveredLink] = []
    seen: set[str] = set()
    for entry in entries:
        url = _entry_url(entry, source_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        links.append(
            DiscoveredLink(
                outlet_id=outlet_id,
                url=url,
                source_kind=SourceKind.FEED,
                source_url=source_url,
                title=_clean_text(entry.get("title")),
                published_at=_entry_time(entry),
                author=_clean_text(entry.get("author")),
                language=_entry_language(entry) or feed_language,
                summary=_summary_text(entry.get("summary")),
            )
        )
    return links


def _reconcile_charset(body: bytes, content_type: str) -> str:
    """Drop the HTTP charset when the document's own XML declaration contradicts it and fits.

    feedparser follows RFC 3023 (the HTTP charset wins), but servers often stamp a default
    charset (iso-8859-1, utf-8) on feeds written in KOI8-R or windows-1251: then the bytes
    decode without error yet into mojibake. A declaration that decodes the bytes strictly is
    the better witness.
    """
    media_type, _, params = content_type.partition(";")
    header_charset = _CHARSET_PARAM.search(params)
    declared = _XML_DECLARED_ENCODING.match(body[:200])
    if header_charset is None or declared is None:
        return content_type
    try:
        header_codec = codecs.lookup(header_charset.group(1).strip("\"' ")).name
        declared_codec = codecs.lookup(declared.group(1).decode("ascii")).name
    except LookupError:
        return content_type
    if header_codec == declared_codec:
        return content_type
    if header_codec == "utf-8" and not body.isascii() and _is_utf8(body):
        return content_type  # transcoded by the server, declaration left stale: UTF-8 wins
    try:
        body.decode(declared_codec)
    except UnicodeDecodeError:
        return content_type
    return media_type.strip()


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_fatal_xml_error(error: object) -> bool:
    """True for parse errors (as opposed to mere encoding overrides feedparser also reports)."""
    return not isinstance(
        error,
        feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType,
    )


def _entry_url(entry: Mapping[str, Any], source_url: str) -> str | None:
    """The entry's article URL: its alternate link, else a permalink GUID; absolute http(s)."""
    candidates: list[str] = []
    for link in entry.get("links") or []:
        href = link.get("href")
        if href and link.get("rel", "alternate") == "alternate":
            candidates.append(href)
    if entry.get("link"):
        candidates.append(entry["link"])
    guid = entry.get("id")
    if guid and entry.get("guidislink", True):
        candidates.append(guid)
    for candidate in candidates:
        url = resolve_http_url(candidate, source_url)
        if url is not None:
            return url
    return None


def _entry_time(entry: Mapping[str, Any]) -> datetime | None:
    """Publication time in UTC (feedparser normalises to UTC struct_time); updated as fallback."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get skips FeedParserDict's deprecated updated->published key aliasing.
        value = dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    for key in ("published", "updated", "created"):
        value = dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)
        if isinstance(value, str):
            moment = parse_localized_rfc822(value)
            if moment is not None:
                return moment
    return None


# Month abbreviations that feeds in other languages put into RFC 822 dates (feedparser only
# knows the English ones). Keys are the first three (or, where three are ambiguous, four)
# letters, lower-cased.
_LOCAL_MONTHS: Mapping[str, str] = {
    # pt
    "fev": "Feb", "abr": "Apr", "mai": "May", "ago": "Aug", "set": "Sep", "out": "Oct",
    "dez": "Dec",
    # es
    "ene": "Jan", "dic": "Dec",
    # fr
    "fév": "Feb", "avr": "Apr", "juin": "Jun", "juil": "Jul", "aoû": "Aug", "déc": "Dec",
    # de
    "mär": "Mar", "mrz": "Mar", "okt": "Oct",
    # it
    "gen": "Jan", "mag": "May", "giu": "Jun", "lug": "Jul", "ott": "Oct",
    # ru
    "янв": "Jan", "фев": "Feb", "мар": "Mar", "апр": "Apr", "мая": "May", "май": "May",
    "июн": "Jun", "июл": "Jul", "авг": "Aug", "сен": "Sep", "окт": "Oct", "ноя": "Nov",
    "дек": "Dec",
}  # fmt: skip
_RFC822_LOCAL = re.compile(
    r"^\s*(?:[^\W\d_]+\.?,?\s+)?(\d{1,2})\s+([^\W\d_]+)\.?\s+(\d{4})\s+(\d{1,2}:\d{2}(?::\d{2})?)"
    r"\s*([+-]\d{4}|[A-Z]{1,4})?\s*$"
)


def parse_localized_rfc822(value: str) -> datetime | None:
    """Parse an RFC 822 date whose day and month names are not English ("Seg, 24 Set 2018
    19:42:40 -0300"); return it in UTC, or None when it is not such a date."""
    match = _RFC822_LOCAL.match(value)
    if match is None:
        return None
    day, month, year, clock, zone = match.groups()
    lowered = month.lower()
    english = (
        _LOCAL_MONTHS.get(lowered[:4])
        or _LOCAL_MONTHS.get(lowered[:3])
        or (month[:3].title() if month.isascii() else None)
    )
    if english is None:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(
            f"{day} {english} {year} {clock} {zone or '+0000'}"
        )
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if detail and detail.get("language"):
            return _clean_language(detail["language"])
    for content in entry.get("content") or []:
        if content.get("language"):
            return _clean_language(content["language"])
    return None


def _clean_language(value: object) -> str | None:
    # A hostile or broken feed's 200-character <language> must not reach the column.
    tag = language_tag(value)
    return tag.lower() if tag else None


def _clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _summary_text(value: object) -> str | None:
    """Plain text of an HTML summary (scripts and styles dropped), whitespace collapsed, bounded."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value
    if "<" in value:
        try:
            fragment = lxml.html.fragment_fromstring(value, create_parent="div")
            etree.strip_elements(fragment, "script", "style", with_tail=False)
            text = fragment.text_content()
        except (etree.ParserError, ValueError):
            text = re.sub(r"<[^>]*>", " ", value)
    text = " ".join(text.split())
    return text[:_SUMMARY_MAX_CHARS] or None
