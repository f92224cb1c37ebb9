"""Raw captures: where each archived response body lives (the archive holds the bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from connectors.store.engine import StoreBase, as_utc, insert_ignore
from schemas import tables as t
from schemas.records import RawPage
from transforms import ids


@dataclass(frozen=True, slots=True)
class CaptureRow:
    """Where a raw response body lives in the archive."""

    id: str
    url: str
    final_url: str
    status: int
    content_type: str | None
    fetched_at: datetime
    body_sha256: str
    body_length: int
    warc_path: str
    warc_offset: int
    warc_length: int


class CaptureTable(StoreBase):
    """The `captures` table."""

    def save_capture(self, capture: CaptureRow) -> bool:
        """Index a raw capture; return False when the same body at the same URL was known."""
        with self.begin() as conn:
            return insert_ignore(conn, t.captures, [_asdict(capture)]) > 0

    def capture_for_url(self, url: str) -> CaptureRow | None:
        """Return the newest capture of `url` (requested or final URL), or None."""
        c = t.captures.c
        with self.begin() as conn:
            row = (
                conn.execute(
                    select(t.captures)
                    .where((c.url == url) | (c.final_url == url))
                    .order_by(c.fetched_at.desc(), c.id)
                    .limit(1)
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return CaptureRow(**{**row, "fetched_at": as_utc(row["fetched_at"])})


def _asdict(capture: CaptureRow) -> dict[str, Any]:
    return {name: getattr(capture, name) for name in CaptureRow.__slots__}


def capture_row(
    page: RawPage, *, warc_path: str, offset: int, length: int, sha256: str
) -> CaptureRow:
    """Build the index row of a raw capture stored in the archive."""
    return CaptureRow(
        id=ids.capture_id(page.final_url, sha256),
        url=page.requested_url,
        final_url=page.final_url,
        status=page.status,
        content_type=page.content_type,
        fetched_at=page.fetched_at,
        body_sha256=sha256,
        body_length=len(page.body),
        warc_path=warc_path,
        warc_offset=offset,
        warc_length=length,
    )
