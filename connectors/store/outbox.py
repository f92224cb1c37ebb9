"""The search-index outbox: what the index still lacks, the rows documents are built from,
tombstones of documents to delete, and the bookkeeping of re-indexing and rollouts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from connectors.store.engine import StoreBase, as_utc, chunks
from schemas import tables as t


class IndexOutbox(StoreBase):
    """The index columns of `articles` and `stories`, and `index_tombstones`."""

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

    def load_article_documents(self, article_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Return everything the index document of each article needs, keyed by column name."""
        a, v = t.articles.c, t.article_versions.c
        m, s = t.story_members.c, t.stories.c
        out: list[dict[str, Any]] = []
        with self.begin() as conn:
            for chunk in chunks(list(article_ids), 500):
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
                        "last_edited_at",
                        "removed_at",
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
            for chunk in chunks(list(story_ids), 500):
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
            for chunk in chunks(list(doc_ids), 500):
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
            for chunk in chunks(list(article_ids), 500):
                conn.execute(update(t.articles).where(a.id.in_(chunk)).values(indexed_version=0))
            for chunk in chunks(list(story_ids), 500):
                conn.execute(update(t.stories).where(s.id.in_(chunk)).values(indexed_version=0))

    def count_index_pending(self) -> dict[str, int]:
        """Return how many articles and stories still wait for the search index."""
        a, s = t.articles.c, t.stories.c
        with self.begin() as conn:
            articles = conn.execute(
                select(func.count())
                .select_from(t.articles)
                .where(a.indexed_version < a.index_version)
            ).scalar_one()
            stories = conn.execute(
                select(func.count())
                .select_from(t.stories)
                .where(s.indexed_version < s.index_version)
            ).scalar_one()
        return {"articles": int(articles), "stories": int(stories)}
