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

from schemas.errors import PermanentError
from schemas.records import DiscoveredLink, SourceKind
from transforms.sections import resolve_http_url

__all__ = ["DEFAULT_MAX_FEED_BYTES", "decompress_gzip_bounded", "parse_feed"]

# A real news feed is rarely above a few megabytes; anything that inflates beyond this is treated
# as a decompression bomb rather than a feed.
DEFAULT_MAX_FEED_BYTES = 32 * 1024 * 1024
_SUMMARY_MAX_CHARS = 2000
_GZIP_MAGIC = b"\x1f\x8b"
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
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
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
    return None


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
    if not isinstance(value, str):
        return None
    value = value.strip().replace("_", "-").lower()
    return value or None


def _clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _summary_text(value: object) -> str | None:
    """Plain text of an (already sanitised) HTML summary, whitespace collapsed, bounded."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value
    if "<" in value:
        try:
            text = lxml.html.fragment_fromstring(value, create_parent="div").text_content()
        except (etree.ParserError, ValueError):
            text = re.sub(r"<[^>]*>", " ", value)
    text = " ".join(text.split())
    return text[:_SUMMARY_MAX_CHARS] or None
