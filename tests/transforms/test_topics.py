"""Topic tagging: spellings in every script, exclusions, paragraph scoring, explainable evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.records import TopicTag
from schemas.taxonomy import Taxonomy, parse_taxonomy_text
from tests.fixtures import SHARED_DATA
from transforms.language import identify_language
from transforms.topics import (
    CompiledTaxonomy,
    compile_taxonomy,
    fold_text,
    format_tag_explanation,
    tag_topics,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = SHARED_DATA


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    path = ROOT / "config" / "topics.yaml"
    return parse_taxonomy_text(path.read_text(encoding="utf-8"), source=str(path))


@pytest.fixture(scope="module")
def compiled(taxonomy: Taxonomy) -> CompiledTaxonomy:
    return compile_taxonomy(taxonomy)


def _topics(compiled: CompiledTaxonomy, title: str | None, text: str) -> set[str]:
    lang = identify_language(f"{title or ''}\n{text}").language
    return {tag.topic for tag in tag_topics(compiled, title=title, text=text, language=lang)}


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("İdlib'de", "idlib'de"),
        ("IDLIB", "idlib"),
        ("إدلب", "ادلب"),
        ("أَدْلِب", "ادلب"),  # harakat dropped
        ("ســوريـا", "سوريا"),  # tatweel dropped
        ("سوریه", "سوريه"),  # Persian yeh
        ("سورية", "سوريه"),  # taa marbuta
        ("Ёлка", "елка"),
        ("Syr\u00adien", "syrien"),  # soft hyphen
        ("Ma’arrat", "ma'arrat"),
        ("ＳＹＲＩＡ", "syria"),  # full width
    ],
)
def test_fold_text_unifies_spelling_variants(raw: str, folded: str) -> None:
    assert fold_text(raw) == folded


IDLIB_SPELLINGS = [
    ("en", "Idlib"),
    ("fr", "Idleb"),
    ("ar", "إدلب"),
    ("ar", "وبإدلب"),
    ("fa", "ادلب"),
    ("ru", "в Идлибе"),
    ("ru", "Идлибской"),
    ("uk", "в Ідлібі"),
    ("tr", "İdlib'de"),
    ("tr", "IDLIB'E"),
    ("zh", "伊德利卜"),
    ("de", "Idlibs"),
    ("en", "Idlep"),
]


@pytest.mark.parametrize(("language", "surface"), IDLIB_SPELLINGS)
def test_idlib_in_every_script_and_inflection_tags_idlib_and_syria(
    compiled: CompiledTaxonomy, language: str, surface: str
) -> None:
    tags = tag_topics(compiled, title=f"{surface} 2024", text="", language=language)
    assert [tag.topic for tag in tags][:2] == ["syria", "syria/idlib"]
    evidence = tags[1].evidence[0]
    assert evidence.field == "title"
    assert f"{surface} 2024"[evidence.position :].startswith(evidence.matched)


def test_places_in_idlib_count_without_the_name(compiled: CompiledTaxonomy) -> None:
    text = (
        "Government forces entered Saraqeb on Thursday after weeks of shelling.\n\n"
        "Residents of Maarat al-Numan and Khan Sheikhoun fled north towards Sarmada and Atmeh, "
        "near the Bab al-Hawa crossing."
    )
    assert {"syria", "syria/idlib"} <= _topics(compiled, None, text)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (
            "Syrian hamsters: what new owners should know",
            "Syrian hamsters are solitary animals. A Syrian hamster needs a large cage.\n\n"
            "Vets recommend a sand bath and a wheel of at least 28 cm.",
        ),
        (
            "Ветеринары: сирийский хом'ячок не іграшка",
            "Сирійський хом'ячок живе два-три роки. Сирійські хом'ячки — нічні тварини.",
        ),
        (
            "Сирийский хомяк: как ухаживать",
            "Сирийский хомяк — самый популярный домашний хомяк. Сирийские хомяки живут три года.",
        ),
        (
            "Hámster sirio: guía para principiantes",
            "El hámster sirio es la mascota más popular. Los hámsteres sirios viven solos.",
        ),
        (
            "À Midyat, les chrétiens syriaques célèbrent Pâques",
            "Les chrétiens syriaques du Tur Abdin ont célébré Pâques. L'Église syriaque orthodoxe "
            "compte encore quelques milliers de fidèles.",
        ),
        (
            "Süryani cemaati Midyat'ta Paskalya'yı kutladı",
            "Midyat'taki Süryani cemaati Paskalya'yı coşkuyla kutladı.",
        ),
        (
            "Solinger Messermacher setzt auf Damaszener Stahl",
            "Damaszener Stahl ist teuer. Der Damaststahl wird in 300 Lagen gefaltet.",
        ),
        (
            "L'acier de Damas revient à la mode",
            "Les couteliers français redécouvrent l'acier de Damas. L'acier de Damas est cher.",
        ),
        (
            "O Hospital Sírio-Libanês inaugura centro de oncologia",
            "O Hospital Sírio-Libanês inaugurou um novo centro. O Sírio-Libanês investiu muito.",
        ),
        (
            "El Sirio, la tragedia olvidada de 1906",
            "El vapor Sirio naufragó frente a Cartagena. El Sirio llevaba emigrantes italianos.",
        ),
        (
            "SiriusXM subscriber numbers slip",
            "Sirius XM lost subscribers. Sirius is also the brightest star in the night sky.",
        ),
        (
            "Сириус: новый набор школьников",
            "Образовательный центр «Сириус» в Сочи объявил набор. В «Сириусе» учатся дети.",
        ),
        ("叙利亚仓鼠的饲养方法", "叙利亚仓鼠是最受欢迎的宠物仓鼠。叙利亚仓鼠喜欢独居。"),
    ],
)
def test_look_alikes_do_not_make_a_syria_article(
    compiled: CompiledTaxonomy, title: str, text: str
) -> None:
    assert "syria" not in _topics(compiled, title, text)


def test_a_passing_mention_in_a_long_body_is_not_enough(compiled: CompiledTaxonomy) -> None:
    paragraphs = [
        f"Paragraph {i} about the regional budget and the new tram line." for i in range(12)
    ]
    paragraphs[5] = "The mayor, who visited Syria in 2009, defended the budget."
    assert "syria" not in _topics(compiled, "City council approves budget", "\n\n".join(paragraphs))


def test_one_paragraph_about_syria_or_a_title_mention_is_enough(compiled: CompiledTaxonomy) -> None:
    filler = [f"Paragraph {i} about the council budget." for i in range(8)]
    about = "Syria's government said on Monday that Syrian refugees could return."
    assert "syria" in _topics(compiled, "Council budget", "\n\n".join([*filler, about]))
    filler[2] = "The crossing to Syria was closed in 2012."
    filler[6] = "Trucks from Syria waited for hours."
    assert "syria" in _topics(compiled, "Syria reopens border crossing", "\n\n".join(filler))
    assert "syria" in _topics(compiled, "Syria reopens border crossing", "")


def test_a_headline_needs_the_body_to_come_back_to_the_topic(compiled: CompiledTaxonomy) -> None:
    text = (
        "Студентка Казанского университета Амина Х., родом из Идлиба, заняла первое место на "
        "олимпиаде по химии.\n\nОна учится в Казани третий год.\n\nРектор поздравил победительницу."
    )
    title = "Студентка из Идлиба стала лучшей на олимпиаде"
    assert not {"syria", "syria/idlib"} & _topics(compiled, title, text)


def test_items_of_a_list_weigh_less(compiled: CompiledTaxonomy) -> None:
    text = (
        "The Pope called for peace in Ukraine, the Holy Land, Lebanon, Syria, Myanmar and Sudan. "
        "He also thanked the Syrian aid workers.\n\nPilgrims filled the square."
    )
    tags = tag_topics(compiled, title="Urbi et Orbi", text=text, language="en")
    assert "syria" not in {tag.topic for tag in tags}
    listed = "Over 20 paragraphs, Syria and its war are described. Syria is at war."
    assert "syria" in _topics(compiled, None, listed)


def test_person_of_syrian_origin_is_not_a_syria_story(compiled: CompiledTaxonomy) -> None:
    text = (
        "Der SC Freiburg hat Mainz mit 2:1 geschlagen. Der eingewechselte Joker Al-Ahmad, Sohn "
        "syrischer Eltern, traf in der 88. Minute.\n\nTrainer Streich lobte die Moral."
    )
    assert "syria" not in _topics(compiled, "Freiburg schlägt Mainz dank Joker", text)


def test_lowercase_only_terms_need_lowercase(compiled: CompiledTaxonomy) -> None:
    adjective = "El gobierno sirio anunció elecciones. Los refugiados sirios regresan."
    assert "syria" in _topics(compiled, None, adjective)
    ship = "El buque Sirio zarpó de Génova. El Sirio era un vapor muy lujoso."
    assert "syria" not in _topics(compiled, None, ship)


def test_mixed_script_lookalikes_are_matched(compiled: CompiledTaxonomy) -> None:
    # "Сирия" typed with a Latin C and "Idlib" with a Cyrillic і and а-free spelling.
    tags = tag_topics(compiled, title="Cирия: обстрелы в Idlіb", text="", language="ru")
    assert {"syria", "syria/idlib"} <= {tag.topic for tag in tags}


def test_child_implies_parent_and_themes_need_the_parent(compiled: CompiledTaxonomy) -> None:
    cw = "Inspectors of the OPCW said a chemical attack with sarin had been staged."
    assert "syria/chemical-weapons" not in _topics(compiled, "Novichok: chemical weapons", cw)
    tags = tag_topics(
        compiled,
        title="Syria: chemical weapons inspectors report",
        text=f"Syria denies it.\n\n{cw}\n\nSyria's government rejected the report.",
        language="en",
    )
    assert [t.topic for t in tags if t.topic.startswith("syria")] == [
        "syria",
        "syria/chemical-weapons",
    ]
    # A theme's matches do not count for its parent.
    syria = next(t for t in tags if t.topic == "syria")
    assert all(ev.term in {"syria"} for ev in syria.evidence)


def test_evidence_points_at_the_original_text(compiled: CompiledTaxonomy) -> None:
    title = "Бои в Идлибе"
    text = (
        "Первый абзац.\n\nВойска ســوريـا и Сирии вошли в Ид\u00adлиб. В Идлибской провинции бои."
    )
    tags = tag_topics(compiled, title=title, text=text, language="ru")
    idlib = next(tag for tag in tags if tag.topic == "syria/idlib")
    assert idlib.score >= 2.0
    for ev in idlib.evidence:
        source = title if ev.field == "title" else text
        assert source[ev.position : ev.position + len(ev.matched)] == ev.matched
        assert ev.weight > 0
    assert next(ev.field for ev in idlib.evidence) == "title"
    assert "Ид\u00adлиб" in [ev.matched for ev in idlib.evidence]


def test_explanation_lists_every_tag_and_its_words(compiled: CompiledTaxonomy) -> None:
    tags = tag_topics(
        compiled, title="Partis d'Idleb, les rebelles entrent dans Alep", text="", language="fr"
    )
    explanation = format_tag_explanation(tags)
    assert "syria/idlib" in explanation
    assert "title@9: 'Idleb' <- term 'idleb*'" in explanation
    assert format_tag_explanation(()) == "no topic tags"


def test_tagging_is_deterministic_and_accepts_an_uncompiled_taxonomy(
    taxonomy: Taxonomy, compiled: CompiledTaxonomy
) -> None:
    args = {"title": "Idlib", "text": "Syria. Syria and Idlib.", "language": None}
    first: tuple[TopicTag, ...] = tag_topics(compiled, **args)  # type: ignore[arg-type]
    assert tag_topics(taxonomy, **args) == first  # type: ignore[arg-type]
    assert tag_topics(compiled, title=None, text="", language="en") == ()


def test_dev_set_documents_with_text_reach_the_goals(compiled: CompiledTaxonomy) -> None:
    """Syndication and written documents of topics/dev.jsonl (pages need extraction: see eval)."""
    syndication = {}
    for line in (DATA / "syndication" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        syndication[row["id"]] = (row["title"], row["text"])
    counts = {label: [0, 0, 0] for label in ("syria", "syria/idlib")}  # tp fp fn
    for line in (DATA / "topics" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ref = row["ref"]
        if ref is not None and "file" in ref:
            continue
        title, text = syndication[ref["syndication_id"]] if ref else (row["title"], row["text"])
        predicted = _topics(compiled, title, text)
        for label, count in counts.items():
            gold, guess = label in row["labels"], label in predicted
            count[0] += gold and guess
            count[1] += guess and not gold
            count[2] += gold and not guess
    for label, (tp, fp, fn) in counts.items():
        assert tp / (tp + fp) >= 0.95, (label, tp, fp, fn)
        assert tp / (tp + fn) >= 0.95, (label, tp, fp, fn)


def test_every_term_of_the_shipped_taxonomy_tags_its_topic(
    taxonomy: Taxonomy, compiled: CompiledTaxonomy
) -> None:
    silent = []
    for topic in taxonomy.topics:
        for term in topic.terms:
            surface = term.text.replace("*", "")
            text = "\n\n".join([f"{surface} - {surface}"] * 3)
            language = None if term.language == "*" else term.language
            if topic.requires_parent:  # a theme needs its parent's own evidence
                parent = taxonomy.topic(topic.parent or "")
                word = next(t.text for t in parent.terms if t.language == term.language)
                text = f"{word}. {word}.\n\n{text}"
            tags = tag_topics(compiled, title=surface, text=text, language=language)
            if topic.id not in {tag.topic for tag in tags}:
                silent.append((topic.id, term.language, term.text))
    assert not silent


def test_every_exclusion_of_the_shipped_taxonomy_suppresses_its_look_alike(
    taxonomy: Taxonomy, compiled: CompiledTaxonomy
) -> None:
    leaking = []
    for topic in taxonomy.topics:
        for term in topic.exclusions:
            surface = term.text.replace("*", "")
            text = "\n\n".join([f"{surface} - {surface}"] * 3)
            for language in {None, None if term.language == "*" else term.language}:
                tags = tag_topics(compiled, title=surface, text=text, language=language)
                if topic.id in {tag.topic for tag in tags}:
                    leaking.append((topic.id, term.language, term.text))
    assert not leaking


@pytest.mark.parametrize("surface", ["الإدلبي", "بإدلب", "באידליב", "सीरिया और इदलिब"])
def test_clitics_and_indic_vowel_signs(compiled: CompiledTaxonomy, surface: str) -> None:
    tags = tag_topics(compiled, title=surface, text="", language=None)
    assert "syria" in {tag.topic for tag in tags}
