"""Articles, their versions and their topic tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from connectors.store.engine import StoreBase, as_utc, chunks, insert_ignore
from schemas import tables as t
from schemas.bounds import fit_row
from schemas.records import DateSource, ExtractedArticle, LanguageGuess, TagEvidence, TopicTag
from transforms import ids
from transforms.urls import dedup_key
from transforms.versions import VersionContent, compare_versions

# Dates an edit may be made of: declared by the page. A date guessed from the whole page or the
# URL can move with the page's furniture (today's date in a header) and would fake edits.
_DECLARED_DATES = (DateSource.JSON_LD, DateSource.META)


def _content_of(article: ExtractedArticle) -> VersionContent:
    declared = article.published_at_source in _DECLARED_DATES
    return VersionContent(
        title=article.title,
        text=article.text,
        authors=tuple(article.authors),
        published_at=article.published_at if declared else None,
    )


def _stored_content(row: Mapping[Any, Any]) -> VersionContent:
    authors = row["authors"]
    return VersionContent(
        title=row["title"],
        text=row["text"],
        authors=tuple(authors) if authors is not None else None,
        published_at=as_utc(row["published_at"]),
    )


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One stored version of an article: its time, content and what changed before it."""

    id: str
    extracted_at: datetime
    content: VersionContent
    changes: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ArticleHistory:
    """An article's versions (oldest first) and events (kind, time, HTTP status)."""

    article_id: str
    outlet_id: str
    canonical_url: str
    current_version_id: str
    first_seen_at: datetime
    removed_at: datetime | None
    versions: tuple[StoredVersion, ...]
    events: tuple[tuple[str, datetime, int | None], ...]


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What `Store.save_article` did: ids, and whether anything was written."""

    article_id: str
    version_id: str
    created: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    """The stored fields of one article that explain it (no text)."""

    id: str
    outlet_id: str
    title: str | None
    canonical_url: str
    language: str | None
    language_confidence: float | None
    published_at: datetime | None


class ArticleTables(StoreBase):
    """The `articles`, `article_versions` and `article_tags` tables."""

    def save_article(
        self,
        outlet_id: str,
        article: ExtractedArticle,
        *,
        capture_id: str | None,
        now: datetime,
        language: LanguageGuess | None,
    ) -> SaveResult:
        """Upsert an article and, when it was edited, a new version of it.

        The article id derives from the canonical URL's dedup key, the version id from the content
        hash. An edit is decided by `transforms.versions.compare_versions` against the current
        version (title, text paragraphs, authors, a trusted date), so saving the same article
        twice writes nothing even when the page around it changed; an edit adds a version with
        what changed, sets `last_edited_at` and marks the article for re-indexing.
        """
        article_key = ids.article_id(dedup_key(article.canonical_url))
        content = _content_of(article)
        digest = ids.content_hash(article.title, article.text)
        version = ids.version_id(article_key, digest)
        c, v = t.articles.c, t.article_versions.c
        version_row: dict[str, Any] = {
            "id": version,
            "article_id": article_key,
            "content_hash": digest,
            "title": article.title,
            "text": article.text,
            "capture_id": capture_id,
            "extracted_at": now,
            "encoding": article.encoding,
            "authors": list(content.authors or ()),
            "published_at": content.published_at,
            "changes": None,
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
            if created:
                insert_ignore(conn, t.article_versions, [version_row])
                return SaveResult(article_key, version, created=True, changed=True)
            current = conn.execute(select(t.articles).where(c.id == article_key)).mappings().one()
            previous = (
                conn.execute(
                    select(v.title, v.text, v.authors, v.published_at).where(
                        v.id == current["current_version_id"]
                    )
                )
                .mappings()
                .first()
            )
            change = (
                compare_versions(_stored_content(previous), content)
                if previous is not None
                else None
            )
            if previous is not None and change is None:
                return SaveResult(article_key, current["current_version_id"], False, False)
            if current["current_version_id"] == version:
                # Only authors or the date changed: the same text keeps its version row.
                conn.execute(
                    update(t.article_versions)
                    .where(v.id == version)
                    .values(
                        authors=version_row["authors"],
                        published_at=version_row["published_at"],
                        changes=change.as_dict() if change else None,
                    )
                )
            else:
                # An older content that comes back (a revert) finds its version row already
                # there and becomes current again.
                version_row["changes"] = change.as_dict() if change else None
                insert_ignore(conn, t.article_versions, [version_row])
            # Keep the first known publication time: an edit is not a new publication.
            published = as_utc(current["published_at"]) or fields["published_at"]
            conn.execute(
                update(t.articles)
                .where(c.id == article_key)
                .values(
                    **fit_row(t.articles, {**fields, "published_at": published}),
                    current_version_id=version,
                    updated_at=now,
                    last_edited_at=now,
                    version_count=select(func.count())
                    .select_from(t.article_versions)
                    .where(t.article_versions.c.article_id == article_key)
                    .scalar_subquery(),
                    index_version=c.index_version + 1,
                )
            )
            return SaveResult(article_key, version, created=False, changed=True)

    def record_removal(
        self, article_id: str, *, link_id: str, status: int, url: str, now: datetime
    ) -> bool:
        """Record that a known article's page answered `status` (404/410): an event, not a failure.

        Sets `removed_at` (re-indexed), ends the link's revisits (status `removed`) and adds one
        `removed` event; returns False when the article was already recorded as removed.
        """
        a = t.articles.c
        with self.begin() as conn:
            conn.execute(
                update(t.discovered_urls)
                .where(t.discovered_urls.c.id == link_id)
                .values(status="removed", last_fetched_at=now)
            )
            removed = conn.execute(select(a.removed_at).where(a.id == article_id)).scalar()
            if removed is not None:
                return False
            conn.execute(
                update(t.articles)
                .where(a.id == article_id)
                .values(removed_at=now, index_version=a.index_version + 1)
            )
            insert_ignore(
                conn,
                t.article_events,
                [
                    {
                        "id": ids.event_id(article_id, "removed", now.isoformat()),
                        "article_id": article_id,
                        "kind": "removed",
                        "occurred_at": now,
                        "status": status,
                        "detail": {"url": url},
                    }
                ],
            )
        return True

    def resolve_article_id(self, prefix: str) -> str | None:
        """The id of the one article whose id starts with `prefix`, else None (none or several)."""
        c = t.articles.c
        cleaned = prefix.strip().lower()
        if not cleaned or not cleaned.isalnum():
            return None
        with self.begin() as conn:
            found = list(
                conn.execute(select(c.id).where(c.id.startswith(cleaned)).limit(2)).scalars()
            )
        return found[0] if len(found) == 1 else None

    def article_history(self, article_id: str) -> ArticleHistory | None:
        """Every version of an article (oldest first) and its events, or None when unknown."""
        a, v, e = t.articles.c, t.article_versions.c, t.article_events.c
        with self.begin() as conn:
            row = conn.execute(select(t.articles).where(a.id == article_id)).mappings().first()
            if row is None:
                return None
            versions = conn.execute(
                select(t.article_versions)
                .where(v.article_id == article_id)
                .order_by(v.extracted_at, v.id)
            ).mappings()
            events = conn.execute(
                select(t.article_events)
                .where(e.article_id == article_id)
                .order_by(e.occurred_at, e.id)
            ).mappings()
            return ArticleHistory(
                article_id=article_id,
                outlet_id=row["outlet_id"],
                canonical_url=row["canonical_url"],
                current_version_id=row["current_version_id"],
                first_seen_at=as_utc(row["first_seen_at"]) or row["first_seen_at"],
                removed_at=as_utc(row["removed_at"]),
                versions=tuple(
                    StoredVersion(
                        id=item["id"],
                        extracted_at=as_utc(item["extracted_at"]) or item["extracted_at"],
                        content=_stored_content(item),
                        changes=item["changes"],
                    )
                    for item in versions
                ),
                events=tuple(
                    (
                        item["kind"],
                        as_utc(item["occurred_at"]) or item["occurred_at"],
                        item["status"],
                    )
                    for item in events
                ),
            )

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

    def article_summary(self, article_id: str) -> ArticleSummary | None:
        """Return the stored fields of one article (no text), or None when unknown."""
        c = t.articles.c
        with self.begin() as conn:
            row = conn.execute(
                select(
                    c.id,
                    c.outlet_id,
                    c.title,
                    c.canonical_url,
                    c.language,
                    c.language_confidence,
                    c.published_at,
                ).where(c.id == article_id)
            ).first()
        if row is None:
            return None
        return ArticleSummary(
            id=row.id,
            outlet_id=row.outlet_id,
            title=row.title,
            canonical_url=row.canonical_url,
            language=row.language,
            language_confidence=row.language_confidence,
            published_at=as_utc(row.published_at),
        )

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
            for chunk in chunks(list(article_ids), 500):
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
            for chunk in chunks(list(article_ids), 500):
                for row in conn.execute(
                    select(c.article_id, c.topic)
                    .where(c.article_id.in_(chunk))
                    .order_by(c.article_id, c.topic)
                ):
                    out.setdefault(row.article_id, []).append(row.topic)
        return out

    def articles_without_current_story(self) -> list[str]:
        """Articles without a story, or whose fingerprint is not of their current version.

        A run killed between storing articles and clustering them leaves such articles behind,
        no longer pending anywhere else; the next clustering picks them up.
        """
        a, f, m = t.articles.c, t.fingerprints.c, t.story_members.c
        query = (
            select(a.id)
            .outerjoin(t.fingerprints, f.article_id == a.id)
            .outerjoin(t.story_members, m.article_id == a.id)
            .where(
                (f.article_id.is_(None))
                | (f.version_id != a.current_version_id)
                | (m.article_id.is_(None))
            )
            .order_by(a.id)
        )
        with self.begin() as conn:
            return list(conn.execute(query).scalars())
