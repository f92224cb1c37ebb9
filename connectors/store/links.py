"""The fetch queue: discovered links, their fetch state and the links of a date window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select, update

from connectors.store.engine import StoreBase, as_utc, insert_ignore
from schemas import tables as t
from schemas.errors import MediamonError, PermanentError
from schemas.records import DiscoveredLink, SourceKind
from transforms import ids
from transforms.urls import dedup_key


@dataclass(frozen=True, slots=True)
class PendingLink:
    """A discovered URL that still has to be fetched, with its discovery metadata."""

    id: str
    link: DiscoveredLink
    attempts: int
    etag: str | None
    last_modified: str | None
    # Set on a revisit of an already fetched article: the schedule step this fetch completes.
    revisit_step: int | None = None
    article_id: str | None = None


@dataclass(frozen=True, slots=True)
class WindowLink:
    """A queued link of a date window with its fetch state."""

    id: str
    link: DiscoveredLink
    status: str
    article_id: str | None
    attempts: int
    etag: str | None
    last_modified: str | None

    def as_pending(self) -> PendingLink:
        """The link as a fetch-queue entry (what the fetch stage takes)."""
        return PendingLink(self.id, self.link, self.attempts, self.etag, self.last_modified)


class LinkQueue(StoreBase):
    """The `discovered_urls` table: what discovery found and what is still to fetch."""

    def record_links(self, links: Iterable[DiscoveredLink], now: datetime) -> int:
        """Queue discovered links; return how many were new.

        A known link only gets the metadata it lacked filled in.
        """
        new = 0
        with self.begin() as conn:
            for link in links:
                link_id = ids.discovered_url_id(link.outlet_id, dedup_key(link.url))
                row = {
                    "id": link_id,
                    "outlet_id": link.outlet_id,
                    "url": link.url,
                    "source_kind": str(link.source_kind),
                    "source_url": link.source_url,
                    "title": link.title,
                    "published_at": link.published_at,
                    "author": link.author,
                    "language": link.language,
                    "summary": link.summary,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "status": "pending",
                    "attempts": 0,
                }
                if insert_ignore(conn, t.discovered_urls, [row]):
                    new += 1
                    continue
                current = conn.execute(
                    select(
                        t.discovered_urls.c.title,
                        t.discovered_urls.c.published_at,
                        t.discovered_urls.c.author,
                    ).where(t.discovered_urls.c.id == link_id)
                ).one()
                fill = {
                    key: value
                    for key, value in (
                        ("title", link.title),
                        ("published_at", link.published_at),
                        ("author", link.author),
                    )
                    if value is not None and getattr(current, key) is None
                }
                if fill:
                    conn.execute(
                        update(t.discovered_urls)
                        .where(t.discovered_urls.c.id == link_id)
                        .values(**fill)
                    )
        return new

    def pending_links(
        self, outlet_ids: Sequence[str] | None = None, *, limit: int | None = None
    ) -> list[PendingLink]:
        """Return links still to fetch, oldest first (deterministic order)."""
        c = t.discovered_urls.c
        query = select(t.discovered_urls).where(c.status == "pending")
        if outlet_ids is not None:
            query = query.where(c.outlet_id.in_(list(outlet_ids)))
        query = query.order_by(c.first_seen_at, c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.begin() as conn:
            rows = conn.execute(query).mappings().all()
        return [_window_link(row).as_pending() for row in rows]

    def mark_link_failed(
        self, link_id: str, error: MediamonError, now: datetime, *, max_attempts: int = 5
    ) -> None:
        """Record a failed fetch/extraction: permanent errors end the link, transient ones retry."""
        c = t.discovered_urls.c
        with self.begin() as conn:
            attempts = conn.execute(select(c.attempts).where(c.id == link_id)).scalar_one() + 1
            give_up = isinstance(error, PermanentError) or attempts >= max_attempts
            conn.execute(
                update(t.discovered_urls)
                .where(c.id == link_id)
                .values(
                    attempts=attempts,
                    status="failed" if give_up else "pending",
                    last_error_kind=error.kind,
                    last_error_message=error.message[:2000],
                    last_fetched_at=now,
                )
            )

    def mark_link_fetched(
        self,
        link_id: str,
        *,
        article_id: str | None,
        etag: str | None,
        last_modified: str | None,
        now: datetime,
        revisit_step: int | None = None,
    ) -> None:
        """Record a successful fetch (or a 304) with the validators for the next conditional GET.

        `revisit_step`: the revisit schedule step this fetch completed (never moves back).
        """
        c = t.discovered_urls.c
        values: dict[str, Any] = {
            "status": "fetched",
            "last_fetched_at": now,
            "etag": etag,
            "last_modified": last_modified,
            "last_error_kind": None,
            "last_error_message": None,
        }
        if article_id is not None:
            values["article_id"] = article_id
        if revisit_step is not None:
            values["revisit_step"] = case(
                (c.revisit_step < revisit_step, revisit_step), else_=c.revisit_step
            )
        with self.begin() as conn:
            conn.execute(update(t.discovered_urls).where(c.id == link_id).values(**values))

    def mark_revisit_step(self, link_id: str, step: int, now: datetime) -> None:
        """Record that revisit `step` of a link is done without a new capture (an error page)."""
        c = t.discovered_urls.c
        with self.begin() as conn:
            conn.execute(
                update(t.discovered_urls)
                .where(c.id == link_id, c.revisit_step < step)
                .values(revisit_step=step, last_fetched_at=now)
            )

    def due_revisits(
        self,
        schedules: Mapping[str, Sequence[float]],
        *,
        until: datetime,
    ) -> list[PendingLink]:
        """Fetched articles of the outlets in `schedules` whose next revisit is due by `until`.

        `schedules` maps outlet id to its ages (seconds after the article was first seen, sorted).
        A link is due when an age it has not done yet has passed by `until`; its revisit completes
        every age passed by then (a run that comes late fetches once, not once per missed age).
        Oldest due first; each carries `revisit_step` and its `article_id`.
        """
        wanted = {outlet: tuple(ages) for outlet, ages in schedules.items() if ages}
        if not wanted:
            return []
        d, a = t.discovered_urls.c, t.articles.c
        longest = max(len(ages) for ages in wanted.values())
        query = (
            select(t.discovered_urls, a.first_seen_at.label("article_first_seen_at"))
            .join(t.articles, a.id == d.article_id)
            .where(
                d.status == "fetched",
                d.outlet_id.in_(sorted(wanted)),
                d.revisit_step < longest,
                a.removed_at.is_(None),
            )
            .order_by(a.first_seen_at, d.id)
        )
        with self.begin() as conn:
            rows = conn.execute(query).mappings().all()
        due: list[tuple[datetime, PendingLink]] = []
        for row in rows:
            ages = wanted[row["outlet_id"]]
            first_seen = as_utc(row["article_first_seen_at"]) or until
            passed = sum(1 for age in ages if first_seen + timedelta(seconds=age) <= until)
            if passed <= row["revisit_step"]:
                continue
            due_at = first_seen + timedelta(seconds=ages[row["revisit_step"]])
            link = _window_link(row)
            due.append(
                (
                    due_at,
                    PendingLink(
                        link.id,
                        link.link,
                        link.attempts,
                        link.etag,
                        link.last_modified,
                        revisit_step=passed,
                        article_id=link.article_id,
                    ),
                )
            )
        due.sort(key=lambda pair: (pair[0], pair[1].id))
        return [item for _, item in due]

    def requeue_links(self, link_ids: Sequence[str]) -> int:
        """Put fetched links back in the queue (a refresh or a backfill re-fetch)."""
        if not link_ids:
            return 0
        c = t.discovered_urls.c
        with self.begin() as conn:
            result = conn.execute(
                update(t.discovered_urls)
                .where(c.id.in_(list(link_ids)), c.status != "pending")
                .values(status="pending", attempts=0)
            )
        return result.rowcount or 0

    def links_in_window(
        self, start: datetime, end: datetime, outlet_ids: Sequence[str] | None = None
    ) -> list[WindowLink]:
        """Return every link of the window, in a stable order (by id).

        A link belongs to the window when its announced publication time is in [start, end), or
        when the article it became was published in [start, end) (a link announced undated).
        """
        d, a = t.discovered_urls.c, t.articles.c
        in_window = or_(
            and_(d.published_at >= start, d.published_at < end),
            d.article_id.in_(select(a.id).where(a.published_at >= start, a.published_at < end)),
        )
        query = select(t.discovered_urls).where(in_window)
        if outlet_ids is not None:
            query = query.where(d.outlet_id.in_(list(outlet_ids)))
        with self.begin() as conn:
            rows = conn.execute(query.order_by(d.id)).mappings().all()
        return [_window_link(row) for row in rows]


def discovered_link_from_row(row: Mapping[Any, Any]) -> DiscoveredLink:
    """Rebuild the discovery record of a `discovered_urls` row."""
    return DiscoveredLink(
        outlet_id=row["outlet_id"],
        url=row["url"],
        source_kind=SourceKind(row["source_kind"]),
        source_url=row["source_url"],
        title=row["title"],
        published_at=as_utc(row["published_at"]),
        author=row["author"],
        language=row["language"],
        summary=row["summary"],
    )


def _window_link(row: Mapping[Any, Any]) -> WindowLink:
    return WindowLink(
        id=row["id"],
        link=discovered_link_from_row(row),
        status=row["status"],
        article_id=row["article_id"],
        attempts=row["attempts"],
        etag=row["etag"],
        last_modified=row["last_modified"],
    )
