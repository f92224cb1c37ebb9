"""Backfill: (re)build a date range through the pipeline, resumable and idempotent.

    discover  sitemaps/feeds whose entries are dated in the range (plus what the store holds)
    fetch     links of the range never fetched (archived, extracted, tagged, stored on the way)
    extract   re-extract every archived page of the range from the raw archive (no network)
    tag       re-tag every article of the range from its stored text
    cluster   (re)assign the range's articles to stories, re-electing origins
    index     send every pending document to the search index (the store's outbox)

Every write is a keyed upsert, so running the same range twice writes nothing the second time.
Progress is checkpointed in the `runs` row whose id derives from the range, outlets and stages
(`transforms.ids.run_id`): a backfill that crashed resumes at the stage (and item) it reached;
a finished one runs again from the start, as a no-op. The Airflow DAG `mediamon_backfill` and the
`mediamon backfill` command both call `run_backfill`.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from connectors.archive import CaptureRef, ReplayFetcher
from connectors.discovery import DateRange, discover_outlet
from connectors.store import PendingLink, RunRecord, StoreUnavailableError, WindowLink
from mediamon.pipeline import Services, StageReport, cluster, index_pending
from schemas.errors import MediamonError, PermanentError
from schemas.records import Outlet
from transforms import ids
from transforms.extraction import extract_article
from transforms.language import identify_language
from transforms.topics import tag_topics

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("discover", "fetch", "extract", "cluster", "tag", "index")
# Execution order: tags only depend on text, clusters only on text, so both follow extraction;
# indexing goes last so that one pass sends the final state.
_ORDER: tuple[str, ...] = ("discover", "fetch", "extract", "tag", "cluster", "index")
# Items processed between two checkpoint writes (a crash repeats at most this many, as no-ops).
CHECKPOINT_EVERY = 8

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """What to rebuild: the half-open range [start, end), the outlets (all when empty), stages."""

    start: datetime
    end: datetime
    outlet_ids: tuple[str, ...] = ()
    stages: tuple[str, ...] = STAGES

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise PermanentError("backfill range needs timezone-aware datetimes", kind="config")
        if self.end <= self.start:
            raise PermanentError(
                f"backfill range is empty: {self.start.isoformat()} >= {self.end.isoformat()}",
                kind="config",
            )
        unknown = sorted(set(self.stages) - set(STAGES))
        if unknown or not self.stages:
            raise PermanentError(
                f"unknown backfill stage(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(STAGES)}",
                kind="config",
            )

    @property
    def ordered_stages(self) -> tuple[str, ...]:
        """The requested stages in execution order."""
        return tuple(stage for stage in _ORDER if stage in self.stages)

    @property
    def run_id(self) -> str:
        """Deterministic id of this backfill (same range, outlets and stages: same id)."""
        scope = ",".join(sorted(self.outlet_ids)) + "|" + ",".join(self.ordered_stages)
        return ids.run_id("backfill", self.start.isoformat(), self.end.isoformat(), scope)


@dataclass
class BackfillResult:
    """What one backfill invocation did."""

    run_id: str
    resumed_at: str | None  # the stage a crashed run was resumed at, None for a fresh run
    stages_run: list[str]
    report: StageReport
    links_in_range: int = 0
    articles_in_range: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (for XCom, `--json` and logs)."""
        return {
            "run_id": self.run_id,
            "resumed_at": self.resumed_at,
            "stages_run": list(self.stages_run),
            "links_in_range": self.links_in_range,
            "articles_in_range": self.articles_in_range,
            "counts": dict(sorted(self.report.counts.items())),
            "errors": len(self.report.errors),
        }


def parse_day(value: str | date | datetime) -> datetime:
    """Return a UTC datetime for a day (`2018-09-08`) or an ISO timestamp (naive means UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    else:
        text = value.strip()
        try:
            moment = (
                datetime.combine(date.fromisoformat(text), time.min)
                if len(text) == 10
                else datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError as error:
            raise PermanentError(f"not a date: {value!r}", kind="config") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_stages(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Return stages from `discover,fetch` or a list; None or empty means every stage."""
    if value is None:
        return STAGES
    items = value.split(",") if isinstance(value, str) else list(value)
    stages = tuple(item.strip() for item in items if item.strip())
    return stages or STAGES


class _Checkpoint:
    """The run row of one backfill: the stage reached, per-stage cursors and running counts."""

    def __init__(self, services: Services, request: BackfillRequest, restart: bool) -> None:
        self.services = services
        self.request = request
        previous = None if restart else services.store.load_run(request.run_id)
        self.resuming = previous is not None and previous.status != "done"
        state: dict[str, Any] = dict(previous.counts) if previous and self.resuming else {}
        self.done: list[str] = list(state.get("stages_done", []))
        self.cursors: dict[str, str] = dict(state.get("cursors", {}))
        self.stage: str | None = state.get("stage")
        self.started_at = previous.started_at if previous and self.resuming else services.clock()
        self.counts: dict[str, int] = dict(state.get("report", {}))

    def save(self, status: str = "running", report: StageReport | None = None) -> None:
        """Write the row (a keyed upsert)."""
        if report is not None:
            self.counts = dict(report.counts)
        self.services.store.record_run(
            RunRecord(
                id=self.request.run_id,
                kind="backfill",
                started_at=self.started_at,
                finished_at=self.services.clock() if status == "done" else None,
                window_start=self.request.start,
                window_end=self.request.end,
                status=status,
                counts={
                    "stage": self.stage,
                    "stages_done": self.done,
                    "cursors": self.cursors,
                    "outlets": list(self.request.outlet_ids),
                    "stages": list(self.request.ordered_stages),
                    "report": self.counts,
                },
            )
        )


def run_backfill(
    services: Services,
    outlets: Sequence[Outlet],
    request: BackfillRequest,
    *,
    on_progress: ProgressCallback | None = None,
    restart: bool = False,
) -> BackfillResult:
    """Rebuild `request`'s range for `outlets` (the registry's outlets the request names).

    Resumes a crashed run of the same request at the stage and item it reached (unless
    `restart`); writes nothing that is already there. Errors of single links or sources are
    recorded in the report, never raised; a store outage raises (the run stays resumable).
    """
    outlet_ids = [outlet.id for outlet in outlets]
    checkpoint = _Checkpoint(services, request, restart)
    resumed_at = checkpoint.stage if checkpoint.resuming else None
    report = StageReport()
    if checkpoint.resuming:
        report.counts.update(checkpoint.counts)
        log.info(
            "backfill resumed run=%s stage=%s window=%s..%s",
            request.run_id,
            resumed_at,
            request.start.isoformat(),
            request.end.isoformat(),
        )
    checkpoint.save(report=report)
    stages_run: list[str] = []
    steps: dict[str, Callable[[], object]] = {
        "discover": lambda: _discover(services, outlets, request, report),
        "fetch": lambda: _fetch(services, outlets, request, report, on_progress),
        "extract": lambda: _extract(services, outlet_ids, request, report, checkpoint, on_progress),
        "tag": lambda: _tag(services, outlet_ids, request, report, checkpoint, on_progress),
        "cluster": lambda: _cluster(services, outlet_ids, request, report, checkpoint, on_progress),
        # `cluster` (no ids) first picks up articles that no run has clustered yet, e.g. outside
        # the range after a crash, so the index gets their final state too.
        "index": lambda: report.merge(cluster(services, [])).merge(index_pending(services)),
    }
    for stage in request.ordered_stages:
        if stage in checkpoint.done:
            continue
        checkpoint.stage = stage
        checkpoint.save(report=report)
        log.info("backfill stage=%s run=%s", stage, request.run_id)
        steps[stage]()
        stages_run.append(stage)
        checkpoint.done.append(stage)
        checkpoint.cursors.pop(stage, None)
        checkpoint.save(report=report)
    checkpoint.stage = None
    links = services.store.links_in_window(request.start, request.end, outlet_ids)
    articles = _articles_in_window(services, outlet_ids, request, links)
    checkpoint.save("done", report)
    return BackfillResult(
        run_id=request.run_id,
        resumed_at=resumed_at,
        stages_run=stages_run,
        report=report,
        links_in_range=len(links),
        articles_in_range=len(articles),
    )


def _discover(
    services: Services, outlets: Sequence[Outlet], request: BackfillRequest, report: StageReport
) -> None:
    """Queue the links that the outlets' feeds and sitemaps date inside the range."""
    window = DateRange(request.start, request.end)
    for outlet in outlets:
        now = services.clock()
        services.store.upsert_outlet(outlet, now)
        result = discover_outlet(outlet, services.fetcher, date_range=window)
        for source in result.sources:
            # No validators: a ranged discovery sends no conditional headers, so the scheduled
            # runs' etag/last-modified must stay as they are.
            services.store.record_source_result(
                outlet.id,
                source.kind,
                source.url,
                now=now,
                error=source.error,
                links=source.link_count,
            )
            if source.error is not None:
                report.errors.append(
                    (f"{outlet.id} {source.url}", source.error.kind, source.error.message)
                )
        new = services.store.record_links(result.links, now)
        report.add("links_seen", len(result.links))
        report.add("links_new", new)
        log.info(
            "backfill discovered outlet=%s links=%d new=%d window=%s..%s",
            outlet.id,
            len(result.links),
            new,
            request.start.isoformat(),
            request.end.isoformat(),
        )


def _fetch(
    services: Services,
    outlets: Sequence[Outlet],
    request: BackfillRequest,
    report: StageReport,
    on_progress: ProgressCallback | None,
) -> None:
    """Fetch the range's links that were never fetched; each is archived, extracted and stored.

    The queue status is the checkpoint: a fetched link is no longer pending, so a resumed run
    only fetches what is still missing.
    """
    from mediamon.pipeline import process_page

    by_id = {outlet.id: outlet for outlet in outlets}
    pending = [
        item
        for item in services.store.links_in_window(request.start, request.end, list(by_id))
        if item.status == "pending"
    ]
    total = len(pending)
    if on_progress is not None:
        on_progress("fetch", 0, total)
    for done, (item, outcome) in enumerate(
        services.fetcher.fetch_many(
            [(_pending(item), by_id[item.link.outlet_id]) for item in pending],
            url_of=lambda request: request[0].link.url,
            options_of=lambda request: {
                "etag": request[0].etag,
                "last_modified": request[0].last_modified,
                "allow_private": request[1].allow_private or None,
                "requests_per_second": request[1].requests_per_second,
            },
            max_workers=services.settings.fetch_workers,
        ),
        start=1,
    ):
        link, _outlet = item
        now = services.clock()
        if isinstance(outcome, MediamonError):
            services.store.mark_link_failed(link.id, outcome, now)
            report.add(f"fetch_failed:{outcome.kind}")
            report.errors.append((link.link.url, outcome.kind, outcome.message))
        else:
            process_page(services, link, outcome, now, report)
        if on_progress is not None:
            on_progress("fetch", done, total)


def _pending(item: WindowLink) -> PendingLink:
    return PendingLink(
        id=item.id,
        link=item.link,
        attempts=item.attempts,
        etag=item.etag,
        last_modified=item.last_modified,
    )


def _extract(
    services: Services,
    outlet_ids: Sequence[str],
    request: BackfillRequest,
    report: StageReport,
    checkpoint: _Checkpoint,
    on_progress: ProgressCallback | None,
) -> None:
    """Re-extract every archived page of the range from the raw archive, without the network.

    An unchanged extraction writes nothing; a changed one (a better extractor) adds a version and
    marks the article for re-indexing.
    """
    replay = ReplayFetcher(services.archive, lambda url: _capture_ref(services, url))
    links = [
        item
        for item in services.store.links_in_window(request.start, request.end, outlet_ids)
        if item.status == "fetched"
    ]
    _over_items(
        "extract",
        [item.id for item in links],
        lambda index: _reextract(services, replay, links[index], report),
        checkpoint,
        report,
        on_progress,
    )


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
        report.errors.append((item.link.url, error.kind, error.message))
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


def _tag(
    services: Services,
    outlet_ids: Sequence[str],
    request: BackfillRequest,
    report: StageReport,
    checkpoint: _Checkpoint,
    on_progress: ProgressCallback | None,
) -> None:
    """Re-tag every article of the range from its stored text (a changed taxonomy re-indexes)."""
    links = services.store.links_in_window(request.start, request.end, outlet_ids)
    article_ids = _articles_in_window(services, outlet_ids, request, links)

    def tag_one(index: int) -> None:
        stored = services.store.article_text(article_ids[index])
        if stored is None:
            return
        title, text, language = stored
        tags = tag_topics(services.taxonomy, title=title, text=text, language=language)
        if services.store.save_tags(article_ids[index], tags):
            report.add("tags_changed")
        report.add("tagged")

    _over_items("tag", article_ids, tag_one, checkpoint, report, on_progress)


def _cluster(
    services: Services,
    outlet_ids: Sequence[str],
    request: BackfillRequest,
    report: StageReport,
    checkpoint: _Checkpoint,
    on_progress: ProgressCallback | None,
) -> None:
    """(Re)assign the range's articles to stories; an earlier copy found now re-elects origins."""
    from sqlalchemy.exc import OperationalError

    from mediamon.clustering import assign_stories  # numpy and the sentence encoder: lazily

    links = services.store.links_in_window(request.start, request.end, outlet_ids)
    article_ids = _articles_in_window(services, outlet_ids, request, links)
    batch = CHECKPOINT_EVERY
    batches = [article_ids[i : i + batch] for i in range(0, len(article_ids), batch)]
    firsts = [chunk[0] for chunk in batches]

    def cluster_batch(index: int) -> None:
        # Straight to the clustering of this batch: `pipeline.cluster` would also sweep every
        # unclustered article of the store into the first batch and defeat the checkpoint.
        try:
            result = assign_stories(services.store.engine, batches[index], now=services.clock())
        except OperationalError as error:  # an outage is transient; the run stays resumable
            reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
            raise StoreUnavailableError(
                f"database unavailable while clustering: {reason}"
            ) from error
        for key, value in result.as_dict().items():
            report.add(f"stories_{key}", value)

    _over_items(
        "cluster",
        firsts,
        cluster_batch,
        checkpoint,
        report,
        on_progress,
        every=1,
        scale=batch,
        total_items=len(article_ids),
    )


def _articles_in_window(
    services: Services,
    outlet_ids: Sequence[str],
    request: BackfillRequest,
    links: Sequence[WindowLink],
) -> list[str]:
    """Articles published in the range, plus those of the range's links (sorted, unique)."""
    published = services.store.article_ids(
        published_from=request.start, published_to=request.end, outlet_ids=outlet_ids
    )
    return sorted(set(published) | {item.article_id for item in links if item.article_id})


def _over_items(
    stage: str,
    keys: Sequence[str],
    work: Callable[[int], object],
    checkpoint: _Checkpoint,
    report: StageReport,
    on_progress: ProgressCallback | None,
    *,
    every: int = CHECKPOINT_EVERY,
    scale: int = 1,
    total_items: int | None = None,
) -> None:
    """Run `work(i)` for each key in order, from the checkpointed cursor on, saving it regularly.

    `keys` are sorted ids; the cursor is the last key whose work finished, so a resumed run
    continues after it (and repeats at most `every` items, which are no-ops).
    """
    total = total_items if total_items is not None else len(keys)
    cursor = checkpoint.cursors.get(stage)
    start = 0
    if cursor is not None:
        start = bisect_right(keys, cursor)
        report.add(f"{stage}_resumed_after", start * scale)
    if on_progress is not None:
        on_progress(stage, min(start * scale, total), total)
    for index in range(start, len(keys)):
        work(index)
        if (index + 1) % every == 0 or index + 1 == len(keys):
            checkpoint.cursors[stage] = keys[index]
            checkpoint.save(report=report)
        if on_progress is not None:
            on_progress(stage, min((index + 1) * scale, total), total)
