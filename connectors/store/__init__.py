"""The SQL store, the system of record: every write an idempotent upsert keyed on deterministic ids.

One module per table group, each a repository over `schemas.tables` built on `StoreBase` (the
engine and its transaction helper, which maps outages to `StoreUnavailableError`):

- `engine`: engine settings per backend, migrations, `insert_ignore`, the transaction helper;
- `sources`: outlets and their sources' health;
- `links`: the fetch queue of discovered links, and the links of a date window;
- `captures`: where raw responses live in the archive;
- `articles`: articles, versions and topic tags;
- `outbox`: what the search index still lacks, and re-indexing bookkeeping;
- `runs`: run rows (checkpoints) and table counts.

`Store` is all of them over one engine; story clustering has its own queries in
`connectors.story_store`.
"""

from connectors.store.articles import (
    ArticleHistory,
    ArticleSummary,
    ArticleTables,
    SaveResult,
    StoredVersion,
)
from connectors.store.captures import CaptureRow, CaptureTable, capture_row
from connectors.store.engine import (
    MIGRATIONS_DIR,
    StoreBase,
    StoreRejectedError,
    StoreUnavailableError,
    as_utc,
    create_store_engine,
    insert_ignore,
)
from connectors.store.links import LinkQueue, PendingLink, WindowLink, discovered_link_from_row
from connectors.store.outbox import IndexOutbox
from connectors.store.runs import RunRecord, RunTable
from connectors.store.sources import SourceHealth, SourceTables

__all__ = [
    "MIGRATIONS_DIR",
    "ArticleHistory",
    "ArticleSummary",
    "CaptureRow",
    "PendingLink",
    "RunRecord",
    "SaveResult",
    "SourceHealth",
    "Store",
    "StoreRejectedError",
    "StoreUnavailableError",
    "StoredVersion",
    "WindowLink",
    "as_utc",
    "capture_row",
    "create_store_engine",
    "discovered_link_from_row",
    "insert_ignore",
]


class Store(SourceTables, LinkQueue, CaptureTable, ArticleTables, IndexOutbox, RunTable, StoreBase):
    """Repository over every table of `schemas.tables` (one engine, one transaction helper)."""
