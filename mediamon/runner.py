"""The one runner: executes a `Plan` stage by stage, with one checkpoint mechanism.

A plan with an interval is checkpointed in the `runs` row whose id derives from it
(`Plan.run_id`): the stage reached, per-stage cursors and running counts. A run that crashed
resumes at the stage (and item) it reached; a finished one runs again from the start, as a
no-op (every write is a keyed upsert). `mediamon run`, `mediamon backfill`, the demo and every
Airflow task call `run_plan`; only their plans differ (see `mediamon.plans`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.store import RunRecord
from mediamon import stages
from mediamon.plans import Plan
from mediamon.services import Services
from mediamon.stages import ProgressCallback, StageReport
from schemas.records import Outlet

log = logging.getLogger(__name__)

__all__ = ["RunResult", "ingest", "run_plan"]


@dataclass
class RunResult:
    """What one execution of a plan did."""

    run_id: str | None
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


class Checkpoint:
    """The run row of one plan: the stage reached, per-stage cursors and running counts.

    A plan without an interval keeps its checkpoint in memory only (nothing to key a row on).
    """

    def __init__(self, services: Services, plan: Plan, restart: bool) -> None:
        self.services = services
        self.plan = plan
        run_id = plan.run_id
        previous = None if restart or run_id is None else services.store.load_run(run_id)
        self.resuming = previous is not None and previous.status != "done"
        state: dict[str, Any] = dict(previous.counts) if previous and self.resuming else {}
        self.done: list[str] = list(state.get("stages_done", []))
        self.cursors: dict[str, str] = dict(state.get("cursors", {}))
        self.stage: str | None = state.get("stage")
        self.started_at = previous.started_at if previous and self.resuming else services.clock()
        self.counts: dict[str, int] = dict(state.get("report", {}))

    # ItemCursor
    def resume_after(self, stage: str) -> str | None:
        """The last key of `stage` a previous attempt finished."""
        return self.cursors.get(stage)

    def advance(self, stage: str, key: str, progress: StageReport) -> None:
        """Move the cursor of `stage` to `key` and save, with the stage's counts so far."""
        self.cursors[stage] = key
        self.save(extra=progress)

    def save(
        self,
        status: str = "running",
        report: StageReport | None = None,
        *,
        extra: StageReport | None = None,
    ) -> None:
        """Write the row (a keyed upsert); `report` replaces the counts, `extra` adds to them."""
        if report is not None:
            self.counts = dict(report.counts)
        counts = dict(self.counts)
        if extra is not None:
            for key, value in extra.counts.items():
                counts[key] = counts.get(key, 0) + value
        run_id = self.plan.run_id
        interval = self.plan.interval
        if run_id is None or interval is None:
            return
        self.services.store.record_run(
            RunRecord(
                id=run_id,
                kind=self.plan.kind,
                started_at=self.started_at,
                finished_at=self.services.clock() if status == "done" else None,
                window_start=interval.start,
                window_end=interval.end,
                status=status,
                counts={
                    "mode": self.plan.mode,
                    "stage": self.stage,
                    "stages_done": self.done,
                    "cursors": self.cursors,
                    "outlets": list(self.plan.outlet_ids),
                    "stages": list(self.plan.ordered_stages),
                    "report": counts,
                },
            )
        )


def run_plan(
    services: Services,
    plan: Plan,
    outlets: Sequence[Outlet],
    *,
    on_progress: ProgressCallback | None = None,
    restart: bool = False,
) -> RunResult:
    """Run `plan`'s stages in order over `outlets` (the registry's outlets the plan names).

    Resumes a crashed run of the same plan at the stage and item it reached (unless `restart`);
    writes nothing that is already there. Errors of single links or sources are recorded in the
    report, never raised; a store outage raises (the run stays resumable).
    """
    window = plan.window
    checkpoint = Checkpoint(services, plan, restart)
    resumed_at = checkpoint.stage if checkpoint.resuming else None
    report = StageReport()
    if checkpoint.resuming:
        report.counts.update(checkpoint.counts)
        log.info("run resumed run=%s stage=%s mode=%s", plan.run_id, resumed_at, plan.mode)
    checkpoint.save(report=report)
    steps: dict[str, Callable[[], StageReport]] = {
        "discover": lambda: stages.discover(services, outlets, window),
        "fetch": lambda: stages.fetch_pending(services, outlets, window, on_progress=on_progress),
        "cluster": lambda: stages.cluster(
            services,
            report.changed,
            outlets=outlets,
            window=window,
            cursor=checkpoint,
            on_progress=on_progress,
        ),
        "index": lambda: stages.index_pending(services, window),
    }
    if window is not None:
        steps["extract"] = lambda: stages.extract(
            services, outlets, window, cursor=checkpoint, on_progress=on_progress
        )
        steps["tag"] = lambda: stages.tag(
            services, outlets, window, cursor=checkpoint, on_progress=on_progress
        )
    stages_run: list[str] = []
    for stage in plan.ordered_stages:
        if stage in checkpoint.done:
            continue
        checkpoint.stage = stage
        checkpoint.save(report=report)
        log.info("stage=%s run=%s mode=%s outlets=%d", stage, plan.run_id, plan.mode, len(outlets))
        report.merge(steps[stage]())
        stages_run.append(stage)
        checkpoint.done.append(stage)
        checkpoint.cursors.pop(stage, None)
        checkpoint.save(report=report)
    checkpoint.stage = None
    links = articles = 0
    if window is not None:
        outlet_ids = [outlet.id for outlet in outlets]
        links = len(services.store.links_in_window(window.start, window.end, outlet_ids))
        articles = len(stages.articles_in_window(services, outlets, window))
    checkpoint.save("done", report)
    return RunResult(
        run_id=plan.run_id,
        resumed_at=resumed_at,
        stages_run=stages_run,
        report=report,
        links_in_range=links,
        articles_in_range=articles,
    )


def ingest(
    services: Services,
    outlets: Sequence[Outlet],
    *,
    on_progress: ProgressCallback | None = None,
) -> StageReport:
    """One live pass over `outlets`: discover, fetch/extract/tag/store, cluster, index."""
    plan = Plan.live([outlet.id for outlet in outlets])
    return run_plan(services, plan, outlets, on_progress=on_progress).report
