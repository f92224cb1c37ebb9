"""Fingerprints on real texts of the labelled syndication set (shared/data/syndication)."""

from __future__ import annotations

import json
from typing import Any

from transforms.fingerprints import (
    deserialise_features,
    deserialise_minhash,
    extract_credits,
    fingerprint_article,
    normalise_text,
    serialise_features,
    serialise_minhash,
    strip_boilerplate,
    tokenize_words,
)


def _pairs(
    documents: dict[str, dict[str, Any]], relation: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(d, documents[d["source_id"]]) for d in documents.values() if d["relation"] == relation]


def test_exact_copies_share_the_exact_hash(documents: dict[str, dict[str, Any]]) -> None:
    pairs = _pairs(documents, "exact")
    assert len(pairs) >= 10
    for copy, origin in pairs:
        a = fingerprint_article(copy["title"], copy["text"])
        b = fingerprint_article(origin["title"], origin["text"])
        assert a.exact_hash == b.exact_hash, (copy["id"], copy["edit_ops"])


def test_near_copies_share_lsh_band_keys(documents: dict[str, dict[str, Any]]) -> None:
    for copy, origin in _pairs(documents, "near"):
        a = fingerprint_article(copy["title"], copy["text"])
        b = fingerprint_article(origin["title"], origin["text"])
        assert set(a.band_keys) & set(b.band_keys), copy["id"]


def test_rewrites_and_excerpts_share_passage_keys_but_no_band(
    documents: dict[str, dict[str, Any]],
) -> None:
    pairs = _pairs(documents, "rewrite") + _pairs(documents, "excerpt")
    assert len(pairs) == 3
    for copy, origin in pairs:
        a = fingerprint_article(copy["title"], copy["text"])
        b = fingerprint_article(origin["title"], origin["text"])
        assert not set(a.band_keys) & set(b.band_keys)
        assert len(set(a.passage_keys) & set(b.passage_keys)) >= 2, copy["id"]


def test_unrelated_documents_share_no_band_key(documents: dict[str, dict[str, Any]]) -> None:
    unrelated = [d for d in documents.values() if d["relation"] == "unrelated"]
    prints = [fingerprint_article(d["title"], d["text"]) for d in unrelated]
    for i, first in enumerate(prints):
        for second in prints[i + 1 :]:
            assert not set(first.band_keys) & set(second.band_keys)


def test_number_formats_normalise_to_one_form() -> None:
    assert tokenize_words(normalise_text("a $250,000 fine")) == tokenize_words(
        normalise_text("a $250 000 fine")
    )
    assert normalise_text("$5.9 million") == normalise_text("$5.9m")
    assert normalise_text("$8 billion") == normalise_text("$8bn")


def test_dateline_byline_and_footer_do_not_matter() -> None:
    body = "The Doobie Brothers will tour in 2020.\n\nTickets go on sale Dec. 6."
    variants = [
        "CLEVELAND (AP) — " + body,
        "CLEVELAND, Ohio – " + body,
        "By Sfgate staff\n\n" + body,
        body + "\n\nRead more: https://example.org/story",
        body + "\n\nЧитайте также: https://football.ua/news/article-6339145",
    ]
    plain = fingerprint_article(None, body).exact_hash
    for variant in variants:
        assert fingerprint_article(None, variant).exact_hash == plain, variant
    # An ordinary sentence containing a dash is not a dateline.
    kept = strip_boilerplate("The band – reunited – will tour.")
    assert kept.startswith("The band")


def test_fingerprint_is_deterministic_and_serialises(documents: dict[str, dict[str, Any]]) -> None:
    doc = documents["d405103"]
    first = fingerprint_article(doc["title"], doc["text"])
    second = fingerprint_article(doc["title"], doc["text"])
    assert first == second
    assert len(first.band_keys) == 32
    assert all(len(k) <= 40 for k in first.band_keys)
    assert deserialise_features(serialise_features(first.features)) == first.features
    assert deserialise_minhash(serialise_minhash(first.minhash)) == first.minhash
    assert len(json.dumps(serialise_features(first.features))) < 4 * len(doc["text"])


def test_credits_name_the_agency() -> None:
    assert "afp" in extract_credits("PARIS (AFP) - Le gouvernement a annoncé")
    assert "sputnik" in extract_credits("a annoncé à l’agence russe Sputnik le défenseur")
    assert "sputnik" in extract_credits("a annoncé à l'agence Sputnik le défenseur")
