"""Pipeline stages: each composes connectors (I/O) with transforms (pure) for one step of the flow.

    discover -> fetch -> extract -> canonicalise -> fingerprint/cluster -> tag -> store -> index

Every stage is idempotent: it reads what is still to do from the store and writes keyed upserts, so
re-running a stage or a whole interval writes nothing new. One outlet's or one URL's failure is
recorded as that outlet's or URL's error and never stops the others.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import urlsplit

from sqlalchemy.exc import OperationalError

from connectors.archive import RawArchive
from connectors.discovery import DiscoveryResult, DiscoverySettings, discover_outlet
from connectors.http import Fetcher, FetchSettings
from connectors.search import IndexAction, SearchIndex, SearchSettings, SearchUnavailableError
from connectors.store import (
    PendingLink,
    Store,
    StoreRejectedError,
    StoreUnavailableError,
    capture_row,
)
from mediamon.settings import Settings
from mediamon.taxonomy_file import load_compiled_taxonomy
from schemas.errors import MediamonError, PermanentError
from schemas.records import Outlet, RawPage
from schemas.registry import parse_registry_text
from transforms.documents import article_index_for, build_article_document, build_story_document
from transforms.extraction import extract_article
from transforms.language import identify_language
from transforms.topics import CompiledTaxonomy, tag_topics

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC (the one place the pipeline reads it)."""
    return datetime.now(UTC)


@dataclass
class Services:
    """The connectors one run uses, opened from settings and closed together."""

    settings: Settings
    store: Store
    search: SearchIndex | None
    clock: Clock = utc_now

    @cached_property
    def fetcher(self) -> Fetcher:
        """The polite, safe HTTP fetcher shared by every stage of the run."""
        return Fetcher(
            FetchSettings(
                user_agent=self.settings.user_agent,
                allow_private=self.settings.allow_private,
                default_requests_per_second=self.settings.requests_per_second,
            )
        )

    @cached_property
    def archive(self) -> RawArchive:
        """The raw WARC archive."""
        return RawArchive(self.settings.archive_dir)

    @cached_property
    def taxonomy(self) -> CompiledTaxonomy:
        """The compiled topic taxonomy."""
        return load_compiled_taxonomy(self.settings.taxonomy_path)

    def close(self) -> None:
        """Release connections."""
        if "fetcher" in self.__dict__:
            self.fetcher.close()
        if self.search is not None:
            self.search.close()
        self.store.dispose()


@contextmanager
def open_services(settings: Settings, *, clock: Clock = utc_now) -> Iterator[Services]:
    """Open the store (migrated) and, when configured, the search index."""
    store = Store.open(settings.database_url)
    store.migrate()
    search = None
    if settings.search_url:
        search = SearchIndex(
            SearchSettings(
                url=settings.search_url,
                prefix=settings.search_prefix,
                username=settings.search_username,
                password=settings.search_password,
                api_key=settings.search_api_key,
            )
        )
    services = Services(settings, store, search, clock)
    try:
        yield services
    finally:
        services.close()


def load_outlets(settings: Settings, outlet_ids: Sequence[str] | None = None) -> list[Outlet]:
    """Read the registry and return the enabled outlets (optionally only the named ones)."""
    path = settings.registry_path
    outlets = parse_registry_text(path.read_text(encoding="utf-8"), source=str(path))
    chosen = [o for o in outlets if o.enabled]
    if outlet_ids:
        unknown = sorted(set(outlet_ids) - {o.id for o in outlets})
        if unknown:
            raise PermanentError(f"{path}: no outlet with id {', '.join(unknown)}", kind="config")
        chosen = [o for o in chosen if o.id in set(outlet_ids)]
    return chosen


@dataclass
class StageReport:
    """Counts of one stage run, and the errors it recorded (never raised)."""

    counts: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (where, kind, message)

    def add(self, key: str, amount: int = 1) -> None:
        """Increase a counter."""
        self.counts[key] = self.counts.get(key, 0) + amount

    def merge(self, other: StageReport) -> StageReport:
        """Add another report's counts and errors to this one."""
        for key, value in other.counts.items():
            self.add(key, value)
        self.errors.extend(other.errors)
        return self


def discover(services: Services, outlets: Sequence[Outlet]) -> StageReport:
    """Find article links in each outlet's feeds, sitemaps and sections; queue the new ones.

    Outlets are discovered concurrently (the fetcher keeps per-host politeness); their results
    are written in registry order, so the store sees the same sequence on every run.
    """
    report = StageReport()
    now = services.clock()
    validators = {}
    for outlet in outlets:
        services.store.upsert_outlet(outlet, now)
        validators[outlet.id] = services.store.source_validators(outlet.id)
    workers = max(1, min(services.settings.fetch_workers, len(outlets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="discover") as pool:
        futures = [
            pool.submit(
                discover_outlet,
                outlet,
                services.fetcher,
                feed_state=validators[outlet.id],
                settings=DiscoverySettings(
                    max_links_per_outlet=services.settings.max_links_per_outlet
                ),
            )
            for outlet in outlets
        ]
        for outlet, future in zip(outlets, futures, strict=True):
            _record_discovery(services, outlet, future.result(), services.clock(), report)
    return report


def _record_discovery(
    services: Services,
    outlet: Outlet,
    result: DiscoveryResult,
    now: datetime,
    report: StageReport,
) -> None:
    rejected: StoreRejectedError | None = None
    try:
        new = services.store.record_links(result.links, now)
    except StoreRejectedError as error:
        # A value the database refuses is this outlet's error, recorded on the sources that
        # gave links; the other outlets' links are written all the same.
        rejected, new = error, 0
    for source in result.sources:
        failure = source.error or (rejected if source.link_count else None)
        services.store.record_source_result(
            outlet.id,
            source.kind,
            source.url,
            now=now,
            error=failure,
            etag=source.etag,
            last_modified=source.last_modified,
            links=source.link_count,
        )
        if failure is not None:
            report.errors.append((f"{outlet.id} {source.url}", failure.kind, failure.message))
            log.warning(
                "discovery failed outlet=%s source=%s kind=%s: %s",
                outlet.id,
                source.url,
                failure.kind,
                failure.message,
            )
    report.add("links_seen", len(result.links))
    report.add("links_new", new)
    report.add("outlets")
    log.info("discovered outlet=%s links=%d new=%d", outlet.id, len(result.links), new)


def fetch_pending(
    services: Services,
    outlets: Sequence[Outlet],
    *,
    limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[StageReport, list[str]]:
    """Fetch, archive, extract, tag and store the pending links of the outlets.

    Each outlet gets at most `settings.max_fetches_per_outlet` links and
    `settings.outlet_time_budget` seconds per run (its links are fetched side by side with the
    other outlets'); the links left over stay pending for the next run and are counted
    (`links_deferred`). Returns the report and the ids of articles created or changed.
    """
    report = StageReport()
    by_id = {o.id: o for o in outlets}
    pending = services.store.pending_links([o.id for o in outlets], limit=limit)
    pending = _cap_per_outlet(pending, services.settings.max_fetches_per_outlet, report)
    changed: list[str] = []
    requests = [(item, by_id[item.link.outlet_id]) for item in pending]
    # A duration, not a timestamp: the monotonic clock, not services.clock.
    deadline = time.monotonic() + services.settings.outlet_time_budget
    unanswered = {item.id: item.link.outlet_id for item in pending}
    done = 0
    for (item, outlet), outcome in services.fetcher.fetch_many(
        requests,
        url_of=lambda request: request[0].link.url,
        options_of=lambda request: {
            "etag": request[0].etag,
            "last_modified": request[0].last_modified,
            "allow_private": _private_allowed(request[1], request[0].link.url) or None,
            "requests_per_second": request[1].requests_per_second,
        },
        max_workers=services.settings.fetch_workers,
        give_up=lambda _request: time.monotonic() > deadline,
    ):
        now = services.clock()
        unanswered.pop(item.id, None)
        done += 1
        if on_progress is not None:
            on_progress(done, len(requests))
        if isinstance(outcome, MediamonError):
            services.store.mark_link_failed(item.id, outcome, now)
            report.add(f"fetch_failed:{outcome.kind}")
            report.errors.append((item.link.url, outcome.kind, outcome.message))
            log.warning(
                "fetch failed outlet=%s url=%s kind=%s: %s",
                outlet.id,
                item.link.url,
                outcome.kind,
                outcome.message,
            )
            continue
        try:
            article_id = process_page(services, item, outcome, now, report)
        except StoreRejectedError as error:
            # The database refused this page's values: the link's error, not the run's.
            services.store.mark_link_failed(item.id, error, now)
            report.add(f"store_failed:{error.kind}")
            report.errors.append((item.link.url, error.kind, error.message))
            log.warning(
                "store refused outlet=%s url=%s: %s", outlet.id, item.link.url, error.message
            )
            continue
        if article_id:
            changed.append(article_id)
    _record_budget_left(unanswered, services.settings.outlet_time_budget, report)
    return report, changed


def _cap_per_outlet(
    pending: Sequence[PendingLink], cap: int, report: StageReport
) -> list[PendingLink]:
    """The first `cap` pending links of each outlet (oldest first); the rest wait, counted."""
    taken: dict[str, int] = {}
    kept: list[PendingLink] = []
    for item in pending:
        outlet_id = item.link.outlet_id
        if taken.get(outlet_id, 0) < cap:
            taken[outlet_id] = taken.get(outlet_id, 0) + 1
            kept.append(item)
    deferred = Counter(item.link.outlet_id for item in pending) - Counter(taken)
    for outlet_id, count in sorted(deferred.items()):
        report.add("links_deferred", count)
        log.info("fetch cap outlet=%s cap=%d deferred=%d", outlet_id, cap, count)
    return kept


def _record_budget_left(unanswered: dict[str, str], budget: float, report: StageReport) -> None:
    """Count, per outlet, the links its time budget left unfetched (still pending in the store)."""
    for outlet_id, count in sorted(Counter(unanswered.values()).items()):
        report.add("links_deferred", count)
        report.errors.append(
            (
                outlet_id,
                "time-budget",
                f"{count} links left for the next run after the {budget:.0f} s budget",
            )
        )
        log.warning("time budget spent outlet=%s budget=%.0f deferred=%d", outlet_id, budget, count)


def _origin(url: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "", parts.port)
    except ValueError:
        return None


def _private_allowed(outlet: Outlet, url: str) -> bool:
    """Whether `url` may reach private addresses: only on the outlet's own configured hosts.

    `allow_private` trusts the hosts an analyst put in the registry; a feed of such an outlet
    listing another private host (or the metadata service) must not turn the crawler into a
    proxy into the network it runs in.
    """
    if not outlet.allow_private:
        return False
    own = {_origin(u) for u in (outlet.homepage, *outlet.feeds, *outlet.sitemaps, *outlet.sections)}
    return _origin(url) in own - {None}


def process_page(
    services: Services, item: PendingLink, page: RawPage, now: datetime, report: StageReport
) -> str | None:
    """Archive, extract, tag and store one fetched page; return the article id if it changed."""
    if page.status == 304:
        services.store.mark_link_fetched(
            item.id, article_id=None, etag=item.etag, last_modified=item.last_modified, now=now
        )
        report.add("not_modified")
        return None
    ref = services.archive.store(page)
    capture = capture_row(
        page, warc_path=ref.warc_path, offset=ref.offset, length=ref.length, sha256=ref.sha256
    )
    services.store.save_capture(capture)
    report.add("fetched")
    try:
        article = extract_article(page, item.link, now=now)
    except MediamonError as error:
        services.store.mark_link_failed(item.id, error, now)
        report.add(f"extract_failed:{error.kind}")
        report.errors.append((item.link.url, error.kind, error.message))
        return None
    language = identify_language(
        f"{article.title or ''}\n{article.text}", hint=article.language_hint
    )
    saved = services.store.save_article(
        item.link.outlet_id, article, capture_id=capture.id, now=now, language=language
    )
    tags = tag_topics(
        services.taxonomy, title=article.title, text=article.text, language=language.language
    )
    tags_changed = services.store.save_tags(saved.article_id, tags)
    services.store.mark_link_fetched(
        item.id,
        article_id=saved.article_id,
        etag=page.header("etag"),
        last_modified=page.header("last-modified"),
        now=now,
    )
    if saved.created:
        report.add("articles_new")
    elif saved.changed:
        report.add("versions_new")
    if saved.changed or tags_changed:
        return saved.article_id
    return None


def cluster(services: Services, article_ids: Sequence[str]) -> StageReport:
    """Assign articles to stories (copies across outlets) and elect each story's origin."""
    from mediamon.clustering import assign_stories

    report = StageReport()
    # A run killed between storing articles and clustering them leaves them without a story
    # (or with a fingerprint of an older version) and no longer pending anywhere else: pick them up.
    stale = _unclustered_article_ids(services)
    article_ids = sorted(set(article_ids) | set(stale))
    if not article_ids:
        return report
    if stale:
        report.add("stories_recovered", len(stale))
    try:
        result = assign_stories(services.store.engine, article_ids, now=services.clock())
    except OperationalError as error:
        # clustering runs its own transactions on the engine; an outage is transient like
        # every other store outage (the next run re-clusters what is left, see above)
        reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
        raise StoreUnavailableError(f"database unavailable while clustering: {reason}") from error
    for item in fields(result):
        value = getattr(result, item.name)
        if isinstance(value, int):
            report.add(f"stories_{item.name}", value)
    return report


def _unclustered_article_ids(services: Services) -> list[str]:
    """Articles without a story or whose fingerprint is not of their current version."""
    from sqlalchemy import select

    from schemas import tables as t

    a, f, m = t.articles.c, t.fingerprints.c, t.story_members.c
    query = (
        select(a.id)
        .outerjoin(t.fingerprints, f.article_id == a.id)
        .outerjoin(t.story_members, m.article_id == a.id)
        .where(
            (f.article_id.is_(None))
            | (f.version_id != a.current_version_id)
            | (m.article_id.is_(None))
        )
        .order_by(a.id)
    )
    with services.store.begin() as conn:
        return list(conn.execute(query).scalars())


def index_pending(services: Services, *, batch_size: int = 500) -> StageReport:
    """Send every article and story whose stored state is newer than the index, in batches.

    A document the cluster did not confirm stays pending; an unreachable cluster leaves everything
    pending and is reported, never raised, so ingestion is never blocked by the index.
    """
    report = StageReport()
    search = services.search
    if search is None:
        report.add("index_skipped")
        return report
    try:
        search.ensure_layout()
        while True:
            # A window of many batches: the next batch is read and built while one is in flight.
            ids = services.store.pending_article_ids(limit=batch_size * 20)
            if not ids:
                break
            if not _index_article_window(services, search, ids, batch_size, report):
                break
        _delete_tombstoned_stories(services, search, report, batch_size)
        while True:
            ids = services.store.pending_story_ids(limit=batch_size)
            if not ids:
                break
            if not _index_stories(services, search, ids, report):
                break
    except SearchUnavailableError as error:
        report.add("index_unavailable")
        report.errors.append(("search", error.kind, error.message))
        log.warning("search index unavailable, documents stay pending: %s", error.message)
    return report


@dataclass(frozen=True)
class _ArticleBatch:
    actions: list[IndexAction]
    sent_versions: dict[str, tuple[int, str]]


def _prepare_article_batch(
    services: Services, search: SearchIndex, ids: Sequence[str]
) -> _ArticleBatch:
    """Read a batch of articles from the store and build their index actions."""
    rows = services.store.load_article_documents(ids)
    origins = {row["origin_article_id"] for row in rows if row.get("origin_article_id")}
    origin_outlets = services.store.outlets_of(sorted(origins)) if origins else {}
    actions: list[IndexAction] = []
    sent_versions: dict[str, tuple[int, str]] = {}
    for row in rows:
        index = article_index_for(search.prefix, row)
        doc = build_article_document(
            row, origin_outlet=origin_outlets.get(row.get("origin_article_id") or "")
        )
        actions.append(IndexAction(index, row["id"], doc))
        previous = row.get("indexed_index")
        if previous and previous != index:
            # The publication month changed: the document moves, the old copy goes.
            actions.append(IndexAction(previous, row["id"], None))
        sent_versions[row["id"]] = (row["index_version"], index)
    return _ArticleBatch(actions, sent_versions)


def _index_article_window(
    services: Services,
    search: SearchIndex,
    ids: Sequence[str],
    batch_size: int,
    report: StageReport,
) -> int:
    """Index `ids` in batches; return how many articles the cluster confirmed.

    While one batch is in flight (the thread waits on the network), a helper thread reads and
    builds the next one from the store, so the store adds little to the bulk time.
    """
    chunks = [list(ids[start : start + batch_size]) for start in range(0, len(ids), batch_size)]
    confirmed_total = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-prepare") as pool:
        upcoming = pool.submit(_prepare_article_batch, services, search, chunks[0])
        for number in range(len(chunks)):
            batch = upcoming.result()
            if number + 1 < len(chunks):
                upcoming = pool.submit(_prepare_article_batch, services, search, chunks[number + 1])
            outcome = search.bulk(batch.actions)
            failed_ids = {action.doc_id for action, _ in outcome.failed}
            for action, reason in outcome.failed:
                report.errors.append(
                    (f"index {action.index}/{action.doc_id}", "index-item", reason)
                )
            confirmed = {
                key: value for key, value in batch.sent_versions.items() if key not in failed_ids
            }
            services.store.mark_articles_indexed(confirmed)
            report.add("articles_indexed", len(confirmed))
            report.add("articles_index_failed", len(failed_ids))
            confirmed_total += len(confirmed)
    return confirmed_total


def _delete_tombstoned_stories(
    services: Services, search: SearchIndex, report: StageReport, batch_size: int
) -> None:
    """Delete story documents whose story no longer exists (re-keyed by a new origin)."""
    from transforms.documents import story_index_for

    index = story_index_for(search.prefix)
    while True:
        ids = services.store.tombstones("story", limit=batch_size)
        if not ids:
            return
        outcome = search.bulk([IndexAction(index, doc_id, None) for doc_id in ids])
        done = [action.doc_id for action in outcome.succeeded]
        services.store.clear_tombstones("story", done)
        report.add("stories_deleted_from_index", len(done))
        if not done:
            return


def _index_stories(
    services: Services, search: SearchIndex, ids: Sequence[str], report: StageReport
) -> int:
    from transforms.documents import story_index_for

    stories = services.store.load_story_documents(ids)
    member_ids = sorted({m["article_id"] for s in stories for m in s["members"]})
    topics = services.store.topics_of(member_ids)
    index = story_index_for(search.prefix)
    actions = [IndexAction(index, s["id"], build_story_document(s, topics)) for s in stories]
    outcome = search.bulk(actions)
    failed_ids = {action.doc_id for action, _ in outcome.failed}
    for action, reason in outcome.failed:
        report.errors.append((f"index {action.index}/{action.doc_id}", "index-item", reason))
    confirmed = {s["id"]: s["index_version"] for s in stories if s["id"] not in failed_ids}
    services.store.mark_stories_indexed(confirmed)
    report.add("stories_indexed", len(confirmed))
    return len(confirmed)


def ingest(
    services: Services,
    outlets: Sequence[Outlet],
    *,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> StageReport:
    """One full pass: discover, fetch/extract/tag/store, cluster, index."""
    report = StageReport()
    report.merge(discover(services, outlets))
    fetched, changed = fetch_pending(
        services,
        outlets,
        on_progress=(lambda done, total: on_progress("fetch", done, total))
        if on_progress
        else None,
    )
    report.merge(fetched)
    report.merge(cluster(services, changed))
    report.merge(index_pending(services))
    return report
