"""The pipeline's stages, each written once: discover, fetch, extract, tag, cluster, index.

    discover -> fetch (archive, extract, canonicalise, tag, store) -> cluster -> index

Every stage takes the services and an explicit selection (the outlets, and a `Window` or None
for what the sources list now) and returns a `StageReport`: counts, the typed errors it recorded
(never raised) and the articles it changed. A live ingest, a backfill and an Airflow catch-up
call the same functions through `mediamon.runner.run_plan`; only their plan differs.

Every stage is idempotent: it reads what is still to do from the store and writes keyed upserts,
so re-running a stage or a whole interval writes nothing new. One outlet's or one URL's failure
is recorded as that outlet's or URL's error and never stops the others. A store outage raises
`StoreUnavailableError` (transient: the run is retried, and resumes from its checkpoint).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.archive import CaptureRef, ReplayFetcher
from connectors.discovery import DateRange, DiscoveryResult, DiscoverySettings, discover_outlet
from connectors.http.errors import HttpClientError
from connectors.search import IndexAction, SearchIndex, SearchUnavailableError
from connectors.store import PendingLink, StoreRejectedError, WindowLink, capture_row
from mediamon.plans import Window
from mediamon.services import Services
from schemas.errors import MediamonError, PermanentError, TransientError
from schemas.records import Outlet, RawPage
from transforms.documents import (
    article_index_for,
    build_article_document,
    build_story_document,
    story_index_for,
)
from transforms.extraction import extract_article
from transforms.language import identify_language
from transforms.topics import tag_topics

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
# Items processed between two checkpoint writes (a crash repeats at most this many, as no-ops).
CHECKPOINT_EVERY = 8


@dataclass(frozen=True, slots=True)
class StageError:
    """One recorded failure: where it happened (an outlet source, a URL, the index) and the error.

    The error keeps its type, so whoever reads the report (the DAG tasks) decides retry or
    fail by type (`schemas.errors.retry_action`), never by re-reading its kind.
    """

    where: str
    error: MediamonError

    @property
    def kind(self) -> str:
        """The error's machine-readable kind."""
        return self.error.kind

    @property
    def message(self) -> str:
        """The error's human-readable reason."""
        return self.error.message


@dataclass
class StageReport:
    """Counts of one stage run, the errors it recorded and the articles it created or changed."""

    counts: dict[str, int] = field(default_factory=dict)
    errors: list[StageError] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def add(self, key: str, amount: int = 1) -> None:
        """Increase a counter."""
        self.counts[key] = self.counts.get(key, 0) + amount

    def record(self, where: str, error: MediamonError) -> None:
        """Record a failure (it is reported, never raised).

        The error is kept as a value: its traceback (and those of its causes) is dropped, since
        their frames would keep every page and parser of the failed call alive with the report.
        """
        cause: BaseException | None = error
        for _ in range(20):  # chains are short; the bound guards against cycles
            if cause is None:
                break
            cause.__traceback__ = None
            cause = cause.__cause__ or cause.__context__
        self.errors.append(StageError(where, error))

    def merge(self, other: StageReport) -> StageReport:
        """Add another report's counts, errors and changed articles to this one."""
        for key, value in other.counts.items():
            self.add(key, value)
        self.errors.extend(other.errors)
        self.changed.extend(other.changed)
        return self


class ItemCursor(Protocol):
    """Where a stage over many items resumes; the runner's checkpoint is one."""

    def resume_after(self, stage: str) -> str | None:
        """The last key whose work finished in a previous attempt, if any."""
        ...

    def advance(self, stage: str, key: str, progress: StageReport) -> None:
        """Record that the work of every key up to `key` finished (`progress`: counts so far)."""
        ...


# --- discover -----------------------------------------------------------------------------


def discover(
    services: Services, outlets: Sequence[Outlet], window: Window | None = None
) -> StageReport:
    """Find article links in each outlet's feeds, sitemaps and sections; queue the new ones.

    Without a window: what the sources list now, with conditional GETs (validators kept per
    source). With one: only entries dated inside it (archive sitemaps too), without conditional
    headers, so the scheduled runs' validators stay as they are. Outlets are discovered
    concurrently (the fetcher keeps per-host politeness); results are written in registry order.
    """
    report = StageReport()
    now = services.clock()
    date_range = DateRange(window.start, window.end) if window is not None else None
    validators = {}
    for outlet in outlets:
        services.store.upsert_outlet(outlet, now)
        if window is None:
            validators[outlet.id] = services.store.source_validators(outlet.id)
    workers = max(1, min(services.settings.fetch_workers, len(outlets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="discover") as pool:
        futures = [
            pool.submit(
                discover_outlet,
                outlet,
                services.fetcher,
                feed_state=validators.get(outlet.id),
                date_range=date_range,
                settings=DiscoverySettings(
                    max_links_per_outlet=services.settings.max_links_per_outlet
                ),
            )
            for outlet in outlets
        ]
        for outlet, future in zip(outlets, futures, strict=True):
            _record_discovery(services, outlet, future.result(), window, report)
    return report


def _record_discovery(
    services: Services,
    outlet: Outlet,
    result: DiscoveryResult,
    window: Window | None,
    report: StageReport,
) -> None:
    now = services.clock()
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
            etag=source.etag if window is None else None,
            last_modified=source.last_modified if window is None else None,
            links=source.link_count,
        )
        if failure is not None:
            report.record(f"{outlet.id} {source.url}", failure)
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
    log.info(
        "discovered outlet=%s links=%d new=%d window=%s",
        outlet.id,
        len(result.links),
        new,
        _describe(window),
    )


# --- fetch (and everything a fetched page goes through) -----------------------------------


def fetch_pending(
    services: Services,
    outlets: Sequence[Outlet],
    window: Window | None = None,
    *,
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> StageReport:
    """Fetch, archive, extract, tag and store the pending links of the outlets.

    Without a window: the pending links, oldest first. With one: the window's links never
    fetched (the queue status is the checkpoint: a fetched link is no longer pending, so a
    resumed run only fetches what is still missing). Either way each outlet gets at most
    `settings.max_fetches_per_outlet` links and `settings.outlet_time_budget` seconds per run
    (its links are fetched side by side with the other outlets'); the links left over stay
    pending for the next run and are counted (`links_deferred`). `report.changed` lists the
    articles that were created or changed.
    """
    report = StageReport()
    by_id = {o.id: o for o in outlets}
    if window is None:
        pending = services.store.pending_links(list(by_id), limit=limit)
    else:
        pending = [
            item.as_pending()
            for item in services.store.links_in_window(window.start, window.end, list(by_id))
            if item.status == "pending"
        ]
    pending = _cap_per_outlet(pending, services.settings.max_fetches_per_outlet, report)
    # Revisits come after the new links, in what the per-outlet cap leaves over.
    pending += _due_revisits(services, outlets, window, pending, report)
    requests = [(item, by_id[item.link.outlet_id]) for item in pending]
    # A duration, not a timestamp: the monotonic clock, not services.clock.
    deadline = time.monotonic() + services.settings.outlet_time_budget
    unanswered = {item.id: item.link.outlet_id for item in pending}
    if on_progress is not None:
        on_progress("fetch", 0, len(requests))
    for done, ((item, outlet), outcome) in enumerate(
        services.fetcher.fetch_many(
            requests,
            url_of=lambda request: request[0].link.url,
            options_of=lambda request: {
                "etag": request[0].etag,
                "last_modified": request[0].last_modified,
                "allow_private": request[1].private_permission(request[0].link.url),
                "requests_per_second": request[1].requests_per_second,
            },
            max_workers=services.settings.fetch_workers,
            give_up=lambda _request: time.monotonic() > deadline,
        ),
        start=1,
    ):
        now = services.clock()
        unanswered.pop(item.id, None)
        if item.revisit_step is not None and isinstance(outcome, MediamonError):
            _record_revisit_failure(services, item, outcome, now, report)
        elif isinstance(outcome, MediamonError):
            services.store.mark_link_failed(item.id, outcome, now)
            report.add(f"fetch_failed:{outcome.kind}")
            report.record(item.link.url, outcome)
            log.warning(
                "fetch failed outlet=%s url=%s kind=%s: %s",
                outlet.id,
                item.link.url,
                outcome.kind,
                outcome.message,
            )
        else:
            _store_page(services, item, outlet, outcome, now, report)
        if on_progress is not None:
            on_progress("fetch", done, len(requests))
    _record_budget_left(unanswered, services.settings.outlet_time_budget, report)
    return report


def _store_page(
    services: Services,
    item: PendingLink,
    outlet: Outlet,
    page: RawPage,
    now: datetime,
    report: StageReport,
) -> None:
    try:
        article_id = process_page(services, item, page, now, report)
    except StoreRejectedError as error:
        # The database refused this page's values: the link's error, not the run's.
        services.store.mark_link_failed(item.id, error, now)
        report.add(f"store_failed:{error.kind}")
        report.record(item.link.url, error)
        log.warning("store refused outlet=%s url=%s: %s", outlet.id, item.link.url, error.message)
        return
    if article_id:
        report.changed.append(article_id)


def _due_revisits(
    services: Services,
    outlets: Sequence[Outlet],
    window: Window | None,
    taken: Sequence[PendingLink],
    report: StageReport,
) -> list[PendingLink]:
    """Articles whose next revisit age has passed (by now, or by the window's end if earlier).

    Each outlet gets what its per-run fetch cap leaves after its new links; the rest stay due
    for the next run (`revisits_deferred`).
    """
    now = services.clock()
    until = now if window is None else min(window.end, now)
    schedules = {outlet.id: services.settings.revisit_schedule(outlet) for outlet in outlets}
    due = services.store.due_revisits(schedules, until=until)
    used = Counter(item.link.outlet_id for item in taken)
    cap = services.settings.max_fetches_per_outlet
    chosen: list[PendingLink] = []
    for item in due:
        if used[item.link.outlet_id] >= cap:
            report.add("revisits_deferred")
            continue
        used[item.link.outlet_id] += 1
        chosen.append(item)
    if chosen:
        report.add("revisits_due", len(chosen))
        log.info("revisits due=%d until=%s window=%s", len(chosen), until, _describe(window))
    return chosen


def _record_revisit_failure(
    services: Services, item: PendingLink, error: MediamonError, now: datetime, report: StageReport
) -> None:
    """A revisit that got no page: 404/410 is a removal (an event); a transient error retries
    the same step next run; any other permanent error spends the step. The article stays."""
    status = getattr(error, "status", None)
    if isinstance(error, HttpClientError) and status in (404, 410) and item.article_id:
        if services.store.record_removal(
            item.article_id, link_id=item.id, status=status, url=item.link.url, now=now
        ):
            report.add("articles_removed")
            report.changed.append(item.article_id)
        log.info(
            "article removed outlet=%s url=%s status=%s", item.link.outlet_id, item.link.url, status
        )
        return
    report.add(f"revisit_failed:{error.kind}")
    report.record(item.link.url, error)
    if not isinstance(error, TransientError) and item.revisit_step is not None:
        services.store.mark_revisit_step(item.id, item.revisit_step, now)
    log.warning(
        "revisit failed outlet=%s url=%s kind=%s: %s",
        item.link.outlet_id,
        item.link.url,
        error.kind,
        error.message,
    )


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
        # Transient: the next run fetches them; recorded, never raised.
        left = f"{count} links left for the next run after the {budget:.0f} s budget"
        report.record(outlet_id, TransientError(left, kind="time-budget"))
        log.warning("time budget spent outlet=%s budget=%.0f deferred=%d", outlet_id, budget, count)


def process_page(
    services: Services, item: PendingLink, page: RawPage, now: datetime, report: StageReport
) -> str | None:
    """Archive, extract, tag and store one fetched page; return the article id if it changed.

    On a revisit (`item.revisit_step` set) an unchanged article writes nothing but the step; an
    edited one adds a version and is re-tagged (and re-clustered by the run, which gets its id).
    """
    revisit = item.revisit_step is not None
    if page.status == 304:
        services.store.mark_link_fetched(
            item.id,
            article_id=None,
            etag=item.etag,
            last_modified=item.last_modified,
            now=now,
            revisit_step=item.revisit_step,
        )
        report.add("revisits_not_modified" if revisit else "not_modified")
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
        if revisit and item.revisit_step is not None:
            # The stored article stays as it was; the step is spent.
            services.store.mark_revisit_step(item.id, item.revisit_step, now)
        else:
            services.store.mark_link_failed(item.id, error, now)
        report.add(f"extract_failed:{error.kind}")
        report.record(item.link.url, error)
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
        revisit_step=item.revisit_step,
    )
    if revisit:
        report.add("revisits_changed" if saved.changed else "revisits_unchanged")
    if saved.created:
        report.add("articles_new")
    elif saved.changed:
        report.add("versions_new")
    if saved.changed or tags_changed:
        return saved.article_id
    return None


# --- extract (again, from the archive) ----------------------------------------------------


def extract(
    services: Services,
    outlets: Sequence[Outlet],
    window: Window,
    *,
    cursor: ItemCursor | None = None,
    on_progress: ProgressCallback | None = None,
) -> StageReport:
    """Re-extract every archived page of the window from the raw archive, without the network.

    An unchanged extraction writes nothing; a changed one (a better extractor) adds a version and
    marks the article for re-indexing.
    """
    report = StageReport()
    replay = ReplayFetcher(services.archive, lambda url: _capture_ref(services, url))
    links = [
        item
        for item in services.store.links_in_window(window.start, window.end, _ids(outlets))
        if item.status == "fetched"
    ]
    _over_items(
        "extract",
        [item.id for item in links],
        lambda index: _reextract(services, replay, links[index], report),
        cursor,
        report,
        on_progress,
    )
    return report


def _capture_ref(services: Services, url: str) -> CaptureRef | None:
    capture = services.store.capture_for_url(url)
    if capture is None:
        return None
    return CaptureRef(
        warc_path=capture.warc_path,
        offset=capture.warc_offset,
        length=capture.warc_length,
        sha256=capture.body_sha256,
    )


def _reextract(
    services: Services, replay: ReplayFetcher, item: WindowLink, report: StageReport
) -> None:
    try:
        page = replay.fetch(item.link.url)
    except MediamonError as error:
        report.add(f"extract_skipped:{error.kind}")
        return
    if page.status != 200:
        report.add("extract_skipped:status")
        return
    capture = services.store.capture_for_url(item.link.url)
    try:
        # The capture's own time bounds the publication date, as it did when it was fetched.
        article = extract_article(page, item.link, now=page.fetched_at)
    except MediamonError as error:
        report.add(f"extract_failed:{error.kind}")
        report.record(item.link.url, error)
        return
    language = identify_language(
        f"{article.title or ''}\n{article.text}", hint=article.language_hint
    )
    saved = services.store.save_article(
        item.link.outlet_id,
        article,
        capture_id=capture.id if capture else None,
        now=services.clock(),
        language=language,
    )
    report.add("extracted")
    if saved.created:
        report.add("articles_new")
    elif saved.changed:
        report.add("versions_new")
    if saved.changed:
        report.changed.append(saved.article_id)


# --- tag (again, from stored text) --------------------------------------------------------


def tag(
    services: Services,
    outlets: Sequence[Outlet],
    window: Window,
    *,
    cursor: ItemCursor | None = None,
    on_progress: ProgressCallback | None = None,
) -> StageReport:
    """Re-tag every article of the window from its stored text (a changed taxonomy re-indexes)."""
    report = StageReport()
    article_ids = articles_in_window(services, outlets, window)

    def tag_one(index: int) -> None:
        stored = services.store.article_text(article_ids[index])
        if stored is None:
            return
        title, text, language = stored
        tags = tag_topics(services.taxonomy, title=title, text=text, language=language)
        if services.store.save_tags(article_ids[index], tags):
            report.add("tags_changed")
        report.add("tagged")

    _over_items("tag", article_ids, tag_one, cursor, report, on_progress)
    return report


# --- cluster ------------------------------------------------------------------------------


def cluster(
    services: Services,
    article_ids: Sequence[str] = (),
    *,
    outlets: Sequence[Outlet] = (),
    window: Window | None = None,
    cursor: ItemCursor | None = None,
    on_progress: ProgressCallback | None = None,
) -> StageReport:
    """Assign articles to stories (copies across outlets) and elect each story's origin.

    Without a window: `article_ids` plus every article a killed run left without a story (or
    with the fingerprint of an older version), in one pass. With one: the window's articles in
    checkpointed batches (an earlier copy found now re-elects origins); stragglers outside the
    window are picked up by the `index` stage of the same run.
    """
    from mediamon.clustering import assign_stories  # numpy and the sentence encoder: lazily

    report = StageReport()
    if window is None:
        stale = services.store.articles_without_current_story()
        chosen = sorted(set(article_ids) | set(stale))
        if not chosen:
            return report
        if stale:
            report.add("stories_recovered", len(stale))
        with services.store.translate_outages("clustering"):
            result = assign_stories(services.store.engine, chosen, now=services.clock())
        for key, value in result.as_dict().items():
            report.add(f"stories_{key}", value)
        return report

    in_window = articles_in_window(services, outlets, window)
    batches = [
        in_window[i : i + CHECKPOINT_EVERY] for i in range(0, len(in_window), CHECKPOINT_EVERY)
    ]

    def cluster_batch(index: int) -> None:
        with services.store.translate_outages("clustering"):
            result = assign_stories(services.store.engine, batches[index], now=services.clock())
        for key, value in result.as_dict().items():
            report.add(f"stories_{key}", value)

    _over_items(
        "cluster",
        [chunk[0] for chunk in batches],
        cluster_batch,
        cursor,
        report,
        on_progress,
        every=1,
        scale=CHECKPOINT_EVERY,
        total_items=len(in_window),
    )
    return report


# --- index --------------------------------------------------------------------------------


def index_pending(
    services: Services, window: Window | None = None, *, batch_size: int = 500
) -> StageReport:
    """Send every article and story whose stored state is newer than the index, in batches.

    A windowed run first clusters the articles no run has clustered yet (e.g. outside its window
    after a crash), so the index gets their final state too. A document the cluster did not
    confirm stays pending; an unreachable cluster leaves everything pending and is reported,
    never raised, so ingestion is never blocked by the index.
    """
    report = StageReport()
    if window is not None:
        report.merge(cluster(services))
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
        report.record("search", error)
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
        index_name = article_index_for(search.prefix, row)
        doc = build_article_document(
            row, origin_outlet=origin_outlets.get(row.get("origin_article_id") or "")
        )
        actions.append(IndexAction(index_name, row["id"], doc))
        previous = row.get("indexed_index")
        if previous and previous != index_name:
            # The publication month changed: the document moves, the old copy goes.
            actions.append(IndexAction(previous, row["id"], None))
        sent_versions[row["id"]] = (row["index_version"], index_name)
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
            _record_index_failures(outcome.failed, report)
            confirmed = {
                key: value for key, value in batch.sent_versions.items() if key not in failed_ids
            }
            services.store.mark_articles_indexed(confirmed)
            report.add("articles_indexed", len(confirmed))
            report.add("articles_index_failed", len(failed_ids))
            confirmed_total += len(confirmed)
    return confirmed_total


def _record_index_failures(failed: Sequence[tuple[IndexAction, str]], report: StageReport) -> None:
    # A document the cluster refused (mapping conflict, too large) fails the same way next
    # time: permanent; it stays pending in the store, so a fixed mapping picks it up.
    for action, reason in failed:
        report.record(
            f"index {action.index}/{action.doc_id}", PermanentError(reason, kind="index-item")
        )


def _delete_tombstoned_stories(
    services: Services, search: SearchIndex, report: StageReport, batch_size: int
) -> None:
    """Delete story documents whose story no longer exists (re-keyed by a new origin)."""
    index_name = story_index_for(search.prefix)
    while True:
        ids = services.store.tombstones("story", limit=batch_size)
        if not ids:
            return
        outcome = search.bulk([IndexAction(index_name, doc_id, None) for doc_id in ids])
        done = [action.doc_id for action in outcome.succeeded]
        services.store.clear_tombstones("story", done)
        report.add("stories_deleted_from_index", len(done))
        if not done:
            return


def _index_stories(
    services: Services, search: SearchIndex, ids: Sequence[str], report: StageReport
) -> int:
    stories = services.store.load_story_documents(ids)
    member_ids = sorted({m["article_id"] for s in stories for m in s["members"]})
    topics = services.store.topics_of(member_ids)
    index_name = story_index_for(search.prefix)
    actions = [IndexAction(index_name, s["id"], build_story_document(s, topics)) for s in stories]
    outcome = search.bulk(actions)
    failed_ids = {action.doc_id for action, _ in outcome.failed}
    _record_index_failures(outcome.failed, report)
    confirmed = {s["id"]: s["index_version"] for s in stories if s["id"] not in failed_ids}
    services.store.mark_stories_indexed(confirmed)
    report.add("stories_indexed", len(confirmed))
    return len(confirmed)


# --- selections ---------------------------------------------------------------------------


def articles_in_window(services: Services, outlets: Sequence[Outlet], window: Window) -> list[str]:
    """Articles published in the window, plus those of the window's links (sorted, unique)."""
    outlet_ids = _ids(outlets)
    published = services.store.article_ids(
        published_from=window.start, published_to=window.end, outlet_ids=outlet_ids
    )
    links = services.store.links_in_window(window.start, window.end, outlet_ids)
    return sorted(set(published) | {item.article_id for item in links if item.article_id})


def _ids(outlets: Sequence[Outlet]) -> list[str]:
    return [outlet.id for outlet in outlets]


def _describe(window: Window | None) -> str:
    return "live" if window is None else f"{window.start.isoformat()}..{window.end.isoformat()}"


def _over_items(
    stage: str,
    keys: Sequence[str],
    work: Callable[[int], object],
    cursor: ItemCursor | None,
    report: StageReport,
    on_progress: ProgressCallback | None,
    *,
    every: int = CHECKPOINT_EVERY,
    scale: int = 1,
    total_items: int | None = None,
) -> None:
    """Run `work(i)` for each key in order, from the cursor on, advancing it regularly.

    `keys` are sorted ids; the cursor is the last key whose work finished, so a resumed run
    continues after it (and repeats at most `every` items, which are no-ops).
    """
    total = total_items if total_items is not None else len(keys)
    last = cursor.resume_after(stage) if cursor is not None else None
    start = 0
    if last is not None:
        start = bisect_right(keys, last)
        report.add(f"{stage}_resumed_after", start * scale)
    if on_progress is not None:
        on_progress(stage, min(start * scale, total), total)
    for position in range(start, len(keys)):
        work(position)
        if cursor is not None and ((position + 1) % every == 0 or position + 1 == len(keys)):
            cursor.advance(stage, keys[position], report)
        if on_progress is not None:
            on_progress(stage, min((position + 1) * scale, total), total)
