"""Outlets and their sources (feeds, sitemaps, sections): registry rows and source health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from connectors.store.engine import StoreBase, as_utc, insert_ignore
from schemas import tables as t
from schemas.errors import MediamonError
from schemas.records import Outlet
from transforms import ids


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """The health of one outlet source after its last discovery attempt."""

    id: str
    outlet_id: str
    kind: str
    url: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error_kind: str | None
    last_error_message: str | None
    links_seen: int
    etag: str | None
    last_modified: str | None


class SourceTables(StoreBase):
    """The `outlets` and `outlet_sources` tables."""

    def upsert_outlet(self, outlet: Outlet, now: datetime) -> None:
        """Record an outlet of the registry; rewrites its row only when a field changed."""
        row = {
            "id": outlet.id,
            "name": outlet.name,
            "homepage": outlet.homepage,
            "languages": list(outlet.languages),
            "country": outlet.country,
        }
        with self.begin() as conn:
            current = conn.execute(
                select(
                    t.outlets.c.name,
                    t.outlets.c.homepage,
                    t.outlets.c.languages,
                    t.outlets.c.country,
                ).where(t.outlets.c.id == outlet.id)
            ).first()
            if current is None:
                insert_ignore(conn, t.outlets, [{**row, "updated_at": now}])
            elif tuple(current) != (row["name"], row["homepage"], row["languages"], row["country"]):
                conn.execute(
                    update(t.outlets)
                    .where(t.outlets.c.id == outlet.id)
                    .values(**row, updated_at=now)
                )

    def source_validators(self, outlet_id: str) -> dict[str, tuple[str | None, str | None]]:
        """Return the conditional-GET validators (etag, last-modified) per source URL."""
        with self.begin() as conn:
            rows = conn.execute(
                select(
                    t.outlet_sources.c.url,
                    t.outlet_sources.c.etag,
                    t.outlet_sources.c.last_modified,
                ).where(t.outlet_sources.c.outlet_id == outlet_id)
            ).all()
        return {row.url: (row.etag, row.last_modified) for row in rows}

    def record_source_result(
        self,
        outlet_id: str,
        kind: str,
        url: str,
        *,
        now: datetime,
        error: MediamonError | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        links: int = 0,
    ) -> None:
        """Record the health of one source after a discovery attempt."""
        source = ids.source_id(outlet_id, kind, url)
        with self.begin() as conn:
            insert_ignore(
                conn,
                t.outlet_sources,
                [
                    {
                        "id": source,
                        "outlet_id": outlet_id,
                        "kind": kind,
                        "url": url,
                        "consecutive_failures": 0,
                        "links_seen": 0,
                    }
                ],
            )
            values: dict[str, Any] = {"last_attempt_at": now}
            if error is None:
                values.update(
                    last_success_at=now,
                    consecutive_failures=0,
                    last_error_kind=None,
                    last_error_message=None,
                    links_seen=links,
                )
                if etag is not None or last_modified is not None:
                    values.update(etag=etag, last_modified=last_modified)
            else:
                values.update(
                    consecutive_failures=t.outlet_sources.c.consecutive_failures + 1,
                    last_error_kind=error.kind,
                    last_error_message=error.message[:2000],
                )
            conn.execute(
                update(t.outlet_sources).where(t.outlet_sources.c.id == source).values(**values)
            )

    def outlet_health(self) -> list[SourceHealth]:
        """Return one row per outlet source with its last success and failures."""
        c = t.outlet_sources.c
        with self.begin() as conn:
            rows = conn.execute(
                select(t.outlet_sources).order_by(c.outlet_id, c.kind, c.url)
            ).mappings()
            return [
                SourceHealth(
                    id=row["id"],
                    outlet_id=row["outlet_id"],
                    kind=row["kind"],
                    url=row["url"],
                    last_attempt_at=as_utc(row["last_attempt_at"]),
                    last_success_at=as_utc(row["last_success_at"]),
                    consecutive_failures=int(row["consecutive_failures"] or 0),
                    last_error_kind=row["last_error_kind"],
                    last_error_message=row["last_error_message"],
                    links_seen=int(row["links_seen"] or 0),
                    etag=row["etag"],
                    last_modified=row["last_modified"],
                )
                for row in rows
            ]
