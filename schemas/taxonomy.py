"""The topic taxonomy file (`config/topics.yaml`): frozen types and their validation.

A taxonomy is a list of hierarchical topics (`syria`, `syria/idlib`, ...). Each topic lists, per
language (ISO 639-1, or `"*"` for spellings shared by every language), the terms that signal it
and the exclusion terms that look like them but mean something else (`Syriac`, `Sirius`,
`Damascus steel`). A child topic implies its parent. Scoring settings (title weight, threshold)
live beside the topics so analysts can review them in one file.

Term syntax (one string, matched against normalised text, see `transforms/topics.py`):
- words separated by spaces; a multi-word term matches consecutive words;
- a word ending in `*` is a stem: it matches any word that starts with it (`сири*`: Сирия, Сирии,
  сирийской);
- a term written in a script without spaces (Chinese, Japanese, Thai) matches as a substring.

The validation names the file, the line (when the YAML was parsed here with node marks), the topic
and the field of every error, and raises `schemas.errors.ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.errors import ConfigError
from schemas.yamldoc import Locations, parse_yaml_with_lines

#: Pseudo-language key for spellings that hold in every language (Idlib in Latin script, ...).
ANY_LANGUAGE = "*"

_TOPIC_ID = re.compile(r"^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$")
_LANGUAGE = re.compile(r"^([a-z]{2}|\*)$")
_TERM_WORD = re.compile(r"^[^\s*]+\*?$")


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a topic: its text (term syntax above), language key and weight.

    `lowercase_only`: the match counts only where the source writes it in lower case (or at the
    start of a sentence, or in an all-caps line). Romance languages write nationality adjectives in
    lower case (es/pt "sirio", "sírio") while the same word capitalised is a proper name (the star
    Sirio, the Sirio ship, Hospital Sirio Libanés).
    """

    text: str
    language: str
    weight: float = 1.0
    lowercase_only: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        """The space-separated words of the term (a word may end in `*`)."""
        return tuple(self.text.split())


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic of the taxonomy; `parent` is the id before the last `/`, or None for a root.

    A child is normally a part of its parent (`syria/idlib`): its matches count for the parent too.
    With `requires_parent` it is a theme within the parent (`syria/chemical-weapons`): it is tagged
    only when the parent is tagged on the parent's own evidence, and its matches do not count for
    the parent (a Novichok story that names Syria once is not about Syria).
    """

    id: str
    label: str
    terms: tuple[Term, ...]
    exclusions: tuple[Term, ...] = ()
    description: str | None = None
    requires_parent: bool = False

    @property
    def parent(self) -> str | None:
        """The parent topic id (`syria` for `syria/idlib`), or None for a root topic."""
        head, sep, _ = self.id.rpartition("/")
        return head if sep else None

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages that have at least one term, sorted (`*` included when present)."""
        return tuple(sorted({term.language for term in self.terms}))


@dataclass(frozen=True, slots=True)
class Scoring:
    """How hits become a tag.

    A hit in the title scores `title_weight` x the term weight. A body paragraph scores the sum of
    its hits' weights (a surface repeated in the same paragraph counts `repeat_weight`). The body
    score is the best paragraph, or `spread_weight` x the number of paragraphs with at least one hit
    when that is higher and those paragraphs are at least `spread_min_share` of all paragraphs (a
    few mentions thinly spread through a long article are passing mentions). A topic is tagged
    when title score + body score reaches `threshold`; `min_hits` hits are needed in any case.
    A match that is one short item of an enumeration ("Iraq, Libya, Syria and Yemen") weighs
    `list_weight` times its term's weight. The title weight applies only when the body has at
    least `title_body_hits` matches of the topic (or no body at all); otherwise a title match
    counts like a body match.
    """

    threshold: float = 2.0
    title_weight: float = 2.0
    spread_weight: float = 0.7
    spread_min_share: float = 0.25
    repeat_weight: float = 1.0
    list_weight: float = 0.5
    title_body_hits: int = 2
    min_hits: int = 1


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A validated taxonomy: topics in file order (parents before children) and scoring."""

    topics: tuple[Topic, ...]
    scoring: Scoring
    source: str = "<memory>"
    version: int = 1

    def topic(self, topic_id: str) -> Topic:
        """Return the topic named `topic_id`; raises KeyError when it does not exist."""
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        raise KeyError(topic_id)

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language key used by any topic, sorted."""
        return tuple(sorted({lang for topic in self.topics for lang in topic.languages}))

    def ancestors(self, topic_id: str) -> tuple[str, ...]:
        """Ids of the parents of `topic_id`, nearest first (`a/b/c` -> `a/b`, `a`)."""
        parts = topic_id.split("/")
        return tuple("/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1))


class _Context:
    """Builds error messages that name the file, line, topic and field."""

    def __init__(self, source: str, locations: Locations | None) -> None:
        self.source = source
        self.locations = locations or {}

    def fail(self, path: tuple[str | int, ...], entry: str | None, reason: str) -> ConfigError:
        line = None
        probe = path
        while probe and line is None:
            line = self.locations.get(probe)
            probe = probe[:-1]
        where = f"{self.source}:{line}" if line is not None else self.source
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path)
        field = field.replace(".[", "[")
        subject = f"topic {entry!r}, " if entry else ""
        return ConfigError(f"{where}: {subject}field {field or '<root>'}: {reason}", kind="config")


def _number(ctx: _Context, value: object, path: tuple[str | int, ...], entry: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.fail(path, entry, f"expected a number, got {type(value).__name__}")
    if value < 0:
        raise ctx.fail(path, entry, "must not be negative")
    return float(value)


def _load_scoring(ctx: _Context, value: object) -> Scoring:
    if value is None:
        return Scoring()
    if not isinstance(value, Mapping):
        raise ctx.fail(("scoring",), None, "expected a mapping")
    known = set(Scoring.__slots__)
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in known:
            raise ctx.fail(("scoring", str(key)), None, f"unknown setting (known: {sorted(known)})")
        number = _number(ctx, raw, ("scoring", key), None)
        kwargs[key] = int(number) if key in {"min_hits", "title_body_hits"} else number
    return Scoring(**kwargs)


def _load_term(
    ctx: _Context, raw: object, language: str, path: tuple[str | int, ...], entry: str
) -> Term:
    weight = 1.0
    lowercase_only = False
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"term", "weight", "lowercase"}
        if unknown:
            raise ctx.fail(path, entry, f"unknown keys {sorted(map(str, unknown))}")
        if "weight" in raw:
            weight = _number(ctx, raw["weight"], (*path, "weight"), entry)
        lowercase_only = raw.get("lowercase", False)
        if not isinstance(lowercase_only, bool):
            raise ctx.fail((*path, "lowercase"), entry, "expected true or false")
        raw = raw.get("term")
        path = (*path, "term")
    if not isinstance(raw, str) or not raw.strip():
        raise ctx.fail(path, entry, "a term must be a non-empty string")
    words = raw.split()
    for word in words:
        if not _TERM_WORD.match(word) or word == "*":
            raise ctx.fail(path, entry, f"bad word {word!r} ('*' only at the end of a word)")
    return Term(" ".join(words), language, weight, lowercase_only)


def _load_terms(
    ctx: _Context, value: object, field: str, path: tuple[str | int, ...], entry: str
) -> tuple[Term, ...]:
    if value is None:
        return ()
    here = (*path, field)
    if not isinstance(value, Mapping):
        raise ctx.fail(here, entry, "expected a mapping of language -> list of terms")
    terms: list[Term] = []
    for language, items in value.items():
        if not isinstance(language, str) or not _LANGUAGE.match(language):
            raise ctx.fail((*here, str(language)), entry, "language must be ISO 639-1 or '*'")
        if not isinstance(items, list):
            raise ctx.fail((*here, language), entry, "expected a list of terms")
        for index, raw in enumerate(items):
            terms.append(_load_term(ctx, raw, language, (*here, language, index), entry))
    return tuple(terms)


def load_taxonomy_document(
    data: object, *, source: str, locations: Locations | None = None
) -> Taxonomy:
    """Validate a parsed taxonomy document (plain dicts/lists) into a frozen `Taxonomy`.

    `source` names the file in error messages; `locations` (from `parse_taxonomy_text`) adds line
    numbers. Guarantees: topic ids are unique and well formed, every parent exists and comes
    earlier in the file, every topic has at least one term. Raises `ConfigError` otherwise.
    """
    ctx = _Context(source, locations)
    if not isinstance(data, Mapping):
        raise ctx.fail((), None, "the taxonomy must be a mapping with a 'topics' list")
    unknown = set(data) - {"version", "scoring", "topics"}
    if unknown:
        raise ctx.fail((str(sorted(map(str, unknown))[0]),), None, "unknown top-level key")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version != 1:
        raise ctx.fail(("version",), None, "only version 1 is supported")
    scoring = _load_scoring(ctx, data.get("scoring"))
    raw_topics = data.get("topics")
    if not isinstance(raw_topics, list) or not raw_topics:
        raise ctx.fail(("topics",), None, "expected a non-empty list of topics")
    topics: list[Topic] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_topics):
        path: tuple[str | int, ...] = ("topics", index)
        if not isinstance(raw, Mapping):
            raise ctx.fail(path, None, "each topic must be a mapping")
        topic_id = raw.get("id")
        if not isinstance(topic_id, str) or not _TOPIC_ID.match(topic_id):
            raise ctx.fail((*path, "id"), None, "id must look like 'syria' or 'syria/idlib'")
        extra = set(raw) - {"id", "label", "description", "terms", "exclude", "requires_parent"}
        if extra:
            raise ctx.fail((*path, str(sorted(map(str, extra))[0])), topic_id, "unknown key")
        if topic_id in seen:
            raise ctx.fail((*path, "id"), topic_id, "duplicate topic id")
        head, sep, _ = topic_id.rpartition("/")
        if sep and head not in seen:
            raise ctx.fail((*path, "id"), topic_id, f"parent {head!r} must be defined before it")
        label = raw.get("label", topic_id)
        if not isinstance(label, str):
            raise ctx.fail((*path, "label"), topic_id, "label must be a string")
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            raise ctx.fail((*path, "description"), topic_id, "description must be a string")
        terms = _load_terms(ctx, raw.get("terms"), "terms", path, topic_id)
        if not terms:
            raise ctx.fail((*path, "terms"), topic_id, "a topic needs at least one term")
        exclusions = _load_terms(ctx, raw.get("exclude"), "exclude", path, topic_id)
        requires_parent = raw.get("requires_parent", False)
        if not isinstance(requires_parent, bool):
            raise ctx.fail((*path, "requires_parent"), topic_id, "expected true or false")
        if requires_parent and not sep:
            raise ctx.fail((*path, "requires_parent"), topic_id, "a root topic has no parent")
        seen.add(topic_id)
        topics.append(Topic(topic_id, label, terms, exclusions, description, requires_parent))
    return Taxonomy(tuple(topics), scoring, source, version)


def parse_taxonomy_text(text: str, *, source: str) -> Taxonomy:
    """Parse YAML taxonomy text into a validated `Taxonomy`, with line numbers in errors."""
    data, lines = parse_yaml_with_lines(text, source=source)
    return load_taxonomy_document(data, source=source, locations=lines)
