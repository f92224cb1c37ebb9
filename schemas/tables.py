"""SQL tables of the system of record (SQLAlchemy 2 Core), portable between SQLite and PostgreSQL.

Ids are deterministic strings computed by `transforms.ids`, so every write can be an upsert keyed on
them. Index state is an outbox in two integers per row: `index_version` is bumped whenever the row
changes in a way the search index must see; `indexed_version` records what the indexer confirmed.
A row is pending while `indexed_version < index_version`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(64)
TZ = DateTime(timezone=True)

outlets = Table(
    "outlets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("homepage", Text, nullable=False),
    Column("languages", JSON, nullable=False, default=list),
    Column("country", String(8)),
    Column("updated_at", TZ, nullable=False),
)

# One row per feed, sitemap or section page of an outlet: conditional-GET validators and health.
outlet_sources = Table(
    "outlet_sources",
    metadata,
    Column("id", ID, primary_key=True),
    Column("outlet_id", ID, ForeignKey("outlets.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_attempt_at", TZ),
    Column("last_success_at", TZ),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_error_kind", String(64)),
    Column("last_error_message", Text),
    Column("links_seen", Integer, nullable=False, default=0),
)

# The fetch queue: every article URL discovered, with what its source said about it.
discovered_urls = Table(
    "discovered_urls",
    metadata,
    Column("id", ID, primary_key=True),
    Column("outlet_id", ID, ForeignKey("outlets.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("source_kind", String(16), nullable=False),
    Column("source_url", Text, nullable=False),
    Column("title", Text),
    Column("published_at", TZ),
    Column("author", Text),
    Column("language", String(16)),
    Column("summary", Text),
    Column("first_seen_at", TZ, nullable=False),
    Column("last_seen_at", TZ, nullable=False),
    # pending -> fetched | failed (permanent) ; transient failures stay pending with attempts += 1
    Column("status", String(16), nullable=False, default="pending", index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error_kind", String(64)),
    Column("last_error_message", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_fetched_at", TZ),
    Column("article_id", ID, index=True),
    # How many ages of the revisit schedule are done (a re-run of a window revisits nothing
    # twice); a revisit answered 404/410 sets the status to "removed", which ends revisits.
    Column("revisit_step", Integer, nullable=False, default=0, server_default="0"),
)

# Index of the raw archive: one row per response body kept (content-addressed by sha256).
captures = Table(
    "captures",
    metadata,
    Column("id", ID, primary_key=True),
    Column("url", Text, nullable=False),
    Column("final_url", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("content_type", String(255)),
    Column("fetched_at", TZ, nullable=False),
    Column("body_sha256", String(64), nullable=False, index=True),
    Column("body_length", BigInteger, nullable=False),
    Column("warc_path", Text, nullable=False),
    Column("warc_offset", BigInteger, nullable=False),
    Column("warc_length", BigInteger, nullable=False),
)

articles = Table(
    "articles",
    metadata,
    Column("id", ID, primary_key=True),
    Column("outlet_id", ID, ForeignKey("outlets.id"), nullable=False, index=True),
    Column("canonical_url", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("current_version_id", ID, nullable=False),
    Column("title", Text),
    Column("published_at", TZ, index=True),
    Column("published_at_source", String(16)),
    Column("authors", JSON, nullable=False, default=list),
    Column("site_name", Text),
    Column("description", Text),
    Column("language", String(16), index=True),
    Column("language_confidence", Float),
    Column("word_count", Integer, nullable=False, default=0),
    Column("first_seen_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Column("version_count", Integer, nullable=False, default=1),
    # When a changed version was last seen (None: never edited), and when the page went away.
    Column("last_edited_at", TZ),
    Column("removed_at", TZ),
    Column("index_version", Integer, nullable=False, default=1),
    Column("indexed_version", Integer, nullable=False, default=0),
    Column("indexed_index", String(255)),
    Index("ix_articles_pending", "indexed_version", "index_version"),
)

article_versions = Table(
    "article_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("article_id", ID, ForeignKey("articles.id"), nullable=False, index=True),
    Column("content_hash", String(64), nullable=False),
    Column("title", Text),
    Column("text", Text, nullable=False),
    Column("capture_id", ID, ForeignKey("captures.id")),
    Column("extracted_at", TZ, nullable=False),
    Column("encoding", String(64)),
    # Author and date as extracted with this version (None on versions older than revisits).
    Column("authors", JSON),
    Column("published_at", TZ),
    # What changed against the previous version (`transforms.versions.VersionChange`); None on
    # an article's first version.
    Column("changes", JSON),
    UniqueConstraint("article_id", "content_hash"),
)

# What happened to an article besides new versions: "removed" (404/410 on a revisit after it had
# existed). Keyed on (article, kind, time), so a re-run writes nothing new.
article_events = Table(
    "article_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("article_id", ID, ForeignKey("articles.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("occurred_at", TZ, nullable=False),
    Column("status", Integer),
    Column("detail", JSON, nullable=False, default=dict),
)

article_tags = Table(
    "article_tags",
    metadata,
    Column("article_id", ID, ForeignKey("articles.id"), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("score", Float, nullable=False),
    Column("evidence", JSON, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("started_at", TZ, nullable=False),
    Column("finished_at", TZ),
    Column("window_start", TZ),
    Column("window_end", TZ),
    Column("status", String(16), nullable=False),
    Column("counts", JSON, nullable=False, default=dict),
)

stories = Table(
    "stories",
    metadata,
    Column("id", ID, primary_key=True),
    Column("origin_article_id", ID, ForeignKey("articles.id"), nullable=False),
    Column("first_published_at", TZ),
    Column("last_published_at", TZ),
    Column("member_count", Integer, nullable=False, default=1),
    Column("updated_at", TZ, nullable=False),
    Column("index_version", Integer, nullable=False, default=1),
    Column("indexed_version", Integer, nullable=False, default=0),
)

# Every article belongs to exactly one story (a singleton story until a copy arrives).
story_members = Table(
    "story_members",
    metadata,
    Column("article_id", ID, ForeignKey("articles.id"), primary_key=True),
    Column("story_id", ID, ForeignKey("stories.id"), nullable=False, index=True),
    Column("relation", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("matched_article_id", ID),
    Column("evidence", JSON, nullable=False, default=dict),
)

# Fingerprints of the current version of each article, and the LSH buckets that find candidates.
fingerprints = Table(
    "fingerprints",
    metadata,
    Column("article_id", ID, ForeignKey("articles.id"), primary_key=True),
    Column("version_id", ID, nullable=False),
    Column("exact_hash", String(64), nullable=False, index=True),
    Column("minhash", LargeBinary, nullable=False),
    Column("shingle_count", Integer, nullable=False),
    Column("language", String(16)),
    Column("published_at", TZ, index=True),
    Column("vector", LargeBinary),
    Column("features", JSON, nullable=False, default=dict),
)

lsh_buckets = Table(
    "lsh_buckets",
    metadata,
    Column("bucket", String(64), primary_key=True),
    Column("article_id", ID, ForeignKey("articles.id"), primary_key=True),
    # Deleting the buckets of an article's previous version looks them up by article.
    Index("ix_lsh_buckets_article_id", "article_id"),
)

# Which articles a document-level edge links, with the verified relation and score.
story_edges = Table(
    "story_edges",
    metadata,
    Column("article_id", ID, ForeignKey("articles.id"), primary_key=True),
    Column("other_article_id", ID, ForeignKey("articles.id"), primary_key=True, index=True),
    Column("relation", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("evidence", JSON, nullable=False, default=dict),
)

# Documents to delete from the search index (a story re-keyed when its origin was re-elected).
# The indexer deletes them before sending stories and removes the row once the cluster confirmed.
index_tombstones = Table(
    "index_tombstones",
    metadata,
    Column("kind", String(16), primary_key=True),  # "story" or "article"
    Column("doc_id", ID, primary_key=True),
    Column("created_at", TZ, nullable=False),
)
