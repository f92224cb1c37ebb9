"""Read-only SQL behind the story audit views: memberships, the edges inside a story, one story.

`mediamon story ID` and the worst-merge report of `mediamon eval stories` read through here; this
module never writes. An edge is stored once per pair (`article_id` < `other_article_id` is not
guaranteed), so every lookup of "the edge between x and y" tries both directions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select

from connectors.store import as_utc
from schemas import tables as t

# Ids are lower-case hex (transforms/ids.py); a reference in any other alphabet cannot match and
# must never reach a LIKE pattern.
_ID_PREFIX = re.compile(r"[0-9a-f]{6,64}")


class AmbiguousReference(LookupError):
    """A short id matched more than one story or article; the message lists the candidates."""


@dataclass(frozen=True, slots=True)
class StoredEdge:
    """A verified edge between two articles, as stored in `story_edges`."""

    article_id: str
    other_article_id: str
    relation: str
    score: float
    evidence: dict[str, Any]

    def touches(self, article_id: str) -> bool:
        """Return whether the edge has `article_id` at either end."""
        return article_id in (self.article_id, self.other_article_id)


@dataclass(frozen=True, slots=True)
class Membership:
    """An article's row in `story_members`, with whether it is its story's elected origin."""

    article_id: str
    story_id: str
    relation: str
    score: float
    matched_article_id: str | None
    evidence: dict[str, Any]
    is_origin: bool
    member_count: int


@dataclass(frozen=True, slots=True)
class AuditMember:
    """One member of an audited story.

    `filed_at` is the publication time, else the first-seen time (`dated` says which); `lag` is
    `filed_at` minus the origin's `filed_at` (None for the origin itself). `edge` is the stored
    edge between the member and the article it was matched to, or None when there is none (the
    origin, or a member admitted through its story rather than one edge).
    """

    article_id: str
    outlet_id: str
    language: str | None
    title: str | None
    url: str
    published_at: datetime | None
    first_seen_at: datetime | None
    relation: str
    score: float
    matched_article_id: str | None
    evidence: dict[str, Any]
    edge: StoredEdge | None
    lag: timedelta | None

    @property
    def filed_at(self) -> datetime | None:
        """Publication time, else first-seen time."""
        return self.published_at or self.first_seen_at

    @property
    def dated(self) -> bool:
        """Whether `filed_at` is a publication time (not a first-seen time)."""
        return self.published_at is not None


@dataclass(frozen=True, slots=True)
class StoryAudit:
    """A story for audit: its origin, the other members by filing time, every edge inside it."""

    story_id: str
    origin: AuditMember
    members: tuple[AuditMember, ...]
    edges: tuple[StoredEdge, ...]


def memberships(
    conn: Connection, article_ids: Iterable[str] | None = None
) -> dict[str, Membership]:
    """Return the story membership of each article (all articles when `article_ids` is None).

    Articles without a membership (never clustered) are absent from the result.
    """
    m, s = t.story_members.c, t.stories.c
    query = select(
        m.article_id,
        m.story_id,
        m.relation,
        m.score,
        m.matched_article_id,
        m.evidence,
        s.origin_article_id,
        s.member_count,
    ).join(t.stories, s.id == m.story_id)
    parameters: dict[str, Any] = {}
    if article_ids is not None:
        query = query.where(m.article_id.in_(bindparam("ids", expanding=True)))
        parameters["ids"] = sorted(set(article_ids))
        if not parameters["ids"]:
            return {}
    return {
        str(r.article_id): Membership(
            str(r.article_id),
            str(r.story_id),
            str(r.relation),
            float(r.score),
            r.matched_article_id,
            dict(r.evidence or {}),
            r.origin_article_id == r.article_id,
            int(r.member_count),
        )
        for r in conn.execute(query, parameters)
    }


def edges_among(conn: Connection, article_ids: Iterable[str]) -> list[StoredEdge]:
    """Return every stored edge with both ends among `article_ids`, ordered by (a, b)."""
    ids = sorted(set(article_ids))
    if not ids:
        return []
    e = t.story_edges.c
    rows = conn.execute(
        select(e.article_id, e.other_article_id, e.relation, e.score, e.evidence)
        .where(
            and_(
                e.article_id.in_(bindparam("a", expanding=True)),
                e.other_article_id.in_(bindparam("b", expanding=True)),
            )
        )
        .order_by(e.article_id, e.other_article_id),
        {"a": ids, "b": ids},
    ).all()
    return [
        StoredEdge(
            str(r.article_id),
            str(r.other_article_id),
            str(r.relation),
            float(r.score),
            dict(r.evidence or {}),
        )
        for r in rows
    ]


def edge_between(edges: Sequence[StoredEdge], a: str, b: str | None) -> StoredEdge | None:
    """Return the edge joining `a` and `b` in either direction, or None."""
    if b is None:
        return None
    return next((x for x in edges if x.touches(a) and x.touches(b) and a != b), None)


def resolve_story_id(conn: Connection, reference: str) -> str | None:
    """Return the story a reference names: a story id, a member's article id, or a unique prefix.

    Exact ids win over prefixes; a prefix (6+ hex characters, as the listings show) must match
    exactly one story or article. Returns None when nothing matches; raises
    `AmbiguousReference` when a prefix matches several.
    """
    s, m = t.stories.c, t.story_members.c
    reference = reference.strip().lower()
    if conn.execute(select(s.id).where(s.id == reference)).first() is not None:
        return reference
    story = conn.execute(select(m.story_id).where(m.article_id == reference)).scalar()
    if story is not None:
        return str(story)
    if not _ID_PREFIX.fullmatch(reference):
        return None
    pattern = f"{reference}%"
    stories = {
        str(x) for x in conn.execute(select(s.id).where(s.id.like(pattern)).limit(5)).scalars()
    }
    by_article = {
        str(r.article_id): str(r.story_id)
        for r in conn.execute(
            select(m.article_id, m.story_id).where(m.article_id.like(pattern)).limit(5)
        )
    }
    found = stories | set(by_article.values())
    if len(found) > 1 or len(by_article) > 1:
        names = sorted(stories | set(by_article))
        raise AmbiguousReference(f"{reference} matches several ids: {', '.join(names)}")
    return found.pop() if found else None


def audit_story(conn: Connection, story_id: str) -> StoryAudit | None:
    """Return a story with every member, its lag, match and admitting edge; None when unknown.

    Members other than the origin are ordered by filing time (undated last), then id.
    """
    s, m, a = t.stories.c, t.story_members.c, t.articles.c
    origin_id = conn.execute(select(s.origin_article_id).where(s.id == story_id)).scalar()
    if origin_id is None:
        return None
    rows = conn.execute(
        select(
            m.article_id,
            m.relation,
            m.score,
            m.matched_article_id,
            m.evidence,
            a.outlet_id,
            a.language,
            a.title,
            a.canonical_url,
            a.published_at,
            a.first_seen_at,
        )
        .join(t.articles, a.id == m.article_id)
        .where(m.story_id == story_id)
        .order_by(m.article_id)
    ).all()
    edges = edges_among(conn, [str(r.article_id) for r in rows])
    origin_row = next((r for r in rows if r.article_id == origin_id), None)
    if origin_row is None:
        return None
    origin_time = as_utc(origin_row.published_at) or as_utc(origin_row.first_seen_at)

    def member(row: Any) -> AuditMember:
        published, seen = as_utc(row.published_at), as_utc(row.first_seen_at)
        when = published or seen
        is_origin = row.article_id == origin_id
        return AuditMember(
            article_id=str(row.article_id),
            outlet_id=str(row.outlet_id),
            language=row.language,
            title=row.title,
            url=str(row.canonical_url),
            published_at=published,
            first_seen_at=seen,
            relation=str(row.relation),
            score=float(row.score),
            matched_article_id=row.matched_article_id,
            evidence=dict(row.evidence or {}),
            edge=None if is_origin else edge_between(edges, row.article_id, row.matched_article_id),
            lag=None if is_origin or when is None or origin_time is None else when - origin_time,
        )

    far = datetime.max.replace(tzinfo=UTC)
    others = sorted(
        (member(r) for r in rows if r is not origin_row),
        key=lambda x: (x.filed_at or far, x.article_id),
    )
    return StoryAudit(story_id, member(origin_row), tuple(others), tuple(edges))


def effective_times(conn: Connection, article_ids: Iterable[str]) -> dict[str, datetime]:
    """Return the time each fingerprinted article is filed under for clustering (by id).

    This is `fingerprints.published_at`: what `story_store.effective_time` chose when the
    fingerprint was written (publication, else URL date, else first seen).
    """
    f = t.fingerprints.c
    ids = sorted(set(article_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(f.article_id, f.published_at).where(
            f.article_id.in_(bindparam("ids", expanding=True))
        ),
        {"ids": ids},
    ).all()
    return {
        str(r.article_id): moment for r in rows if (moment := as_utc(r.published_at)) is not None
    }
