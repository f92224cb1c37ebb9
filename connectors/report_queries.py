"""Read-only SQL behind the static report (`mediamon.report`): articles and story members of a
publication window, straight from the store, so the report works without Elasticsearch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, or_, select

from connectors.store import as_utc
from schemas import tables as t


@dataclass(frozen=True, slots=True)
class ReportArticle:
    """One article of the window: outlet, time, language and topics."""

    id: str
    outlet: str
    published_at: datetime
    language: str | None
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportMember:
    """One member of a multi-member story, with the story's origin."""

    story_id: str
    origin_article_id: str
    article_id: str
    outlet: str
    language: str | None
    published_at: datetime | None
    relation: str
    title: str | None


def _window(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    clauses = [column.is_not(None)]
    if start is not None:
        clauses.append(column >= start)
    if end is not None:
        clauses.append(column < end)
    return clauses


def _topic_clause(topic: str) -> Any:
    tags = t.article_tags.c
    return or_(tags.topic == topic, tags.topic.like(f"{topic}/%"))


def load_report_articles(
    engine: Engine, start: datetime | None, end: datetime | None, topic: str | None = None
) -> list[ReportArticle]:
    """Articles published in [start, end) (optionally tagged `topic` or a sub-topic), by time."""
    a, tags = t.articles.c, t.article_tags.c
    query = select(a.id, a.outlet_id, a.published_at, a.language).where(
        *_window(a.published_at, start, end)
    )
    if topic:
        query = query.where(a.id.in_(select(tags.article_id).where(_topic_clause(topic))))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(a.published_at, a.id)).all()
        topics: dict[str, list[str]] = {}
        ids = [row.id for row in rows]
        for start_at in range(0, len(ids), 500):
            chunk = ids[start_at : start_at + 500]
            for tag in conn.execute(
                select(tags.article_id, tags.topic)
                .where(tags.article_id.in_(chunk))
                .order_by(tags.article_id, tags.topic)
            ):
                topics.setdefault(tag.article_id, []).append(tag.topic)
    out = []
    for row in rows:
        published = as_utc(row.published_at)
        assert published is not None
        out.append(
            ReportArticle(
                row.id, row.outlet_id, published, row.language, tuple(topics.get(row.id, ()))
            )
        )
    return out


def load_report_story_members(
    engine: Engine, start: datetime | None, end: datetime | None, topic: str | None = None
) -> list[ReportMember]:
    """Members of stories with more than one member whose origin was published in [start, end).

    With `topic`, only stories with at least one member tagged with it (or a sub-topic).
    """
    a, m, s, tags = t.articles.c, t.story_members.c, t.stories.c, t.article_tags.c
    query = (
        select(
            m.story_id,
            s.origin_article_id,
            m.article_id,
            a.outlet_id,
            a.language,
            a.published_at,
            m.relation,
            a.title,
        )
        .join_from(t.story_members, t.stories, s.id == m.story_id)
        .join(t.articles, a.id == m.article_id)
        .where(s.member_count > 1, *_window(s.first_published_at, start, end))
    )
    if topic:
        tagged = (
            select(m.story_id)
            .join_from(t.story_members, t.article_tags, tags.article_id == m.article_id)
            .where(_topic_clause(topic))
        )
        query = query.where(m.story_id.in_(tagged))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(m.story_id, a.published_at, m.article_id)).all()
    return [
        ReportMember(
            row.story_id,
            row.origin_article_id,
            row.article_id,
            row.outlet_id,
            row.language,
            as_utc(row.published_at),
            row.relation,
            row.title,
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class ReportEdit:
    """An article of the window changed after publication: its versions and the last change."""

    article_id: str
    outlet: str
    title: str | None
    published_at: datetime | None
    version_count: int
    last_edited_at: datetime | None
    last_changes: dict[str, Any] | None
    removed_at: datetime | None


def load_report_edits(
    engine: Engine, start: datetime | None, end: datetime | None, topic: str | None = None
) -> list[ReportEdit]:
    """Articles published in [start, end) that were edited or removed, latest edit first."""
    a, v, tags = t.articles.c, t.article_versions.c, t.article_tags.c
    query = select(
        a.id,
        a.outlet_id,
        a.title,
        a.published_at,
        a.version_count,
        a.last_edited_at,
        a.removed_at,
        v.changes,
    ).join_from(t.articles, t.article_versions, v.id == a.current_version_id)
    query = query.where(
        *_window(a.published_at, start, end), or_(a.version_count > 1, a.removed_at.is_not(None))
    )
    if topic:
        query = query.where(a.id.in_(select(tags.article_id).where(_topic_clause(topic))))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(a.id)).all()
    edits = [
        ReportEdit(
            row.id,
            row.outlet_id,
            row.title,
            as_utc(row.published_at),
            row.version_count,
            as_utc(row.last_edited_at),
            row.changes,
            as_utc(row.removed_at),
        )
        for row in rows
    ]
    return sorted(
        edits,
        key=lambda e: e.last_edited_at or e.removed_at or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
