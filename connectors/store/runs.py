"""Runs (their checkpoints) and the counts summaries print."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from connectors.store.engine import StoreBase, as_utc, insert_ignore
from schemas import tables as t


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of `runs`: a run's window, status and its JSON state (progress, counts)."""

    id: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    counts: Mapping[str, Any] = field(default_factory=dict)


class RunTable(StoreBase):
    """The `runs` table and row counts over every table."""

    def record_run(self, run: RunRecord) -> None:
        """Record or update a run row (keyed on its deterministic id)."""
        row = {
            "id": run.id,
            "kind": run.kind,
            "status": run.status,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "window_start": run.window_start,
            "window_end": run.window_end,
            "counts": dict(run.counts),
        }
        with self.begin() as conn:
            if not insert_ignore(conn, t.runs, [row]):
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id == run.id)
                    .values(**{k: v for k, v in row.items() if k != "id"})
                )

    def load_run(self, run_id: str) -> RunRecord | None:
        """Return the stored run `run_id`, or None when the run never started."""
        with self.begin() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
        if row is None:
            return None
        started = as_utc(row["started_at"])
        assert started is not None  # the column is NOT NULL
        return RunRecord(
            id=row["id"],
            kind=row["kind"],
            status=row["status"],
            started_at=started,
            finished_at=as_utc(row["finished_at"]),
            window_start=as_utc(row["window_start"]),
            window_end=as_utc(row["window_end"]),
            counts=dict(row["counts"] or {}),
        )

    def counts(self) -> dict[str, int]:
        """Return row counts of the main tables (for summaries and tests)."""
        names = (
            "outlets",
            "outlet_sources",
            "discovered_urls",
            "captures",
            "articles",
            "article_versions",
            "article_tags",
            "stories",
            "story_members",
        )
        with self.begin() as conn:
            return {
                name: conn.execute(
                    select(func.count()).select_from(t.metadata.tables[name])
                ).scalar_one()
                for name in names
            }

    def language_counts(self) -> dict[str, int]:
        """Return the number of articles per detected language."""
        c = t.articles.c
        with self.begin() as conn:
            rows = conn.execute(select(c.language, func.count()).group_by(c.language)).all()
        return {str(language or "und"): count for language, count in rows}

    def multi_member_story_count(self) -> int:
        """Return the number of stories with more than one member."""
        with self.begin() as conn:
            return conn.execute(
                select(func.count()).select_from(t.stories).where(t.stories.c.member_count > 1)
            ).scalar_one()
