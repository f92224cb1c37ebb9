"""SQL the backfill and the orchestration need beyond `connectors.store.Store`.

Read-mostly queries over the store's tables (links of a date window, index backlog, a run's
checkpoint). Kept beside the store so that SQL stays in `connectors/`; every
function takes the `Store` it reads and returns plain typed values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from connectors.store import Store, as_utc, discovered_link_from_row
from schemas import tables as t
from schemas.records import DiscoveredLink

__all__ = [
    "RunCheckpoint",
    "WindowLink",
    "count_index_pending",
    "links_in_window",
    "load_run",
]


@dataclass(frozen=True, slots=True)
class WindowLink:
    """A queued link of a backfill window with its fetch state."""

    id: str
    link: DiscoveredLink
    status: str
    article_id: str | None
    attempts: int
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class RunCheckpoint:
    """The stored state of one run: its status and the JSON counts (progress, stage reached)."""

    id: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: Mapping[str, Any]


def links_in_window(
    store: Store,
    start: datetime,
    end: datetime,
    outlet_ids: Sequence[str] | None = None,
) -> list[WindowLink]:
    """Return every link of the window, in a stable order (by id).

    A link belongs to the window when its announced publication time is in [start, end), or when
    the article it became was published in [start, end) (a link announced without a date).
    """
    d, a = t.discovered_urls.c, t.articles.c
    in_window = or_(
        and_(d.published_at >= start, d.published_at < end),
        d.article_id.in_(select(a.id).where(a.published_at >= start, a.published_at < end)),
    )
    query = select(t.discovered_urls).where(in_window)
    if outlet_ids is not None:
        query = query.where(d.outlet_id.in_(list(outlet_ids)))
    with store.begin() as conn:
        rows = conn.execute(query.order_by(d.id)).mappings().all()
    return [_window_link(dict(row)) for row in rows]


def _window_link(row: Mapping[str, Any]) -> WindowLink:
    return WindowLink(
        id=row["id"],
        link=discovered_link_from_row(row),
        status=row["status"],
        article_id=row["article_id"],
        attempts=row["attempts"],
        etag=row["etag"],
        last_modified=row["last_modified"],
    )


def count_index_pending(store: Store) -> dict[str, int]:
    """Return how many articles and stories still wait for the search index."""
    a, s = t.articles.c, t.stories.c
    with store.begin() as conn:
        articles = conn.execute(
            select(func.count()).select_from(t.articles).where(a.indexed_version < a.index_version)
        ).scalar_one()
        stories = conn.execute(
            select(func.count()).select_from(t.stories).where(s.indexed_version < s.index_version)
        ).scalar_one()
    return {"articles": int(articles), "stories": int(stories)}


def load_run(store: Store, run_id: str) -> RunCheckpoint | None:
    """Return the stored run row `run_id`, or None when the run never started."""
    with store.begin() as conn:
        row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
    if row is None:
        return None
    started = as_utc(row["started_at"])
    assert started is not None  # the column is NOT NULL
    return RunCheckpoint(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        started_at=started,
        finished_at=as_utc(row["finished_at"]),
        counts=dict(row["counts"] or {}),
    )
