"""Cross-language copy scoring: anchors across formats and scripts, and verdicts on real pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import SHARED_DATA
from transforms.crosslingual import (
    TRANSLATION_MIN_SENTENCES,
    Anchors,
    DocumentSignals,
    align_sentences,
    compare_anchors,
    deserialise_signals,
    extract_anchors,
    list_shared_names,
    name_skeletons,
    score_crosslingual,
    serialise_signals,
    signals_for,
    signals_for_documents,
    skeletonize_name,
    skeletons_match,
    transliterate_latin,
)

DATA = SHARED_DATA
DEV = DATA / "syndication" / "dev.jsonl"


@pytest.fixture(scope="module")
def dev() -> dict[str, dict[str, Any]]:
    """The labelled syndication dev set by id (fails, never skips, when the data is missing)."""
    assert DEV.is_file(), f"shared data missing: {DEV}"
    with DEV.open(encoding="utf-8") as handle:
        return {row["id"]: row for row in map(json.loads, handle) if row}


@pytest.fixture(scope="module")
def dev_signals(dev: dict[str, dict[str, Any]]) -> dict[str, DocumentSignals]:
    """Signals of the dev documents the tests use, embedded in one batch (title, text, language
    only: the labels never reach the scorer)."""
    ids = [
        "df02608",  # Sputnik France origin (fr): White Helmets staging a chemical provocation
        "da3edb8",  # RIA Novosti's Russian version
        "d893621",  # Sputnik's English version
        "d7a90cb",  # AFP (fr): White Helmets evacuated via Israel - same actors, different story
        "d928b67",  # Tribune de Genève (fr): chlorothalonil ban, long original
        "d896786",  # NZZ (de): abridged German translation of it
        "d609363",  # Al Arabiya (ar): Emirates orders 30 Boeing 787s
        "d6686d8",  # CNBC (en): the English original
        "dfc49dd",  # CBS (en): impeachment hearing key moments
        "d39afac",  # National Review (en): another impeachment article, same week
        "d57da10",  # ice hockey report (en), unrelated
    ]
    signals = signals_for_documents(
        [(dev[i]["title"], dev[i]["text"], dev[i]["language"]) for i in ids]
    )
    return dict(zip(ids, signals, strict=True))


# --- numbers, dates, quotes -------------------------------------------------------------------
@pytest.mark.parametrize(
    "written",
    ["13,000", "13 000", "13.000", "13\u00a0000", "13\u202f000", "13’000", "١٣٠٠٠", "13000"],
)
def test_thousands_in_any_format_read_as_one_number(written: str) -> None:
    anchors = extract_anchors(None, f"Some {written} people were evacuated.", "en")
    assert anchors.numbers == frozenset({"13000"})


def test_decimals_percentages_and_years_are_canonical() -> None:
    english = extract_anchors(None, "Turnover rose 5.9% to $1,234.5 million in 2018.", "en")
    french = extract_anchors(
        None, "Le chiffre d'affaires a crû de 5,9 % à 1 234,5 millions en 2018.", "fr"
    )
    german = extract_anchors(
        None, "Der Umsatz stieg 2018 um 5,9 Prozent auf 1.234,5 Millionen.", "de"
    )
    for anchors in (english, french, german):
        assert anchors.numbers == frozenset({"5.9", "1234.5", "2018"})
        assert anchors.percentages == frozenset({"5.9"})
        assert anchors.years == frozenset({"2018"})


def test_small_numbers_are_left_out() -> None:
    assert extract_anchors(None, "Three or 3 people, 7 cars.", "en").numbers == frozenset()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("on 8 September", "en"),
        ("on September 8th", "en"),
        ("le samedi 8 septembre", "fr"),
        ("am 8. September", "de"),
        ("el 8 de septiembre", "es"),
        ("8 сентября", "ru"),
        ("في 8 سبتمبر", "ar"),
    ],
)
def test_day_month_dates_share_one_key_across_languages(text: str, language: str) -> None:
    assert "09-08" in extract_anchors(None, text, language).dates


def test_weekdays_share_one_key_across_languages() -> None:
    for text in ("on Saturday", "samedi", "am Samstag", "в субботу", "يوم السبت"):
        assert "weekday:6" in extract_anchors(None, text, None).dates


def test_quoted_spans_are_extracted_from_any_quote_style() -> None:
    text = (
        "«Des membres des Casques blancs préparent une mise en scène», a-t-il dit. "
        "He said “the provocation could take place very soon” and "
        "„Die Vorbereitungen sind abgeschlossen“ hieß es."
    )
    quotes = extract_anchors(None, text, None).quotes
    assert quotes == (
        "des membres des casques blancs préparent une mise en scène",
        "the provocation could take place very soon",
        "die vorbereitungen sind abgeschlossen",
    )


# --- names across scripts ---------------------------------------------------------------------
def test_transliteration_reaches_latin_from_each_script() -> None:
    assert transliterate_latin("Данфорд") == "danford"
    assert transliterate_latin("Αθήνα") == "athina"
    assert transliterate_latin("Genève") == "geneve"
    assert transliterate_latin("دانفورد").startswith("d")


@pytest.mark.parametrize(
    "names",
    [
        ("Dunford", "Данфорд", "دانفورد"),
        ("Pentagon", "Пентагон", "البنتاغون"),
        ("Idlib", "Идлиб", "إدلب"),
        ("Jamal", "Джамаль", "جمال"),
        ("Washington", "Вашингтон", "واشنطن"),
        ("Podolski", "Подольски", "بودولسكي"),
    ],
)
def test_one_name_has_one_skeleton_across_scripts(names: tuple[str, str, str]) -> None:
    latin = skeletonize_name(names[0])
    for other in names[1:]:
        variants = name_skeletons(other)
        assert any(skeletons_match(latin, variant) for variant in variants), (latin, variants)


def test_different_names_do_not_match() -> None:
    assert not skeletons_match(skeletonize_name("Dunford"), skeletonize_name("Guerassimov"))
    assert not skeletons_match(skeletonize_name("Idlib"), skeletonize_name("Aleppo"))


def test_names_match_in_running_text_across_scripts() -> None:
    english = extract_anchors(
        None, "The chief of staff, General Joseph Dunford, met Valery Gerasimov in Helsinki.", "en"
    )
    russian = extract_anchors(
        None,
        "Начальник штаба генерал Джозеф Данфорд встретился с Валерием Герасимовым в Хельсинки.",
        "ru",
    )
    arabic = extract_anchors(
        None, "التقى رئيس الأركان الجنرال جوزيف دانفورد مع فاليري غيراسيموف في هلسنكي.", "ar"
    )
    for other in (russian, arabic):
        shared = set(list_shared_names(english, other))
        assert {"Joseph", "Dunford", "Gerasimov", "Helsinki"} <= shared, shared
        assert compare_anchors(english, other)["names"].matched >= 4


def test_sentence_openers_and_month_names_are_not_names() -> None:
    anchors = extract_anchors(None, "The army moved. In September, Dunford spoke.", "en")
    assert anchors.entities == ("Dunford",)


# --- verdicts on real pairs -------------------------------------------------------------------
def test_russian_wire_and_its_english_edition_are_a_translation(
    dev_signals: dict[str, DocumentSignals],
) -> None:
    match = score_crosslingual(dev_signals["da3edb8"], dev_signals["d893621"])
    assert match.is_copy
    assert match.relation == "translation"
    assert match.aligned >= TRANSLATION_MIN_SENTENCES


def test_french_origin_and_russian_translation_are_a_translation(
    dev_signals: dict[str, DocumentSignals],
) -> None:
    match = score_crosslingual(dev_signals["df02608"], dev_signals["da3edb8"])
    assert match.is_copy
    assert any(item.startswith("name:") for item in match.evidence)


def test_abridged_german_translation_of_long_french_article_is_found(
    dev_signals: dict[str, DocumentSignals],
) -> None:
    # The French original runs four times longer; the German sentences still line up with
    # French ones, in order.
    match = score_crosslingual(dev_signals["d896786"], dev_signals["d928b67"])
    assert match.aligned >= TRANSLATION_MIN_SENTENCES
    assert match.is_copy


def test_arabic_translation_shares_the_figures(dev_signals: dict[str, DocumentSignals]) -> None:
    match = score_crosslingual(dev_signals["d609363"], dev_signals["d6686d8"])
    assert match.is_copy
    assert {"fact:30", "fact:787"} <= set(match.evidence)


def test_same_actors_different_story_is_not_merged(
    dev_signals: dict[str, DocumentSignals],
) -> None:
    # AFP on White Helmets evacuated through Israel vs RIA/Sputnik on White Helmets staging an
    # attack: same organisation, same war, different story.
    for other in ("da3edb8", "d893621", "df02608"):
        match = score_crosslingual(dev_signals["d7a90cb"], dev_signals[other])
        assert not match.is_copy, (other, match)
        assert match.relation is None


def test_two_articles_on_the_same_hearing_are_not_merged(
    dev_signals: dict[str, DocumentSignals],
) -> None:
    match = score_crosslingual(dev_signals["dfc49dd"], dev_signals["d39afac"])
    assert not match.is_copy
    assert match.aligned < TRANSLATION_MIN_SENTENCES


def test_unrelated_story_scores_far_below_translation(
    dev_signals: dict[str, DocumentSignals],
) -> None:
    translation = score_crosslingual(dev_signals["da3edb8"], dev_signals["df02608"])
    unrelated = score_crosslingual(dev_signals["da3edb8"], dev_signals["d57da10"])
    assert not unrelated.is_copy
    assert translation.score - unrelated.score > 0.3


def test_scoring_is_symmetric(dev_signals: dict[str, DocumentSignals]) -> None:
    a, b = dev_signals["d896786"], dev_signals["d928b67"]
    forward, backward = score_crosslingual(a, b), score_crosslingual(b, a)
    assert (forward.is_copy, forward.aligned) == (backward.is_copy, backward.aligned)
    assert forward.score == pytest.approx(backward.score, abs=1e-6)


def test_shared_facts_never_make_a_pair_whose_sentences_do_not_align() -> None:
    # Every number and date shared, but no sentence of one has a counterpart in the other.
    facts = Anchors(numbers=frozenset({"120", "2019", "45"}), dates=frozenset({"09-08"}))
    left = DocumentSignals((1.0, 0.0, 0.0), facts, "en", 500, ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)))
    right = DocumentSignals((0.0, 0.0, 1.0), facts, "fr", 500, ((0.0, 0.0, 1.0), (0.0, 0.0, 1.0)))
    match = score_crosslingual(left, right)
    assert not match.is_copy
    assert match.aligned == 0
    assert match.anchor_overlap == 0.0  # not even compared: they could not decide anyway


def test_alignment_keeps_only_the_in_order_chain() -> None:
    # Sentences 0,1,2 of a match 0,1,2 of b, sentence 3 matches b's 0th position out of order.
    identity = ((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0))
    swapped = ((0.0, 0.0, 0.0, 1.0), *identity)
    alignment = align_sentences((*identity, (0.0, 0.0, 0.0, 1.0)), swapped, 0.6)
    assert [(i, j) for i, j, _ in alignment.pairs] == [(0, 1), (1, 2), (2, 3)]
    assert alignment.shorter == 4


def test_translation_abridged_to_half_its_sentences_is_found(
    dev: dict[str, dict[str, Any]],
) -> None:
    # The English translation of a Russian report on Podolski, cut to every other sentence (an
    # edit of a real text made by this test): still a translation of the Russian original.
    from transforms.embeddings import split_units

    english = dev["d1965bc"]
    sentences = split_units(None, english["text"])
    abridged = "\n".join(sentences[::2])
    assert len(sentences) >= 8
    assert len(split_units(None, abridged)) <= (len(sentences) + 1) // 2
    russian = dev["dc04b4a"]
    origin = signals_for(russian["title"], russian["text"], "ru")
    match = score_crosslingual(signals_for(None, abridged, "en"), origin)
    assert match.is_copy, match.evidence


def test_signals_for_single_document_matches_batch(
    dev: dict[str, dict[str, Any]], dev_signals: dict[str, DocumentSignals]
) -> None:
    row = dev["d609363"]
    single = signals_for(row["title"], row["text"], row["language"])
    assert single.anchors == dev_signals["d609363"].anchors
    assert single.length == len(row["text"])
    assert score_crosslingual(single, dev_signals["d609363"]).cosine == pytest.approx(1.0, abs=1e-4)


@pytest.fixture(scope="module")
def page_signals() -> dict[str, DocumentSignals]:
    """Signals of real fundus-parsed articles (shared/data/expected), keyed by file stem."""
    from mediamon.evaluation.crosslingual import load_page_documents

    wanted = {
        "globalnews-ca__fundus-globalnews-2026-05-24",  # en: Russian missile strike on Kyiv
        "lefigaro-fr__fundus-lefigaro-2024-11-22",  # fr: Ukraine war roundup, Russian claims
        "jyllands-posten-dk__fundus-jyllandsposten-2025-02-02",  # da
        "vg-no__fundus-verdensgang-2024-08-05",  # no: unrelated to the Danish one
    }
    expected = DATA / "expected"
    assert expected.is_dir(), f"shared data missing: {expected}"
    pages = [p for p in load_page_documents(expected) if p["id"].removeprefix("page:") in wanted]
    assert len(pages) == len(wanted)
    signals = signals_for_documents([(p["title"], p["text"], p["language"]) for p in pages])
    return {p["id"].removeprefix("page:"): s for p, s in zip(pages, signals, strict=True)}


def test_two_ukraine_war_reports_are_not_merged(page_signals: dict[str, DocumentSignals]) -> None:
    # Real articles on the same war: pooled cosine ~0.77, paragraphs align ~0.49; their figures
    # (casualties, missile counts, dates) disagree.
    match = score_crosslingual(
        page_signals["globalnews-ca__fundus-globalnews-2026-05-24"],
        page_signals["lefigaro-fr__fundus-lefigaro-2024-11-22"],
    )
    assert match.cosine > 0.7
    assert not match.is_copy


def test_vectors_alone_do_not_merge_languages_the_encoder_does_not_know(
    page_signals: dict[str, DocumentSignals],
) -> None:
    # Danish and Norwegian are outside USE v3's languages: unrelated articles get cosine ~0.9.
    danish = page_signals["jyllands-posten-dk__fundus-jyllandsposten-2025-02-02"]
    norwegian = page_signals["vg-no__fundus-verdensgang-2024-08-05"]
    match = score_crosslingual(danish, norwegian)
    assert match.cosine > 0.8
    assert not match.is_copy


def test_signals_survive_serialisation(dev_signals: dict[str, DocumentSignals]) -> None:
    original = dev_signals["d896786"]
    data = json.loads(json.dumps(serialise_signals(original)))
    restored = deserialise_signals(data)
    assert restored.anchors == original.anchors
    assert (restored.language, restored.length) == (original.language, original.length)
    assert len(restored.units) == len(original.units)
    before = score_crosslingual(original, dev_signals["d928b67"])
    after = score_crosslingual(restored, dev_signals["d928b67"])
    assert after.is_copy == before.is_copy
    assert after.aligned == before.aligned
    assert after.cosine == pytest.approx(before.cosine, abs=1e-5)


def test_unknown_signals_format_is_refused(dev_signals: dict[str, DocumentSignals]) -> None:
    data = serialise_signals(dev_signals["d609363"])
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        deserialise_signals(data)


def test_same_language_shared_quotes_are_shown_as_evidence(
    dev: dict[str, dict[str, Any]],
) -> None:
    origin, copy = dev["df02608"], dev["d2435f9"]  # Sputnik France and a French near copy
    match = score_crosslingual(
        signals_for(origin["title"], origin["text"], "fr"),
        signals_for(copy["title"], copy["text"], "fr"),
    )
    assert any(item.startswith("quote:des membres des casques blanc") for item in match.evidence)


def test_without_a_known_language_vectors_are_not_evidence() -> None:
    units = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    vector = (0.6, 0.8, 0.0)
    facts = Anchors(numbers=frozenset({"120", "2019", "45"}), dates=frozenset({"09-08"}))
    assert not score_crosslingual(
        DocumentSignals(vector, facts, None, 500, units),
        DocumentSignals(vector, facts, "fr", 500, units),
    ).is_copy
    # The same identical sentences in two supported languages align.
    assert score_crosslingual(
        DocumentSignals(vector, Anchors(), "en", 500, units),
        DocumentSignals(vector, Anchors(), "fr", 500, units),
    ).is_copy


RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "translations"


@pytest.fixture(scope="module")
def ntrex() -> dict[str, DocumentSignals]:
    """Signals of the NTREX fixtures (real BBC articles and human translations), by id."""
    path = RESOURCES / "ntrex128-bbc.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    signals = signals_for_documents([(r["title"], r["text"], r["language"]) for r in rows])
    return {row["id"]: signal for row, signal in zip(rows, signals, strict=True)}


def test_translation_outside_the_encoder_is_aligned_by_its_anchors(
    ntrex: dict[str, DocumentSignals],
) -> None:
    english = ntrex["ntrex:bbc.381669:eng:origin"]
    for other in ("ntrex:bbc.381669:ces", "ntrex:bbc.381669:ukr"):
        match = score_crosslingual(english, ntrex[other])
        assert match.is_copy, (other, match.evidence)
        assert match.relation == "translation"
        assert any("@anchors" in item for item in match.evidence)
    # Czech and Ukrainian are both outside the encoder: their anchors still line up.
    assert score_crosslingual(ntrex["ntrex:bbc.381669:ces"], ntrex["ntrex:bbc.381669:ukr"]).is_copy


def test_anchor_alignment_keeps_different_stories_apart(
    ntrex: dict[str, DocumentSignals],
) -> None:
    for first, second in (
        ("ntrex:bbc.381669:eng:origin", "ntrex:bbc.381647:ces"),
        ("ntrex:bbc.381647:eng:origin", "ntrex:bbc.381669:ces"),
        ("ntrex:bbc.381647:ces", "ntrex:bbc.381669:ukr"),
    ):
        assert not score_crosslingual(ntrex[first], ntrex[second]).is_copy, (first, second)


def test_anchor_keys_of_a_translation_meet_its_originals(
    ntrex: dict[str, DocumentSignals],
) -> None:
    from transforms.crosslingual import MAX_ANCHOR_KEYS, anchor_keys

    english = set(anchor_keys(ntrex["ntrex:bbc.381669:eng:origin"].sentence_anchors))
    czech = set(anchor_keys(ntrex["ntrex:bbc.381669:ces"].sentence_anchors))
    other = set(anchor_keys(ntrex["ntrex:bbc.381647:ces"].sentence_anchors))
    assert len(english & czech) >= 2  # enough to be a candidate
    assert len(english & czech) > len(english & other)
    assert len(english) <= MAX_ANCHOR_KEYS
