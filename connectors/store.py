"""The SQL store, the system of record: every write an idempotent upsert keyed on deterministic ids.

Runs unchanged on SQLite (embedded default) and PostgreSQL. Concurrent writers never create
duplicates: inserts use ON CONFLICT on primary keys, and updates compare before writing so that a
second run over the same input changes no row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from schemas import tables as t
from schemas.bounds import fit_row
from schemas.errors import MediamonError, PermanentError, TransientError
from schemas.records import (
    DiscoveredLink,
    ExtractedArticle,
    LanguageGuess,
    Outlet,
    RawPage,
    SourceKind,
    TagEvidence,
    TopicTag,
)
from transforms import ids
from transforms.urls import dedup_key

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
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


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What `Store.save_article` did: ids, and whether anything was written."""

    article_id: str
    version_id: str
    created: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class PendingLink:
    """A discovered URL that still has to be fetched, with its discovery metadata."""

    id: str
    link: DiscoveredLink
    attempts: int
    etag: str | None
    last_modified: str | None


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


def as_utc(value: datetime | None) -> datetime | None:
    """Return `value` as an aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def redact_url(url: str) -> str:
    """Return a database URL safe to print: the password is masked."""
    return make_url(url).render_as_string(hide_password=True)


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


class Store:
    """Repository over the SQL tables in `schemas.tables`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
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
            # The driver's message can include the DSN; keep only its first line, without secrets.
            reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
            raise StoreUnavailableError(f"database unavailable: {reason}") from error
        except (DataError, IntegrityError) as error:
            # First line only: the rest repeats the statement and its (network-sourced) values.
            reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
            raise StoreRejectedError(f"database refused a value: {reason}") from error

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

    # --- outlets and their sources -------------------------------------------------------

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

    def outlet_health(self) -> list[dict[str, Any]]:
        """Return one row per outlet source with its last success and failures."""
        with self.begin() as conn:
            rows = (
                conn.execute(
                    select(t.outlet_sources).order_by(
                        t.outlet_sources.c.outlet_id,
                        t.outlet_sources.c.kind,
                        t.outlet_sources.c.url,
                    )
                )
                .mappings()
                .all()
            )
        return [dict(row) for row in rows]

    # --- discovered links (the fetch queue) --------------------------------------------

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
        return [_pending_link(row) for row in rows]

    def links_between(
        self, start: datetime, end: datetime, outlet_ids: Sequence[str] | None = None
    ) -> list[PendingLink]:
        """Return every link (any status) whose announced publication time is in [start, end)."""
        c = t.discovered_urls.c
        query = select(t.discovered_urls).where(c.published_at >= start, c.published_at < end)
        if outlet_ids is not None:
            query = query.where(c.outlet_id.in_(list(outlet_ids)))
        with self.begin() as conn:
            rows = conn.execute(query.order_by(c.first_seen_at, c.id)).mappings().all()
        return [_pending_link(row) for row in rows]

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
    ) -> None:
        """Record a successful fetch (or a 304) with the validators for the next conditional GET."""
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
        with self.begin() as conn:
            conn.execute(update(t.discovered_urls).where(c.id == link_id).values(**values))

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

    # --- raw captures ------------------------------------------------------------------

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

    # --- articles ----------------------------------------------------------------------

    def save_article(
        self,
        outlet_id: str,
        article: ExtractedArticle,
        *,
        capture_id: str | None,
        now: datetime,
        language: LanguageGuess | None,
    ) -> SaveResult:
        """Upsert an article and, when its content is new, a version of it.

        The article id derives from the canonical URL's dedup key, the version id from the content
        hash: saving the same content twice writes nothing; changed content adds a version and
        marks the article for re-indexing.
        """
        article_key = ids.article_id(dedup_key(article.canonical_url))
        content = ids.content_hash(article.title, article.text)
        version = ids.version_id(article_key, content)
        c = t.articles.c
        version_row = {
            "id": version,
            "article_id": article_key,
            "content_hash": content,
            "title": article.title,
            "text": article.text,
            "capture_id": capture_id,
            "extracted_at": now,
            "encoding": article.encoding,
        }
        with self.begin() as conn:
            fields = {
                "outlet_id": outlet_id,
                "canonical_url": article.canonical_url,
                "url": article.url,
                "title": article.title,
                "published_at": article.published_at,
                "published_at_source": (
                    str(article.published_at_source) if article.published_at_source else None
                ),
                "authors": list(article.authors),
                "site_name": article.site_name,
                "description": article.description,
                "language": language.language if language else article.language_hint,
                "language_confidence": language.confidence if language else None,
                "word_count": len(article.text.split()),
            }
            created = (
                insert_ignore(
                    conn,
                    t.articles,
                    [
                        {
                            "id": article_key,
                            **fields,
                            "current_version_id": version,
                            "first_seen_at": now,
                            "updated_at": now,
                            "version_count": 1,
                            "index_version": 1,
                            "indexed_version": 0,
                        }
                    ],
                )
                > 0
            )
            # The version row is inserted after the article row it references; an older content
            # that comes back (a revert) finds its version row already there and becomes current.
            insert_ignore(conn, t.article_versions, [version_row])
            if created:
                return SaveResult(article_key, version, created=True, changed=True)
            current = conn.execute(select(t.articles).where(c.id == article_key)).mappings().one()
            if current["current_version_id"] == version:
                return SaveResult(article_key, version, created=False, changed=False)
            # Keep the first known publication time: an edit is not a new publication.
            published = as_utc(current["published_at"]) or fields["published_at"]
            conn.execute(
                update(t.articles)
                .where(c.id == article_key)
                .values(
                    **fit_row(t.articles, {**fields, "published_at": published}),
                    current_version_id=version,
                    updated_at=now,
                    version_count=select(func.count())
                    .select_from(t.article_versions)
                    .where(t.article_versions.c.article_id == article_key)
                    .scalar_subquery(),
                    index_version=c.index_version + 1,
                )
            )
            return SaveResult(article_key, version, created=False, changed=True)

    def save_tags(self, article_id: str, tags: Sequence[TopicTag]) -> bool:
        """Replace an article's topic tags; bump its index version only when they changed."""
        wanted = {
            tag.topic: {
                "score": round(tag.score, 6),
                "evidence": [
                    {
                        "term": e.term,
                        "matched": e.matched,
                        "field": e.field,
                        "position": e.position,
                        "weight": e.weight,
                    }
                    for e in tag.evidence
                ],
            }
            for tag in tags
        }
        c = t.article_tags.c
        with self.begin() as conn:
            # Two workers that fetched the same article would both find no tags and both insert
            # them (a unique violation for the second): the article row lock serialises them.
            conn.execute(
                select(t.articles.c.id).where(t.articles.c.id == article_id).with_for_update()
            )
            rows = conn.execute(select(t.article_tags).where(c.article_id == article_id)).mappings()
            current = {
                row["topic"]: {"score": round(row["score"], 6), "evidence": row["evidence"]}
                for row in rows
            }
            if current == wanted:
                return False
            conn.execute(t.article_tags.delete().where(c.article_id == article_id))
            for topic, value in sorted(wanted.items()):
                conn.execute(
                    t.article_tags.insert().values(article_id=article_id, topic=topic, **value)
                )
            conn.execute(
                update(t.articles)
                .where(t.articles.c.id == article_id)
                .values(index_version=t.articles.c.index_version + 1)
            )
        return True

    def article_tags(self, article_id: str) -> tuple[TopicTag, ...]:
        """Return an article's stored topic tags with their evidence, in topic order."""
        c = t.article_tags.c
        with self.begin() as conn:
            rows = conn.execute(
                select(t.article_tags).where(c.article_id == article_id).order_by(c.topic)
            ).mappings()
            return tuple(
                TopicTag(
                    topic=row["topic"],
                    score=row["score"],
                    evidence=tuple(
                        TagEvidence(
                            term=item["term"],
                            matched=item["matched"],
                            field=item["field"],
                            position=item["position"],
                            weight=item["weight"],
                        )
                        for item in row["evidence"]
                    ),
                )
                for row in rows
            )

    def article_summary(self, article_id: str) -> dict[str, Any] | None:
        """Return the stored fields of one article (no text), or None when unknown."""
        with self.begin() as conn:
            row = (
                conn.execute(select(t.articles).where(t.articles.c.id == article_id))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def article_text(self, article_id: str) -> tuple[str | None, str, str | None] | None:
        """Return (title, text, language) of an article's current version, or None."""
        a, v = t.articles.c, t.article_versions.c
        with self.begin() as conn:
            row = conn.execute(
                select(v.title, v.text, a.language)
                .join_from(t.articles, t.article_versions, a.current_version_id == v.id)
                .where(a.id == article_id)
            ).first()
        return (row.title, row.text, row.language) if row else None

    def article_ids(
        self,
        *,
        published_from: datetime | None = None,
        published_to: datetime | None = None,
        outlet_ids: Sequence[str] | None = None,
    ) -> list[str]:
        """Return ids of articles (optionally published in [from, to)), in a stable order."""
        c = t.articles.c
        query = select(c.id)
        if published_from is not None:
            query = query.where(c.published_at >= published_from)
        if published_to is not None:
            query = query.where(c.published_at < published_to)
        if outlet_ids is not None:
            query = query.where(c.outlet_id.in_(list(outlet_ids)))
        with self.begin() as conn:
            return list(conn.execute(query.order_by(c.id)).scalars())

    def outlets_of(self, article_ids: Sequence[str]) -> dict[str, str]:
        """Return {article_id: outlet_id} for the given articles."""
        c = t.articles.c
        out: dict[str, str] = {}
        with self.begin() as conn:
            for chunk in _chunks(list(article_ids), 500):
                out.update(
                    {
                        row.id: row.outlet_id
                        for row in conn.execute(select(c.id, c.outlet_id).where(c.id.in_(chunk)))
                    }
                )
        return out

    def topics_of(self, article_ids: Sequence[str]) -> dict[str, list[str]]:
        """Return {article_id: [topic, ...]} for the given articles (tagged ones only)."""
        c = t.article_tags.c
        out: dict[str, list[str]] = {}
        with self.begin() as conn:
            for chunk in _chunks(list(article_ids), 500):
                for row in conn.execute(
                    select(c.article_id, c.topic)
                    .where(c.article_id.in_(chunk))
                    .order_by(c.article_id, c.topic)
                ):
                    out.setdefault(row.article_id, []).append(row.topic)
        return out

    # --- index outbox ------------------------------------------------------------------

    def pending_article_ids(self, limit: int | None = None) -> list[str]:
        """Return ids of articles whose latest state is not confirmed in the search index."""
        c = t.articles.c
        query = select(c.id).where(c.indexed_version < c.index_version).order_by(c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.begin() as conn:
            return list(conn.execute(query).scalars())

    def pending_story_ids(self, limit: int | None = None) -> list[str]:
        """Return ids of stories whose latest state is not confirmed in the search index."""
        c = t.stories.c
        query = select(c.id).where(c.indexed_version < c.index_version).order_by(c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.begin() as conn:
            return list(conn.execute(query).scalars())

    def mark_for_reindex(self, article_ids: Sequence[str]) -> None:
        """Force articles (and their stories) to be sent to the index again."""
        a, m, s = t.articles.c, t.story_members.c, t.stories.c
        with self.begin() as conn:
            for chunk in _chunks(list(article_ids), 500):
                conn.execute(
                    update(t.articles)
                    .where(a.id.in_(chunk))
                    .values(index_version=a.index_version + 1)
                )
                story_ids = select(m.story_id).where(m.article_id.in_(chunk))
                conn.execute(
                    update(t.stories)
                    .where(s.id.in_(story_ids))
                    .values(index_version=s.index_version + 1)
                )

    def load_article_documents(self, article_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Return everything the index document of each article needs, keyed by column name."""
        a, v = t.articles.c, t.article_versions.c
        m, s = t.story_members.c, t.stories.c
        out: list[dict[str, Any]] = []
        with self.begin() as conn:
            for chunk in _chunks(list(article_ids), 500):
                rows = (
                    conn.execute(
                        select(
                            t.articles,
                            v.text.label("text"),
                            m.story_id,
                            m.relation,
                            m.score.label("relation_score"),
                            m.matched_article_id,
                            s.origin_article_id,
                            s.first_published_at.label("story_first_published_at"),
                            s.member_count.label("story_member_count"),
                        )
                        .join_from(t.articles, t.article_versions, a.current_version_id == v.id)
                        .outerjoin(t.story_members, m.article_id == a.id)
                        .outerjoin(t.stories, s.id == m.story_id)
                        .where(a.id.in_(chunk))
                    )
                    .mappings()
                    .all()
                )
                tag_rows = (
                    conn.execute(
                        select(t.article_tags)
                        .where(t.article_tags.c.article_id.in_(chunk))
                        .order_by(t.article_tags.c.topic)
                    )
                    .mappings()
                    .all()
                )
                tags: dict[str, list[dict[str, Any]]] = {}
                for tag in tag_rows:
                    tags.setdefault(tag["article_id"], []).append(dict(tag))
                for row in rows:
                    record = dict(row)
                    for key in (
                        "published_at",
                        "first_seen_at",
                        "updated_at",
                        "story_first_published_at",
                    ):
                        record[key] = as_utc(record.get(key))
                    record["tags"] = tags.get(record["id"], [])
                    out.append(record)
        return sorted(out, key=lambda r: str(r["id"]))

    def load_story_documents(self, story_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Return each story with its members (outlet, language, time, relation)."""
        a, m, s = t.articles.c, t.story_members.c, t.stories.c
        out: list[dict[str, Any]] = []
        with self.begin() as conn:
            for chunk in _chunks(list(story_ids), 500):
                stories = conn.execute(select(t.stories).where(s.id.in_(chunk))).mappings().all()
                members = (
                    conn.execute(
                        select(
                            m.story_id,
                            m.article_id,
                            m.relation,
                            m.score,
                            m.matched_article_id,
                            a.outlet_id,
                            a.language,
                            a.published_at,
                            a.first_seen_at,
                            a.title,
                            a.canonical_url,
                        )
                        .join_from(t.story_members, t.articles, a.id == m.article_id)
                        .where(m.story_id.in_(chunk))
                    )
                    .mappings()
                    .all()
                )
                by_story: dict[str, list[dict[str, Any]]] = {}
                for member in members:
                    record = dict(member)
                    record["published_at"] = as_utc(record["published_at"])
                    record["first_seen_at"] = as_utc(record["first_seen_at"])
                    by_story.setdefault(record["story_id"], []).append(record)
                for story in stories:
                    record = dict(story)
                    record["first_published_at"] = as_utc(record["first_published_at"])
                    record["last_published_at"] = as_utc(record["last_published_at"])
                    record["updated_at"] = as_utc(record["updated_at"])
                    record["members"] = sorted(
                        by_story.get(record["id"], []), key=lambda r: str(r["article_id"])
                    )
                    out.append(record)
        return sorted(out, key=lambda r: str(r["id"]))

    def mark_articles_indexed(self, versions: Mapping[str, tuple[int, str]]) -> None:
        """Confirm index versions: {article_id: (index_version sent, index name)}.

        A row changed since it was read keeps a higher index_version and so stays pending.
        """
        if not versions:
            return
        c = t.articles.c
        # One statement, many parameter sets (executemany): per-row UPDATEs cost more than the
        # bulk request itself (bench/index.py).
        statement = (
            update(t.articles)
            .where(c.id == bindparam("b_id"), c.indexed_version < bindparam("b_version"))
            .values(indexed_version=bindparam("b_version"), indexed_index=bindparam("b_index"))
        )
        params = [
            {"b_id": article_id, "b_version": version, "b_index": index_name}
            for article_id, (version, index_name) in versions.items()
        ]
        with self.begin() as conn:
            conn.execute(statement, params)

    def tombstones(self, kind: str, limit: int | None = None) -> list[str]:
        """Return ids of `kind` documents the search index must delete, oldest first."""
        c = t.index_tombstones.c
        query = select(c.doc_id).where(c.kind == kind).order_by(c.created_at, c.doc_id)
        if limit is not None:
            query = query.limit(limit)
        with self.begin() as conn:
            return list(conn.execute(query).scalars())

    def clear_tombstones(self, kind: str, doc_ids: Sequence[str]) -> None:
        """Forget tombstones whose deletion the search index confirmed."""
        c = t.index_tombstones.c
        with self.begin() as conn:
            for chunk in _chunks(list(doc_ids), 500):
                conn.execute(t.index_tombstones.delete().where(c.kind == kind, c.doc_id.in_(chunk)))

    def mark_stories_indexed(self, versions: Mapping[str, int]) -> None:
        """Confirm story index versions: {story_id: index_version sent}."""
        c = t.stories.c
        with self.begin() as conn:
            for story_id, version in versions.items():
                conn.execute(
                    update(t.stories)
                    .where(c.id == story_id, c.indexed_version < version)
                    .values(indexed_version=version)
                )

    def reset_index_state(
        self, *, published_from: datetime | None = None, published_to: datetime | None = None
    ) -> int:
        """Mark articles (optionally in a publication range) as not indexed; return the count."""
        c = t.articles.c
        query = update(t.articles)
        if published_from is not None:
            query = query.where(c.published_at >= published_from)
        if published_to is not None:
            query = query.where(c.published_at < published_to)
        with self.begin() as conn:
            changed = conn.execute(query.values(indexed_version=0)).rowcount or 0
            conn.execute(update(t.stories).values(indexed_version=0))
        return changed

    # --- runs and counts -----------------------------------------------------------------

    def record_run(self, run: Mapping[str, Any]) -> None:
        """Record or update a pipeline run row (keyed on its deterministic id)."""
        with self.begin() as conn:
            if not insert_ignore(conn, t.runs, [run]):
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id == run["id"])
                    .values(**{k: v for k, v in run.items() if k != "id"})
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

    # --- re-indexing and template rollouts (mediamon.reindex) --------------------------------

    def story_ids(self) -> list[str]:
        """Return every story id, sorted."""
        with self.begin() as conn:
            return list(conn.execute(select(t.stories.c.id).order_by(t.stories.c.id)).scalars())

    def mark_articles_moved(self, versions: Mapping[str, tuple[int, str]]) -> None:
        """Confirm articles re-sent into new indices: {article_id: (index_version, index name)}.

        Unlike `mark_articles_indexed`, a row already confirmed at that version gets its index
        name moved too (a rollout re-sends unchanged rows into the next schema version's indices).
        """
        if not versions:
            return
        c = t.articles.c
        # One statement, many parameter sets (executemany): a rollout moves every article.
        statement = (
            update(t.articles)
            .where(c.id == bindparam("b_id"), c.indexed_version <= bindparam("b_version"))
            .values(indexed_version=bindparam("b_version"), indexed_index=bindparam("b_index"))
        )
        params = [
            {"b_id": article_id, "b_version": version, "b_index": index_name}
            for article_id, (version, index_name) in versions.items()
        ]
        with self.begin() as conn:
            conn.execute(statement, params)

    def indexed_locations(self) -> tuple[list[tuple[str, str]], list[str]]:
        """Return what the outbox says the index holds: ([(article_id, index)], [story_id])."""
        a, s = t.articles.c, t.stories.c
        with self.begin() as conn:
            articles = conn.execute(
                select(a.id, a.indexed_index)
                .where(a.indexed_version > 0, a.indexed_index.is_not(None))
                .order_by(a.id)
            ).all()
            stories = (
                conn.execute(select(s.id).where(s.indexed_version > 0).order_by(s.id))
                .scalars()
                .all()
            )
        return [(row.id, row.indexed_index) for row in articles], list(stories)

    def unmark_indexed(self, article_ids: Sequence[str], story_ids: Sequence[str]) -> None:
        """Put articles and stories back in the outbox (the index lost them)."""
        a, s = t.articles.c, t.stories.c
        with self.begin() as conn:
            for chunk in _chunks(list(article_ids), 500):
                conn.execute(update(t.articles).where(a.id.in_(chunk)).values(indexed_version=0))
            for chunk in _chunks(list(story_ids), 500):
                conn.execute(update(t.stories).where(s.id.in_(chunk)).values(indexed_version=0))


def _asdict(capture: CaptureRow) -> dict[str, Any]:
    return {name: getattr(capture, name) for name in CaptureRow.__slots__}


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


def _pending_link(row: Mapping[Any, Any]) -> PendingLink:
    return PendingLink(
        id=row["id"],
        link=discovered_link_from_row(row),
        attempts=row["attempts"],
        etag=row["etag"],
        last_modified=row["last_modified"],
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
