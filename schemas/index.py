"""The search-index model, once: field definitions from which the Elasticsearch index templates and
the Kibana field list are generated (`infra/elasticsearch/*.json` are committed generated copies).

Article documents live in monthly indices `<prefix>-articles-v<N>-YYYY.MM` (by publication time)
behind the read alias `<prefix>-articles`; stories in `<prefix>-stories-v<N>` behind
`<prefix>-stories`. `N` is `SCHEMA_VERSION`: a mapping change bumps it, new indices are built by
re-indexing from the store and the aliases are swapped atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 2  # 2: edits (last_edited_at, edited, removed_at)

# Languages with a built-in Elasticsearch analyzer; text in these gets a `text_<lang>` field.
LANGUAGE_ANALYZERS: dict[str, str] = {
    "ar": "arabic",
    "bg": "bulgarian",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "lv": "latvian",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "th": "thai",
    "tr": "turkish",
}


@dataclass(frozen=True, slots=True)
class IndexField:
    """One field of an index document: its name, Elasticsearch mapping and meaning."""

    name: str
    mapping: dict[str, Any]
    description: str


def _kw(name: str, description: str) -> IndexField:
    return IndexField(name, {"type": "keyword"}, description)


def _date(name: str, description: str) -> IndexField:
    return IndexField(name, {"type": "date"}, description)


ARTICLE_FIELDS: tuple[IndexField, ...] = (
    _kw("article_id", "Deterministic id from the canonical URL (also the document _id)"),
    _kw("outlet", "Outlet id from the registry"),
    _kw("url", "URL the article was fetched from"),
    _kw("canonical_url", "Canonical URL"),
    IndexField(
        "title",
        {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "Title",
    ),
    IndexField("text", {"type": "text"}, "Main text (standard analyzer)"),
    *(
        IndexField(
            f"text_{code}",
            {"type": "text", "analyzer": analyzer},
            f"Main text analysed as {analyzer} (only for articles in that language)",
        )
        for code, analyzer in sorted(LANGUAGE_ANALYZERS.items())
    ),
    _kw("language", "Detected language (ISO 639-1)"),
    IndexField("language_confidence", {"type": "float"}, "Confidence of the language guess"),
    _date("published_at", "Publication time (UTC)"),
    _kw("published_at_source", "Where the publication time came from"),
    _date("first_seen_at", "When the pipeline first stored the article"),
    _date("updated_at", "When the stored article last changed"),
    _kw("authors", "Authors"),
    _kw("site_name", "Site name the page declares"),
    IndexField("word_count", {"type": "integer"}, "Words in the main text"),
    IndexField("version_count", {"type": "integer"}, "Distinct content versions seen"),
    _date("last_edited_at", "When a changed version of the article was last seen (revisits)"),
    IndexField(
        "edited", {"type": "boolean"}, "Whether the article changed after it was first stored"
    ),
    _date("removed_at", "When the page answered 404/410 on a revisit after it had existed"),
    _kw("topics", "Topic tags, parents included (syria, syria/idlib ...)"),
    IndexField(
        "tag_evidence",
        {
            "type": "nested",
            "properties": {
                "topic": {"type": "keyword"},
                "term": {"type": "keyword"},
                "matched": {"type": "keyword"},
                "field": {"type": "keyword"},
                "position": {"type": "integer"},
                "weight": {"type": "float"},
            },
        },
        "Terms that triggered each topic tag, and where",
    ),
    _kw("story_id", "Story the article belongs to"),
    _kw("story_relation", "origin, exact, near, rewrite, excerpt or translation"),
    IndexField("story_score", {"type": "float"}, "Similarity score of the relation"),
    _kw("story_origin_article_id", "Origin article of the story"),
    _kw("story_origin_outlet", "Outlet that published the story first"),
    _kw("matched_article_id", "Member of the story this article was matched to"),
    IndexField("is_origin", {"type": "boolean"}, "Whether this article is its story's origin"),
    IndexField("story_size", {"type": "integer"}, "Members in the article's story"),
    IndexField("lag_seconds", {"type": "long"}, "Seconds between the story origin and this copy"),
)

STORY_FIELDS: tuple[IndexField, ...] = (
    _kw("story_id", "Deterministic story id (also the document _id)"),
    _kw("origin_article_id", "Earliest-published member"),
    _kw("origin_outlet", "Outlet of the origin"),
    IndexField(
        "origin_title",
        {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "Title of the origin",
    ),
    _date("first_published_at", "Publication time of the origin"),
    _date("last_published_at", "Publication time of the latest copy"),
    IndexField("member_count", {"type": "integer"}, "Articles in the story"),
    IndexField("outlet_count", {"type": "integer"}, "Distinct outlets in the story"),
    IndexField("language_count", {"type": "integer"}, "Distinct languages in the story"),
    _kw("outlets", "Outlets that carried the story"),
    _kw("languages", "Languages the story crossed"),
    _kw("relations", "Relations present among the members"),
    _kw("topics", "Union of the members' topics"),
    IndexField("spread_seconds", {"type": "long"}, "Seconds from the origin to the last copy"),
    IndexField(
        "members",
        {
            "type": "nested",
            "properties": {
                "article_id": {"type": "keyword"},
                "outlet": {"type": "keyword"},
                "language": {"type": "keyword"},
                "published_at": {"type": "date"},
                "relation": {"type": "keyword"},
                "score": {"type": "float"},
                "lag_seconds": {"type": "long"},
                "title": {"type": "keyword", "ignore_above": 512},
            },
        },
        "Every member with its relation and lag",
    ),
    _date("updated_at", "When the story last changed"),
)


def articles_alias(prefix: str) -> str:
    """Read alias over every monthly article index."""
    return f"{prefix}-articles"


def stories_alias(prefix: str) -> str:
    """Read alias of the stories index."""
    return f"{prefix}-stories"


def article_index_pattern(prefix: str, version: int = SCHEMA_VERSION) -> str:
    """Index pattern the article template applies to."""
    return f"{prefix}-articles-v{version}-*"


def article_index_name(prefix: str, year: int, month: int, version: int = SCHEMA_VERSION) -> str:
    """Concrete monthly article index for a publication month."""
    return f"{prefix}-articles-v{version}-{year:04d}.{month:02d}"


def stories_index_name(prefix: str, version: int = SCHEMA_VERSION) -> str:
    """Concrete stories index."""
    return f"{prefix}-stories-v{version}"


def _mapping(fields: tuple[IndexField, ...]) -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "_meta": {"schema_version": SCHEMA_VERSION, "generated_from": "schemas/index.py"},
        "properties": {field.name: field.mapping for field in fields},
    }


def article_template(prefix: str) -> dict[str, Any]:
    """Composable index template body for the monthly article indices."""
    return {
        "index_patterns": [article_index_pattern(prefix)],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": _mapping(ARTICLE_FIELDS),
            "aliases": {articles_alias(prefix): {}},
        },
        "_meta": {"schema_version": SCHEMA_VERSION},
    }


def story_template(prefix: str) -> dict[str, Any]:
    """Composable index template body for the stories index."""
    return {
        "index_patterns": [f"{prefix}-stories-v{SCHEMA_VERSION}"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": _mapping(STORY_FIELDS),
            "aliases": {stories_alias(prefix): {}},
        },
        "_meta": {"schema_version": SCHEMA_VERSION},
    }


def field_names(fields: tuple[IndexField, ...]) -> set[str]:
    """Every addressable field path (nested properties and multi-fields included)."""
    names: set[str] = set()
    for field in fields:
        names.add(field.name)
        for sub in field.mapping.get("properties", {}):
            names.add(f"{field.name}.{sub}")
        for sub in field.mapping.get("fields", {}):
            names.add(f"{field.name}.{sub}")
    return names
