"""Multilingual document vectors: shape, normalisation, bounds, and cross-language closeness."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.fixtures import SHARED_DATA
from transforms.embeddings import (
    DIMENSIONS,
    EmbeddingOptions,
    cosine,
    embed_document,
    embed_documents,
    embed_documents_with_units,
    split_units,
)

DEV = SHARED_DATA / "syndication" / "dev.jsonl"


@pytest.fixture(scope="module")
def dev_documents() -> dict[str, dict[str, Any]]:
    """The labelled syndication dev set by id (fails, never skips, when the data is missing)."""
    assert DEV.is_file(), f"shared data missing: {DEV}"
    with DEV.open(encoding="utf-8") as handle:
        documents = [json.loads(line) for line in handle if line.strip()]
    return {document["id"]: document for document in documents}


def _norm(vector: tuple[float, ...]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_document_vector_is_512_dim_and_unit_length(dev_documents: dict[str, Any]) -> None:
    document = dev_documents["df02608"]
    vector = embed_document(document["title"], document["text"])
    assert len(vector) == DIMENSIONS
    assert _norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_same_text_gives_same_vector() -> None:
    text = "The Pentagon said on Saturday that it had no plans to strike Syria."
    assert embed_document("Pentagon", text) == embed_document("Pentagon", text)


def test_batch_matches_single_documents(dev_documents: dict[str, Any]) -> None:
    ids = ["df02608", "da3edb8", "d609363"]
    batch = embed_documents([(dev_documents[i]["title"], dev_documents[i]["text"]) for i in ids])
    for identifier, vector in zip(ids, batch, strict=True):
        single = embed_document(
            dev_documents[identifier]["title"], dev_documents[identifier]["text"]
        )
        assert cosine(single, vector) == pytest.approx(1.0, abs=1e-4)


def test_translation_is_closer_than_unrelated_news(dev_documents: dict[str, Any]) -> None:
    # RIA's Russian wire (da3edb8), Sputnik's English edition of it (d893621), and an unrelated
    # English ice-hockey report (d57da10).
    russian, english, hockey = (
        embed_document(dev_documents[i]["title"], dev_documents[i]["text"])
        for i in ("da3edb8", "d893621", "d57da10")
    )
    translated = cosine(russian, english)
    unrelated = cosine(russian, hockey)
    assert translated > 0.75
    assert unrelated < 0.5
    assert translated - unrelated > 0.3


def test_empty_document_gets_zero_vector() -> None:
    vector = embed_document(None, "  \n\n ")
    assert len(vector) == DIMENSIONS
    assert _norm(vector) == 0.0
    assert cosine(vector, vector) == 0.0


def test_units_are_sentences_bounded_in_number_and_length() -> None:
    sentence = "Une phrase de longueur moyenne qui parle de la Syrie et du Pentagone."
    paragraph = " ".join([sentence] * 30)
    text = "\n\n".join([paragraph, "Menu", "Partager", "x" * 900, paragraph])
    options = EmbeddingOptions(max_sentences=12, max_sentence_chars=300, include_title=True)
    units = split_units("Titre", text, options)
    assert units[0] == "Titre"
    body = units[1:]
    assert len(body) == 12
    assert all(unit == sentence for unit in body)
    assert "Menu" not in units  # fragments are not sentences
    assert "Partager" not in units
    long_only = split_units(None, "x" * 900 + " y z w.", options)
    assert long_only == (("x" * 900 + " y z w.")[:300],)


def test_cjk_sentences_are_split_at_full_stops() -> None:
    text = "日本の首都は東京であり人口が多い。大阪は関西地方の中心都市である。短い。"
    assert split_units(None, text) == (
        "日本の首都は東京であり人口が多い。",
        "大阪は関西地方の中心都市である。",
    )


def test_units_vectors_pool_to_document_vector(dev_documents: dict[str, Any]) -> None:
    document = dev_documents["d893621"]
    (embedding,) = embed_documents_with_units([(document["title"], document["text"])])
    assert len(embedding.units) == len(split_units(document["title"], document["text"]))
    assert all(_norm(unit) == pytest.approx(1.0, abs=1e-4) for unit in embedding.units)
    mean = [sum(column) / len(embedding.units) for column in zip(*embedding.units, strict=True)]
    assert cosine(mean, embedding.vector) == pytest.approx(1.0, abs=1e-5)


def test_concurrent_callers_get_the_same_vectors(dev_documents: dict[str, Any]) -> None:
    documents = [(d["title"], d["text"]) for d in list(dev_documents.values())[:6]]
    expected = [embed_document(title, text) for title, text in documents]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda pair: embed_document(*pair), documents))
    for left, right in zip(expected, got, strict=True):
        assert cosine(left, right) == pytest.approx(1.0, abs=1e-5)
