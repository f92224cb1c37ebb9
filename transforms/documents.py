"""Build search-index documents from stored rows (pure: rows in, documents out).

The document shapes follow `schemas.index`; a field not defined there would be rejected by the
strict mapping, which is what keeps the index, the store and the dashboards in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from schemas.index import LANGUAGE_ANALYZERS, article_index_name, stories_index_name


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def topics_with_parents(topics: Sequence[str]) -> list[str]:
    """Return the topics plus every ancestor (`syria/idlib` implies `syria`), sorted."""
    out: set[str] = set()
    for topic in topics:
        parts = topic.split("/")
        for depth in range(1, len(parts) + 1):
            out.add("/".join(parts[:depth]))
    return sorted(out)


def index_time(row: Mapping[str, Any]) -> datetime:
    """The time that places a document in a monthly index: publication, else first seen."""
    value = row.get("published_at") or row["first_seen_at"]
    assert isinstance(value, datetime)
    return value


def article_index_for(prefix: str, row: Mapping[str, Any]) -> str:
    """Return the monthly index an article row belongs to."""
    when = index_time(row)
    return article_index_name(prefix, when.year, when.month)


def build_article_document(
    row: Mapping[str, Any], *, origin_outlet: str | None = None
) -> dict[str, Any]:
    """Return the index document of one article from `Store.load_article_documents` output."""
    language = row.get("language")
    published = row.get("published_at")
    story_first = row.get("story_first_published_at")
    lag = None
    if published is not None and story_first is not None:
        lag = max(0, int((published - story_first).total_seconds()))
    tags = row.get("tags") or []
    doc: dict[str, Any] = {
        "article_id": row["id"],
        "outlet": row["outlet_id"],
        "url": row["url"],
        "canonical_url": row["canonical_url"],
        "title": row.get("title"),
        "text": row["text"],
        "language": language,
        "language_confidence": row.get("language_confidence"),
        "published_at": _iso(published),
        "published_at_source": row.get("published_at_source"),
        "first_seen_at": _iso(row.get("first_seen_at")),
        "updated_at": _iso(row.get("updated_at")),
        "authors": list(row.get("authors") or []),
        "site_name": row.get("site_name"),
        "word_count": row.get("word_count") or 0,
        "version_count": row.get("version_count") or 1,
        "last_edited_at": _iso(row.get("last_edited_at")),
        "edited": (row.get("version_count") or 1) > 1,
        "removed_at": _iso(row.get("removed_at")),
        "topics": topics_with_parents([tag["topic"] for tag in tags]),
        "tag_evidence": [
            {
                "topic": tag["topic"],
                **{key: item[key] for key in ("term", "matched", "field", "position", "weight")},
            }
            for tag in tags
            for item in tag["evidence"]
        ],
        "story_id": row.get("story_id"),
        "story_relation": row.get("relation"),
        "story_score": row.get("relation_score"),
        "story_origin_article_id": row.get("origin_article_id"),
        "story_origin_outlet": origin_outlet,
        "matched_article_id": row.get("matched_article_id"),
        "is_origin": row.get("origin_article_id") == row["id"],
        "story_size": row.get("story_member_count") or 1,
        "lag_seconds": lag,
    }
    if language in LANGUAGE_ANALYZERS:
        doc[f"text_{language}"] = row["text"]
    return doc


def build_story_document(
    story: Mapping[str, Any], topics_by_article: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Return the index document of one story from `Store.load_story_documents` output."""
    members = list(story["members"])
    origin_id = story["origin_article_id"]
    origin = next((m for m in members if m["article_id"] == origin_id), None)
    first = story.get("first_published_at")
    member_docs = []
    for member in members:
        published = member.get("published_at")
        lag = (
            max(0, int((published - first).total_seconds()))
            if published is not None and first is not None
            else None
        )
        member_docs.append(
            {
                "article_id": member["article_id"],
                "outlet": member["outlet_id"],
                "language": member.get("language"),
                "published_at": _iso(published),
                "relation": member["relation"],
                "score": member["score"],
                "lag_seconds": lag,
                "title": (member.get("title") or "")[:512],
            }
        )
    last = story.get("last_published_at")
    topics: set[str] = set()
    for member in members:
        topics.update(topics_by_article.get(member["article_id"], ()))
    return {
        "story_id": story["id"],
        "origin_article_id": origin_id,
        "origin_outlet": origin["outlet_id"] if origin else None,
        "origin_title": origin.get("title") if origin else None,
        "first_published_at": _iso(first),
        "last_published_at": _iso(last),
        "member_count": len(members),
        "outlet_count": len({m["outlet_id"] for m in members}),
        "language_count": len({m.get("language") for m in members if m.get("language")}),
        "outlets": sorted({m["outlet_id"] for m in members}),
        "languages": sorted({m["language"] for m in members if m.get("language")}),
        "relations": sorted({m["relation"] for m in members}),
        "topics": topics_with_parents(sorted(topics)),
        "spread_seconds": (
            int((last - first).total_seconds()) if last is not None and first is not None else None
        ),
        "members": member_docs,
        "updated_at": _iso(story.get("updated_at")),
    }


def story_index_for(prefix: str) -> str:
    """Return the concrete stories index."""
    return stories_index_name(prefix)
