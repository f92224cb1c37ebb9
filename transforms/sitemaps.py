"""Parse XML sitemaps, sitemap indexes and Google News sitemaps (pure: bytes in, records out).

Safe parsing: lxml with entity resolution off, no network access, no DTD loading and without
`huge_tree` (libxml2's own limits on depth and text size stay on), so entity bombs and external
entities are not expanded. gzip bodies (``sitemap.xml.gz`` served without Content-Encoding) are
inflated under a size cap. Plain-text sitemaps (one URL per line) are accepted too, as the
sitemaps.org protocol allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from lxml import etree

from schemas.bounds import language_tag
from schemas.errors import PermanentError
from schemas.records import DiscoveredLink, SourceKind
from transforms.feeds import decompress_gzip_bounded
from transforms.sections import resolve_http_url

__all__ = [
    "DEFAULT_MAX_SITEMAP_BYTES",
    "SitemapChild",
    "SitemapEntry",
    "SitemapResult",
    "parse_sitemap",
    "parse_w3c_datetime",
]

# The sitemaps.org protocol caps an uncompressed sitemap at 50 MB.
DEFAULT_MAX_SITEMAP_BYTES = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_W3C_DATETIME = re.compile(
    r"^\s*(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?)?)?\s*$"
)


@dataclass(frozen=True, slots=True)
class SitemapChild:
    """A sitemap listed by a sitemap index, with its own last-modification time if given."""

    url: str
    lastmod: datetime | None = None


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    """One `<url>` of a sitemap: the link (news title, language, publication date) and lastmod."""

    link: DiscoveredLink
    lastmod: datetime | None = None

    @property
    def date(self) -> datetime | None:
        """The best date for range filtering: news publication date, else lastmod."""
        return self.link.published_at or self.lastmod


@dataclass(frozen=True, slots=True)
class SitemapResult:
    """What one sitemap document lists: child sitemaps (for an index) and article URLs."""

    source_url: str
    children: tuple[SitemapChild, ...] = ()
    entries: tuple[SitemapEntry, ...] = ()

    @property
    def is_index(self) -> bool:
        """True when the document is a sitemap index (it lists sitemaps, not pages)."""
        return bool(self.children) and not self.entries

    @property
    def links(self) -> tuple[DiscoveredLink, ...]:
        """The discovered links of all entries, in document order."""
        return tuple(entry.link for entry in self.entries)


def parse_sitemap(
    body: bytes,
    *,
    outlet_id: str,
    source_url: str,
    max_bytes: int = DEFAULT_MAX_SITEMAP_BYTES,
    max_children: int | None = None,
    max_entries: int | None = None,
) -> SitemapResult:
    """Return the child sitemaps and URL entries of a sitemap document, URLs deduplicated.

    `news:publication_date` becomes the link's `published_at` (UTC), `news:title` its title and
    `news:language` its language; `lastmod` is kept beside it. Relative locations resolve
    against `source_url`; only http(s) URLs are kept. An empty urlset returns an empty result.
    With `max_children` / `max_entries`, at most that many of each are returned (the first in
    document order) and parsing stops once the document's own kind is full: an index of 700,000
    children costs no more than the cap.

    Raises PermanentError(kind="malformed-sitemap") for a document that is neither a sitemap
    nor a plain-text URL list, and kind "decompression-bomb" / "too-large" past `max_bytes`.
    """
    if body[:2] == _GZIP_MAGIC:
        body = decompress_gzip_bounded(body, max_bytes=max_bytes)
    if len(body) > max_bytes:
        raise PermanentError(f"sitemap of {len(body)} bytes exceeds {max_bytes}", kind="too-large")
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise PermanentError(f"empty sitemap at {source_url}", kind="malformed-sitemap")
    if not stripped.startswith(b"<"):
        return _parse_text_sitemap(
            stripped, outlet_id=outlet_id, source_url=source_url, max_items=max_entries
        )

    children: list[SitemapChild] = []
    entries: list[SitemapEntry] = []
    seen: set[str] = set()
    stream = _SitemapStream(body, source_url)
    for element in stream.items():
        name = _local_name(element)
        fields = _child_texts(element)
        if stream.full(name, len(children), len(entries), max_children, max_entries):
            break  # the rest of the document is never parsed
        url = resolve_http_url(fields.get("loc", ""), source_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        lastmod = parse_w3c_datetime(fields.get("lastmod"))
        if name == "sitemap":
            children.append(SitemapChild(url=url, lastmod=lastmod))
        elif name == "url":
            link = DiscoveredLink(
                outlet_id=outlet_id,
                url=url,
                source_kind=SourceKind.SITEMAP,
                source_url=source_url,
                title=_clean(fields.get("news/title")),
                published_at=parse_w3c_datetime(fields.get("news/publication_date")),
                language=language_tag(fields.get("news/publication/language")),
            )
            entries.append(SitemapEntry(link=link, lastmod=lastmod))
    xml_errors = stream.errors()
    if xml_errors and not children and not entries:
        # Recovery salvaged nothing: report the damage rather than an empty (healthy) sitemap.
        raise PermanentError(
            f"malformed sitemap at {source_url}: {xml_errors}", kind="malformed-sitemap"
        )
    return SitemapResult(source_url=source_url, children=tuple(children), entries=tuple(entries))


def parse_w3c_datetime(value: str | None) -> datetime | None:
    """Parse a W3C datetime (the sitemap date format, any precision) to UTC; None if invalid.

    A date without time means midnight UTC; a time without offset is taken as UTC.
    """
    if not value:
        return None
    match = _W3C_DATETIME.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        tz = UTC if not offset or offset == "Z" else _offset_tz(offset)
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return moment.astimezone(UTC)


def _offset_tz(offset: str) -> timezone:
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


class _SitemapStream:
    """The `<url>` / `<sitemap>` elements of an XML sitemap, parsed incrementally.

    The document is fed to lxml in chunks and each item is freed once read, so a capped caller
    stops the parse early and memory holds one chunk and one item, not a tree of 700,000.
    """

    _CHUNK = 64 * 1024

    def __init__(self, body: bytes, source_url: str) -> None:
        self._body = body
        self._source_url = source_url
        self.root_name = ""
        # recover=True keeps the entries before a broken tag (real sitemaps are often
        # truncated); resolve_entities/no_network/load_dtd defuse entity bombs and external
        # entities; without huge_tree libxml2's own limits on depth and text size stay on.
        self._parser = etree.XMLPullParser(
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            recover=True,
            remove_comments=True,
            remove_pis=True,
        )

    def items(self) -> Iterator[etree._Element]:
        """Yield each element directly under the root; raise for a document that is no sitemap."""
        depth = 0
        root: etree._Element | None = None
        for start in range(0, len(self._body) + 1, self._CHUNK):
            chunk = self._body[start : start + self._CHUNK]
            try:
                if chunk:
                    self._parser.feed(chunk)
                else:
                    self._parser.close()
                events = list(self._parser.read_events())
            except etree.XMLSyntaxError as error:
                if root is None:
                    raise PermanentError(
                        f"malformed sitemap at {self._source_url}: {error}",
                        kind="malformed-sitemap",
                    ) from error
                return
            for event, element in events:
                if event == "start":
                    depth += 1
                    if root is None:
                        root = element
                        self.root_name = _local_name(root)
                        if self.root_name not in ("urlset", "sitemapindex"):
                            raise PermanentError(
                                f"{self._source_url} is not a sitemap "
                                f"(root element <{self.root_name}>)",
                                kind="malformed-sitemap",
                            )
                    continue
                depth -= 1
                if depth == 1 and root is not None and isinstance(element.tag, str):
                    yield element
                    # Free what was read: the item, and its already-seen siblings.
                    element.clear(keep_tail=False)
                    while element.getprevious() is not None:
                        del root[0]
        if root is None:
            raise PermanentError(
                f"malformed sitemap at {self._source_url}: no root element",
                kind="malformed-sitemap",
            )

    def full(
        self,
        item: str,
        children: int,
        entries: int,
        max_children: int | None,
        max_entries: int | None,
    ) -> bool:
        """Whether no more items of this document's kind can be taken (stop reading)."""
        if item == "sitemap" or self.root_name == "sitemapindex":
            return max_children is not None and children >= max_children
        return max_entries is not None and entries >= max_entries

    def errors(self) -> str:
        """A summary of the errors recovery had to skip ("" when none)."""
        errors = [
            entry for entry in self._parser.feed_error_log if entry.level >= etree.ErrorLevels.ERROR
        ]
        return "; ".join(f"line {entry.line}: {entry.message}" for entry in errors[:3])


def _child_texts(element: etree._Element) -> dict[str, str]:
    """Texts of the interesting descendants, keyed by a namespace-free path ("news/title")."""
    fields: dict[str, str] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = _local_name(child)
        if name == "news":
            for news_child in child:
                if not isinstance(news_child.tag, str):
                    continue
                news_name = _local_name(news_child)
                if news_name == "publication":
                    for pub in news_child:
                        if isinstance(pub.tag, str):
                            key = f"news/publication/{_local_name(pub)}"
                            fields.setdefault(key, _text(pub))
                else:
                    fields.setdefault(f"news/{news_name}", _text(news_child))
        else:
            fields.setdefault(name, _text(child))
    return fields


def _local_name(element: etree._Element) -> str:
    """Lower-case tag name without namespace or prefix.

    "news:news" with its prefix never declared is kept verbatim by lxml's recovery, and
    `etree.QName` raises ValueError on it: split by hand instead.
    """
    tag = str(element.tag)
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _text(element: etree._Element) -> str:
    # Only text nodes: unresolved entity references are left out, never expanded.
    return "".join(element.itertext(with_tail=False)).strip()


def _clean(value: str | None) -> str | None:
    if not value:
        return None
    value = " ".join(value.split())
    return value or None


def _parse_text_sitemap(
    body: bytes, *, outlet_id: str, source_url: str, max_items: int | None = None
) -> SitemapResult:
    """A text sitemap: one absolute URL per line (sitemaps.org), UTF-8."""
    text = body.decode("utf-8", errors="replace")
    entries: list[SitemapEntry] = []
    seen: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if max_items is not None and len(entries) >= max_items:
            break
        if not line.lower().startswith(("http://", "https://")):
            raise PermanentError(
                f"{source_url} is neither an XML nor a text sitemap (line {line[:60]!r})",
                kind="malformed-sitemap",
            )
        url = resolve_http_url(line, source_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        link = DiscoveredLink(
            outlet_id=outlet_id, url=url, source_kind=SourceKind.SITEMAP, source_url=source_url
        )
        entries.append(SitemapEntry(link=link))
    return SitemapResult(source_url=source_url, entries=tuple(entries))
