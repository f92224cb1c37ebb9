"""Typed values that cross the boundaries between stages.

Every stage hands the next one a frozen record defined here, never a third-party shape
(a feedparser dict, trafilatura's JSON, an httpx response). Converting happens once, at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit


class SourceKind(StrEnum):
    """Where a link to an article was discovered."""

    FEED = "feed"
    SITEMAP = "sitemap"
    SECTION = "section"
    BACKFILL = "backfill"


class DateSource(StrEnum):
    """Which evidence a publication time came from, most trusted first.

    A date printed under the headline (`text`) ranks above htmldate's whole-page guess, which can
    pick up the date printed in a site header.
    """

    JSON_LD = "json-ld"
    META = "meta"
    FEED = "feed"
    SITEMAP = "sitemap"
    URL = "url"
    TEXT = "text"
    HTMLDATE = "htmldate"


@dataclass(frozen=True, slots=True)
class Outlet:
    """One outlet of the registry (`config/outlets.yaml`).

    `article_url_pattern` is a regular expression that article URLs of this outlet match; it filters
    links found on section pages. `allow_private` lets the fetcher reach private or loopback
    addresses on this outlet's own hosts (the bundled samples and the tests need it; real outlets
    never do); `private_permission` is the one place that rule is decided.
    """

    id: str
    name: str
    homepage: str
    languages: tuple[str, ...] = ()
    country: str | None = None
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    article_url_pattern: str | None = None
    requests_per_second: float | None = None
    allow_private: bool = False
    enabled: bool = True
    # Ages (seconds after first seen) at which articles are fetched again; None: the setting's.
    revisit_after: tuple[float, ...] | None = None

    def private_permission(self, url: str) -> bool | None:
        """True when a fetch of `url` may reach private addresses, else None (the settings decide).

        Only the hosts an analyst put in the registry (homepage, feeds, sitemaps, sections; host
        and port) are trusted: a feed or sitemap of such an outlet listing another private host,
        or the metadata service, must not turn the crawler into a proxy into its own network.
        """
        if not self.allow_private:
            return None
        own = {
            _host_and_port(u) for u in (self.homepage, *self.feeds, *self.sitemaps, *self.sections)
        }
        return True if _host_and_port(url) in own - {None} else None


def _host_and_port(url: str) -> tuple[str, int | None] | None:
    """(host, port) of `url`, None when it cannot be parsed."""
    try:
        parts = urlsplit(url)
        return (parts.hostname or "", parts.port)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DiscoveredLink:
    """A candidate article URL with whatever its source said about it (for fallback later)."""

    outlet_id: str
    url: str
    source_kind: SourceKind
    source_url: str
    title: str | None = None
    published_at: datetime | None = None
    author: str | None = None
    language: str | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class RawPage:
    """One HTTP response as received, before any interpretation.

    `headers` keeps every header with lower-cased names; `body` is the decoded transfer
    (after Content-Encoding), never re-encoded to text here.
    """

    requested_url: str
    final_url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: datetime
    redirects: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """Return the first header named `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, lower-cased."""
        value = self.header("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None


@dataclass(frozen=True, slots=True)
class ExtractedArticle:
    """What extraction found in one page, fused with the discovery metadata.

    `published_at` is timezone-aware UTC or None; `published_at_source` says where it came from.
    `text` is the main text with paragraphs separated by a blank line.
    """

    url: str
    canonical_url: str
    title: str | None
    text: str
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    published_at_source: DateSource | None = None
    language_hint: str | None = None
    site_name: str | None = None
    description: str | None = None
    categories: tuple[str, ...] = ()
    encoding: str | None = None


@dataclass(frozen=True, slots=True)
class TagEvidence:
    """One term that contributed to a topic tag, and where it matched."""

    term: str
    matched: str
    field: str  # "title" or "body"
    position: int  # character offset in that field
    weight: float


@dataclass(frozen=True, slots=True)
class TopicTag:
    """A topic assigned to an article, with the evidence that explains it."""

    topic: str
    score: float
    evidence: tuple[TagEvidence, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """An identified language (ISO 639-1) with a confidence in [0, 1]."""

    language: str
    confidence: float
