"""Discover an outlet's article links from its feeds, news sitemaps and section pages.

Every source is fetched through a `PageFetcher` (the live fetcher or an archive replay) and parsed
by the pure transforms. One broken source never fails the others: its error is recorded as a value
in the result, next to the new conditional-GET validators of every source that answered.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from connectors.http import PageFetcher, Purpose
from schemas.errors import MediamonError
from schemas.records import DiscoveredLink, Outlet, RawPage, SourceKind
from transforms.encoding import decode_html
from transforms.feeds import parse_feed
from transforms.sections import DEFAULT_PATTERN_BUDGET, extract_article_links
from transforms.sitemaps import SitemapEntry, parse_sitemap

__all__ = [
    "DateRange",
    "DiscoveryResult",
    "DiscoverySettings",
    "SourceOutcome",
    "discover_outlet",
]

logger = logging.getLogger(__name__)

Validators = tuple[str | None, str | None]  # (etag, last_modified)


@dataclass(frozen=True, slots=True)
class DateRange:
    """A half-open interval [start, end) of timezone-aware datetimes."""

    start: datetime
    end: datetime

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    """Bounds on one outlet's discovery: sitemap traversal (indexes can be deep and huge), links
    kept, and the time its article URL pattern may take on one section page."""

    max_sitemap_depth: int = 3
    max_sitemaps: int = 50
    max_links_per_outlet: int = 50_000
    pattern_budget: float = DEFAULT_PATTERN_BUDGET


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one feed, sitemap or section page gave: links, new validators, or an error."""

    kind: SourceKind
    url: str
    link_count: int = 0
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    error: MediamonError | None = None


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    """Links of one outlet, deduplicated across its sources, and the outcome of each source."""

    outlet_id: str
    links: tuple[DiscoveredLink, ...]
    sources: tuple[SourceOutcome, ...]

    @property
    def errors(self) -> tuple[SourceOutcome, ...]:
        """The sources that failed."""
        return tuple(source for source in self.sources if source.error is not None)

    @property
    def validators(self) -> dict[str, Validators]:
        """New (etag, last_modified) per source URL, for the next conditional GET."""
        return {
            source.url: (source.etag, source.last_modified)
            for source in self.sources
            if source.error is None and (source.etag or source.last_modified)
        }


def discover_outlet(
    outlet: Outlet,
    fetcher: PageFetcher,
    *,
    feed_state: Mapping[str, Validators] | None = None,
    date_range: DateRange | None = None,
    settings: DiscoverySettings | None = None,
) -> DiscoveryResult:
    """Return the article links of `outlet` found in its feeds, sitemaps and sections.

    `feed_state` maps a source URL to the (etag, last_modified) of its previous fetch; a source
    that answers 304 contributes no links and keeps its validators. Sitemap indexes are followed
    breadth-first up to `settings.max_sitemap_depth` levels and `settings.max_sitemaps` documents.
    With `date_range` (backfill), only links whose feed/news/lastmod date lies in [start, end)
    are kept, child sitemaps last modified before the start are skipped, undated links and
    section pages are left out, and no conditional headers are sent.

    A link found in several sources appears once: the first occurrence (feeds, then sitemaps,
    then sections) wins and later ones fill in the fields it lacks. Never raises for a
    source's failure; errors are in `result.sources`.
    """
    settings = settings or DiscoverySettings()
    state: Mapping[str, Validators] = {} if date_range is not None else (feed_state or {})
    collector = _Collector(settings.max_links_per_outlet)
    sources: list[SourceOutcome] = []
    _apply_outlet_rate(outlet, fetcher)

    for feed_url in outlet.feeds:
        outcome, page = _fetch_source(
            fetcher, SourceKind.FEED, feed_url, state, outlet.private_permission(feed_url), "feed"
        )
        if page is not None:
            try:
                links = parse_feed(
                    page.body,
                    outlet_id=outlet.id,
                    source_url=page.final_url,
                    content_type=page.header("content-type"),
                )
                kept = [link for link in links if _in_range(link.published_at, date_range)]
                outcome = dataclasses.replace(outcome, link_count=collector.add(kept))
            except MediamonError as error:
                outcome = dataclasses.replace(outcome, error=error)
        sources.append(outcome)

    sources.extend(_discover_sitemaps(outlet, fetcher, state, date_range, settings, collector))

    if date_range is None:
        for section_url in outlet.sections:
            outcome, page = _fetch_source(
                fetcher,
                SourceKind.SECTION,
                section_url,
                state,
                outlet.private_permission(section_url),
                "page",
            )
            if page is not None:
                try:
                    _text, encoding = decode_html(page.body, page.header("content-type"))
                    links = extract_article_links(
                        page.body,
                        base_url=page.final_url,
                        pattern=outlet.article_url_pattern,
                        outlet_id=outlet.id,
                        encoding=encoding,
                        pattern_budget=settings.pattern_budget,
                    )
                    outcome = dataclasses.replace(outcome, link_count=collector.add(links))
                except MediamonError as error:
                    outcome = dataclasses.replace(outcome, error=error)
            sources.append(outcome)

    for source in sources:
        if source.error is not None:
            logger.info(
                "discovery source failed outlet=%s source=%s kind=%s: %s",
                outlet.id,
                source.url,
                source.error.kind,
                source.error.message,
            )
    return DiscoveryResult(outlet_id=outlet.id, links=collector.links(), sources=tuple(sources))


def _discover_sitemaps(
    outlet: Outlet,
    fetcher: PageFetcher,
    state: Mapping[str, Validators],
    date_range: DateRange | None,
    settings: DiscoverySettings,
    collector: _Collector,
) -> list[SourceOutcome]:
    outcomes: list[SourceOutcome] = []
    # Bounded and de-duplicated: an index listing 700,000 children (or the same child 700,000
    # times) queues at most as many as will ever be visited, each URL once.
    queue = _SitemapQueue(settings.max_sitemaps)
    for url in outlet.sitemaps:
        queue.push(url, 0)
    while (item := queue.pop()) is not None:
        url, depth = item
        outcome, page = _fetch_source(
            fetcher, SourceKind.SITEMAP, url, state, outlet.private_permission(url), "sitemap"
        )
        if page is not None:
            try:
                result = parse_sitemap(
                    page.body,
                    outlet_id=outlet.id,
                    source_url=page.final_url,
                    max_children=queue.room,
                    max_entries=collector.room,
                )
                kept = [
                    entry.link for entry in result.entries if _entry_in_range(entry, date_range)
                ]
                outcome = dataclasses.replace(outcome, link_count=collector.add(kept))
                if depth + 1 > settings.max_sitemap_depth and result.children:
                    logger.info(
                        "sitemap depth limit outlet=%s sitemap=%s skipped=%d",
                        outlet.id,
                        url,
                        len(result.children),
                    )
                else:
                    for child in result.children:
                        stale = (
                            date_range is not None
                            and child.lastmod is not None
                            and child.lastmod < date_range.start
                        )
                        if not stale:
                            queue.push(child.url, depth + 1)
            except MediamonError as error:
                outcome = dataclasses.replace(outcome, error=error)
        outcomes.append(outcome)
    if queue.dropped:
        logger.info(
            "sitemap count limit outlet=%s limit=%d unvisited=%d",
            outlet.id,
            settings.max_sitemaps,
            queue.dropped,
        )
    return outcomes


class _SitemapQueue:
    """Breadth-first queue of (sitemap URL, depth): each URL once, never more than `limit` in all.

    Holds at most `limit` entries however many children the indexes list; the ones past the
    limit are only counted (`dropped`), never stored.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._known: set[str] = set()
        self._pending: deque[tuple[str, int]] = deque()
        self.dropped = 0

    def push(self, url: str, depth: int) -> None:
        if url in self._known:
            return
        if len(self._known) >= self._limit:
            self.dropped += 1
            return
        self._known.add(url)
        self._pending.append((url, depth))

    def pop(self) -> tuple[str, int] | None:
        return self._pending.popleft() if self._pending else None

    @property
    def room(self) -> int:
        """How many more sitemaps may still be queued."""
        return max(self._limit - len(self._known), 0)


def _apply_outlet_rate(outlet: Outlet, fetcher: PageFetcher) -> None:
    """Give every host of the outlet's sources the registry's request rate, when it has one.

    Only the live fetcher has per-host rates; a replay fetcher has nothing to be polite to.
    """
    set_host_rate = getattr(fetcher, "set_host_rate", None)
    if not outlet.requests_per_second or set_host_rate is None:
        return
    for url in {*outlet.feeds, *outlet.sitemaps, *outlet.sections}:
        set_host_rate(url, outlet.requests_per_second)


def _fetch_source(
    fetcher: PageFetcher,
    kind: SourceKind,
    url: str,
    state: Mapping[str, Validators],
    allow_private: bool | None,
    purpose: Purpose,
) -> tuple[SourceOutcome, RawPage | None]:
    """Fetch one source; (outcome, page) with page None when not modified or failed."""
    etag, last_modified = state.get(url, (None, None))
    try:
        page = fetcher.fetch(
            url,
            etag=etag,
            last_modified=last_modified,
            allow_private=allow_private,
            purpose=purpose,
        )
    except MediamonError as error:
        return SourceOutcome(kind=kind, url=url, error=error, etag=etag), None
    new_etag = page.header("etag") or (etag if page.status == 304 else None)
    new_modified = page.header("last-modified") or (last_modified if page.status == 304 else None)
    outcome = SourceOutcome(
        kind=kind,
        url=url,
        etag=new_etag,
        last_modified=new_modified,
        not_modified=page.status == 304,
    )
    return outcome, (None if page.status == 304 else page)


def _in_range(moment: datetime | None, date_range: DateRange | None) -> bool:
    return date_range is None or (moment is not None and moment in date_range)


def _entry_in_range(entry: SitemapEntry, date_range: DateRange | None) -> bool:
    return _in_range(entry.date, date_range)


class _Collector:
    """Links in first-seen order, one per URL, merging metadata from later sources."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._links: dict[str, DiscoveredLink] = {}

    def add(self, links: list[DiscoveredLink]) -> int:
        """Add links; return how many the source contributed (new or merged)."""
        for link in links:
            known = self._links.get(link.url)
            if known is None:
                if len(self._links) < self._limit:
                    self._links[link.url] = link
                continue
            missing = {
                name: getattr(link, name)
                for name in ("title", "published_at", "author", "language", "summary")
                if getattr(known, name) is None and getattr(link, name) is not None
            }
            if missing:
                self._links[link.url] = dataclasses.replace(known, **missing)
        return len(links)

    def links(self) -> tuple[DiscoveredLink, ...]:
        return tuple(self._links.values())

    @property
    def room(self) -> int:
        """How many more new links the outlet may still contribute."""
        return max(self._limit - len(self._links), 0)
