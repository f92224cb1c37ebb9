"""The store's engine and transaction helper: the one place database errors become typed.

Runs unchanged on SQLite (embedded default) and PostgreSQL. Concurrent writers never create
duplicates: inserts use ON CONFLICT on primary keys (`insert_ignore`), and updates compare before
writing so that a second run over the same input changes no row. Every repository of the store
(`connectors.store.*`) reads and writes through `StoreBase.begin`, which turns an outage into a
`StoreUnavailableError` (transient: the run is retried).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from schemas.bounds import fit_row
from schemas.errors import PermanentError, TransientError

__all__ = [
    "MIGRATIONS_DIR",
    "StoreBase",
    "StoreRejectedError",
    "StoreUnavailableError",
    "as_utc",
    "chunks",
    "create_store_engine",
    "insert_ignore",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK = 0x6D6D_6967  # PostgreSQL advisory lock key that serialises migrations ("mmig")


class StoreUnavailableError(TransientError):
    """The database cannot be reached or is locked; the run should be retried."""

    kind = "store-unavailable"


class StoreRejectedError(PermanentError):
    """The database refused a value (too long, out of range, a broken constraint).

    Retrying the same write fails the same way: the caller records it as the error of the
    outlet or link whose data it was, and goes on with the others.
    """

    kind = "store-rejected"


def as_utc(value: datetime | None) -> datetime | None:
    """Return `value` as an aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_store_engine(url: str) -> Engine:
    """Create an engine for `url` with the settings each backend needs for concurrent writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run beside the single writer; busy_timeout makes a second writer
            # wait for the lock instead of failing at once.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "before_cursor_execute", _strip_nul_parameters, retval=True)
    return engine


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {key: _strip_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_strip_nul(item) for item in value)
    return value


def _strip_nul_parameters(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
) -> tuple[str, Any]:
    """PostgreSQL text cannot hold NUL (SQLite can): a hostile page or feed with NUL bytes in its
    text would fail the whole run with DataError. NUL carries no meaning in text; drop it."""
    return statement, _strip_nul(parameters)


def _insert(conn: Connection, table: Table) -> Any:
    """Return the dialect's INSERT (which supports ON CONFLICT) for `table`."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows whose primary key is not present yet; return how many were inserted."""
    if not rows:
        return 0
    # RETURNING tells reliably whether a row went in; rowcount is -1 on some drivers.
    key = next(iter(table.primary_key.columns))
    statement = _insert(conn, table).on_conflict_do_nothing().returning(key)
    inserted = 0
    for row in rows:
        inserted += len(conn.execute(statement, fit_row(table, row)).all())
    return inserted


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    """Slices of `items` of at most `size` (bounds the parameters of an IN clause)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StoreBase:
    """The engine and its transaction helper, shared by every table group of the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Self:
        """Open (without migrating) the store at a SQLAlchemy URL."""
        return cls(create_store_engine(url))

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; database outages surface as `StoreUnavailableError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as error:
            raise StoreUnavailableError(f"database unavailable: {_first_line(error)}") from error
        except (DataError, IntegrityError) as error:
            # First line only: the rest repeats the statement and its (network-sourced) values.
            raise StoreRejectedError(f"database refused a value: {_first_line(error)}") from error

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        # through `begin`: an unreachable database is a StoreUnavailableError here too
        with self.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Workers starting together on an empty database would all create the schema
                # (duplicate key on alembic_version); one migrates, the others wait, then find
                # the schema at head. The lock ends with the transaction.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def translate_outages(self, doing: str) -> Iterator[None]:
        """Map an outage met by code that runs its own transactions on `engine` (clustering).

        Raises `StoreUnavailableError` naming what was being done, like `begin`.
        """
        try:
            yield
        except OperationalError as error:
            raise StoreUnavailableError(
                f"database unavailable while {doing}: {_first_line(error)}"
            ) from error


def _first_line(error: OperationalError | DataError | IntegrityError) -> str:
    """The driver's reason without secrets: its message can include the DSN after line one."""
    return str(error.orig).splitlines()[0] if error.orig else type(error).__name__
