"""Language identification: ISO 639-1 answers, the page's language as a hint only, real texts."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import SHARED_DATA
from transforms import language
from transforms.language import identify_language, normalise_language_hint, rank_languages

DATA = SHARED_DATA


def _labelled_texts() -> list[tuple[str, str | None, str]]:
    """(gold language, title, text) of the syndication dev set and the written topics documents."""
    rows: list[tuple[str, str | None, str]] = []
    for line in (DATA / "syndication" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows.append((row["language"], row["title"], row["text"]))
    for line in (DATA / "topics" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["ref"] is None:
            rows.append((row["language"], row["title"], row["text"]))
    assert len(rows) >= 100, "the shared data set is missing or truncated"
    return rows


def test_article_texts_of_the_labelled_sets_are_identified() -> None:
    rows = _labelled_texts()
    wrong = [
        (lang, identify_language(text).language, text[:60])
        for lang, _, text in rows
        if identify_language(text).language != lang
    ]
    assert len(wrong) / len(rows) <= 0.005, wrong


def test_titles_alone_are_identified_without_any_hint() -> None:
    rows = [(lang, title) for lang, title, _ in _labelled_texts() if title]
    correct = sum(identify_language(title).language == lang for lang, title in rows)
    assert correct / len(rows) >= 0.95


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Российские и турецкие военные провели совместное патрулирование", "ru"),
        ("Українське борошно доставили до таборів Ідлібської провінції", "uk"),
        ("دخول 120 شاحنة مساعدات أممية عبر معبر باب الهوى إلى ادلب", "ar"),
        ("نشست آستانه بر تثبیت آتش‌بس در ادلب تأکید کرد", "fa"),
        ("Cilvegözü'nden İdlib'e 80 tır insani yardım gönderildi", "tr"),
        ("联合国援助车队经巴卜哈瓦口岸进入伊德利卜省", "zh"),
        ("Lithium aus dem Schredder", "de"),
    ],
)
def test_short_texts_in_many_scripts(text: str, expected: str) -> None:
    guess = identify_language(text)
    assert guess.language == expected
    assert 0.0 < guess.confidence <= 1.0


def test_hint_settles_an_ambiguous_short_text_but_never_overrides_a_clear_one() -> None:
    # Serbian, Croatian and Bosnian share most words: the declared language decides.
    assert identify_language("Jutarnji program za Srbiju", hint="sr").language == "sr"
    assert identify_language("Jutarnji program za Srbiju", hint="hr").language == "hr"
    french = (
        "Un troisième Français a été tué dans le tremblement de terre samedi au Népal, emporté "
        "par une avalanche, a déclaré jeudi le ministre des Affaires étrangères."
    )
    guess = identify_language(french, hint="en-US")
    assert guess.language == "fr"
    assert guess.confidence > 0.9


def test_answers_are_iso_639_1_only() -> None:
    lorem = (
        "Dolor ipsam et est cumque. Laboriosam sed delectus rerum sint qui natus tenetur ea. "
        "Tenetur debitis aspernatur sapiente iure. Esse voluptatem eos sequi quia."
    )
    assert identify_language(lorem).language != "la"
    # Traditional-script Chinese headline that the raw model files under Cantonese (yue).
    assert identify_language("索尼、鎧俠業績遭波及 已向美申請供貨華為 | 兩岸焦點").language == "zh"
    for code, _ in rank_languages("The quick brown fox jumps over the lazy dog"):
        assert len(code) == 2


def test_text_without_letters_is_undetermined() -> None:
    assert identify_language("").language == "und"
    assert identify_language("12:30 — 2024/05/03 !!!").confidence == 0.0


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("fr-FR", ("fr",)),
        ("zh_Hant", ("zh",)),
        ("iw", ("he",)),
        ("sh", ("sr", "hr", "bs")),
        ("nb", ("no",)),
        ("", ()),
        (None, ()),
        ("english", ()),
    ],
)
def test_declared_language_codes_are_normalised(
    hint: str | None, expected: tuple[str, ...]
) -> None:
    assert normalise_language_hint(hint) == expected


def test_model_is_loaded_once() -> None:
    identify_language("first call")
    identify_language("second call")
    assert language._load_identifier.cache_info().currsize == 1
    assert language._load_identifier.cache_info().misses <= 1
