"""The taxonomy schema: the shipped file loads; malformed files fail naming file, line, field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from schemas.errors import ConfigError
from schemas.taxonomy import Scoring, Taxonomy, load_taxonomy_document, parse_taxonomy_text

CONFIG = Path(__file__).resolve().parents[2] / "config" / "topics.yaml"
REQUIRED_LANGUAGES = ("fr", "en", "ru", "ar", "de", "es", "tr", "uk", "fa", "it", "pt", "zh")


def _load_shipped() -> Taxonomy:
    return parse_taxonomy_text(CONFIG.read_text(encoding="utf-8"), source=str(CONFIG))


def test_shipped_taxonomy_has_the_required_topics_in_every_language() -> None:
    taxonomy = _load_shipped()
    ids = {topic.id for topic in taxonomy.topics}
    assert {"syria", "syria/idlib", "syria/chemical-weapons", "russia", "ukraine", "turkey"} <= ids
    assert "middle-east" in ids
    for topic in taxonomy.topics:
        languages = set(topic.languages)
        if "*" in languages:  # spellings shared by every language (Idlib and its towns)
            continue
        missing = [lang for lang in REQUIRED_LANGUAGES if lang not in languages]
        assert not missing, f"{topic.id} lacks terms for {missing}"


def test_shipped_taxonomy_puts_parents_first_and_marks_themes() -> None:
    taxonomy = _load_shipped()
    assert taxonomy.topic("syria/idlib").parent == "syria"
    assert taxonomy.topic("syria").parent is None
    assert taxonomy.topic("syria/chemical-weapons").requires_parent
    assert not taxonomy.topic("syria/idlib").requires_parent
    assert taxonomy.ancestors("a/b/c") == ("a/b", "a")
    assert taxonomy.scoring.title_weight > 1.0


def test_taxonomy_values_are_frozen() -> None:
    taxonomy = _load_shipped()
    with pytest.raises(dataclasses.FrozenInstanceError):
        taxonomy.topics[0].id = "other"  # type: ignore[misc]  # frozen on purpose
    with pytest.raises(dataclasses.FrozenInstanceError):
        taxonomy.scoring.threshold = 0.0  # type: ignore[misc]


def test_term_mappings_carry_weight_and_lowercase_flag() -> None:
    taxonomy = parse_taxonomy_text(
        "topics:\n"
        "  - id: syria\n"
        "    terms:\n"
        "      es: [siria, {term: sirio, lowercase: true}, {term: damasco, weight: 0.5}]\n",
        source="t.yaml",
    )
    terms = {term.text: term for term in taxonomy.topic("syria").terms}
    assert terms["sirio"].lowercase_only
    assert not terms["siria"].lowercase_only
    assert terms["damasco"].weight == 0.5
    assert taxonomy.scoring == Scoring()


BROKEN = [
    # (yaml text, fragments the message must contain)
    (
        "topics:\n  - id: syria\n    terms: {en: [syria]}\n  - id: iraq/mosul\n"
        "    terms: {en: [mosul]}\n",
        ["t.yaml:4", "'iraq/mosul'", "field topics[1].id", "parent 'iraq'"],
    ),
    (
        "topics:\n  - id: syria\n    terms:\n      english: [syria]\n",
        ["t.yaml:4", "'syria'", "terms.english", "ISO 639-1"],
    ),
    (
        "topics:\n  - id: syria\n    terms:\n      en: [syria, {term: damascus, weight: heavy}]\n",
        ["t.yaml:4", "'syria'", "terms.en[1].weight", "number"],
    ),
    (
        "topics:\n  - id: syria\n    terms: {en: [syria]}\n  - id: syria\n    terms: {en: [x]}\n",
        ["t.yaml:4", "duplicate"],
    ),
    (
        "topics:\n  - id: syria\n    terms: {en: []}\n",
        ["t.yaml:3", "'syria'", "field topics[0].terms", "at least one term"],
    ),
    (
        "topics:\n  - id: syria\n    colour: red\n    terms: {en: [syria]}\n",
        ["t.yaml:3", "'syria'", "colour", "unknown key"],
    ),
    (
        "topics:\n  - id: syria\n    requires_parent: true\n    terms: {en: [syria]}\n",
        ["t.yaml:3", "requires_parent", "root topic"],
    ),
    (
        "topics:\n  - id: syria\n    terms: {en: ['sy*ria']}\n",
        ["t.yaml:3", "terms.en[0]", "'*' only at the end"],
    ),
    (
        "scoring: {threshold: -1}\ntopics:\n  - id: syria\n    terms: {en: [syria]}\n",
        ["t.yaml:1", "scoring.threshold", "negative"],
    ),
    ("topics: [\n", ["t.yaml:2", "not valid YAML"]),
    ("", ["t.yaml", "empty"]),
]


@pytest.mark.parametrize(("text", "fragments"), BROKEN)
def test_malformed_taxonomy_names_file_line_entry_and_field(
    text: str, fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_taxonomy_text(text, source="t.yaml")
    assert caught.value.kind == "config"
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message


def test_plain_documents_are_validated_without_line_numbers() -> None:
    with pytest.raises(ConfigError, match=r"^topics.json: field topics: expected a non-empty"):
        load_taxonomy_document({"topics": []}, source="topics.json")
    taxonomy = load_taxonomy_document(
        {"topics": [{"id": "syria", "terms": {"en": ["syria"]}}]}, source="topics.json"
    )
    assert taxonomy.source == "topics.json"
    assert taxonomy.topics[0].terms[0].language == "en"
