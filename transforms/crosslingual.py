"""Cross-language copies: is this article a translation of that one?

Word hashes and MinHash see nothing in common between a French wire story and its Russian
translation. Two kinds of evidence do:

* a multilingual sentence encoder (`transforms.embeddings`) puts a text and its translation close
  together; faithful translations sit far above unrelated news, but a loose rewrite and a
  *different* story about the same event land in the same middle band;
* language-independent anchors: numbers (13,000 = 13 000 = 13.000), day-month dates, proper names
  compared through a consonant skeleton of their Latin transliteration (Dunford = Данфорд =
  دانفورد), and quoted spans. A translation keeps the facts; a different story about the same
  event shares the event's names but not its figures, dates and speakers in the same proportion.

`score_crosslingual` decides by sentence alignment, not similarity: most sentences of the shorter
text must find an in-order counterpart in the other (mutual nearest neighbours above a cosine that
faithful translations reach and same-event reports do not, kept only when they form a monotonic
chain). Two independent reports of one event are about the same things, so their pooled vectors
and a sentence or two sit close; a translation, even abridged, lines up sentence after sentence.
Shared names, numbers and dates are shown as evidence and never make a pair. Thresholds were
chosen on `../shared/data/syndication-real` (Douma) and checked on the NTREX and WMT translation
sets and the dev set; the closing note of issue 14 has the table.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transforms.embeddings import (
    SUPPORTED_LANGUAGES,
    FloatArray,
    cosine,
    embed_documents_with_units,
)

# --- decision thresholds ------------------------------------------------------------------------
# Cosine at which two sentences in different languages may be counterparts. On the Douma set,
# 3 aligned sentences at >= 0.60 separated translations of one statement from independent
# reports (pairs: 60 true, 3 false); at 0.55 the false pairs tripled.
TRANSLATION_SENTENCE_COSINE = 0.60
# Aligned sentences a translation needs (half of a shorter side's when that is fewer, never fewer
# than MIN_ALIGNED_SENTENCES: one shared sentence is a quotation, not a copy). Requiring more of
# the shorter side (0.6) or 4 sentences lost recall on Douma and NTREX with no precision gain.
TRANSLATION_MIN_SENTENCES = 3
MIN_ALIGNED_SENTENCES = 2
# The same test within one language (rewrites that paraphrase): sentences of one language sit
# closer in the encoder's space, so the bar is higher. 2 at >= 0.70: 74 true, 5 false pairs.
REWRITE_SENTENCE_COSINE = 0.70
REWRITE_MIN_SENTENCES = 2
# Outside the encoder's languages sentences are aligned by their anchors (numbers, dates, name
# skeletons): two sentences are counterparts when they share at least half of the anchors of the
# one with more; a translation needs ANCHOR_MIN_SENTENCES such sentences in order and at least
# ANCHOR_MIN_SHARE of the shorter side's sentences that have anchors. WMT dev (cs/uk/hr/is/ha/hi
# against the others), pairs: 872 true, 1 false; letting texts of at most 4 anchored sentences
# pass with half of them gave 957 / 1 on pairs but, through the store, pairwise precision 0.977
# instead of 0.981 (a Ukrainian snippet joined two Ukraine-war stories). On Douma it links nothing.
ANCHOR_SENTENCE_SHARE = 0.5
ANCHOR_MIN_SENTENCES = 3
ANCHOR_MIN_SHARE = 0.3
# Anchors of one sentence used for its candidate keys (pairs of them), and keys per document.
ANCHOR_KEY_ANCHORS = 8
MAX_ANCHOR_KEYS = 200


# --- records --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Anchors:
    """Language-independent facts of one document.

    `numbers`: canonical numeric values ("13000", "5.9", "2018"); `years`: the subset that look
    like years; `percentages`: values written with a percent sign or word; `dates`: day-month
    ("09-08") and weekday ("weekday:6") keys; `entities`: proper-name candidates as written;
    `skeletons`: their transliteration skeletons (same order as `entities`); `quotes`: quoted
    spans, whitespace-collapsed and lower-cased.
    """

    numbers: frozenset[str] = frozenset()
    years: frozenset[str] = frozenset()
    percentages: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    entities: tuple[str, ...] = ()
    skeletons: tuple[str, ...] = ()
    quotes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentSignals:
    """What cross-language scoring needs of one document (cheap to keep, no text).

    `vector` is the L2-normalised document vector of `transforms.embeddings`; `units` the
    L2-normalised vectors of its title and paragraphs (empty: alignment falls back on `vector`);
    `language` an ISO 639-1 code or None; `length` the number of characters of the text;
    `sentence_anchors` the anchor keys (numbers, dates, name skeletons) of each sentence unit,
    what aligns a translation when the encoder does not know its language.
    """

    vector: tuple[float, ...]
    anchors: Anchors
    language: str | None
    length: int
    units: tuple[tuple[float, ...], ...] | FloatArray = ()
    sentence_anchors: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True, slots=True)
class CrossLingualMatch:
    """The verdict on one pair of documents.

    `score` in [0, 1] orders candidate pairs (coverage blended with the aligned cosine); `is_copy`
    is the thresholded decision and `relation` ("translation", or "rewrite" within one language)
    is set exactly when `is_copy` is true. `cosine` is the pooled-vector cosine, `alignment` the
    share of the shorter side's sentences aligned and `aligned` their number (see
    `align_sentences`). `evidence` lists the rule that decided, the aligned sentence pairs and
    the shared anchors, for display.
    """

    is_copy: bool
    relation: str | None
    score: float
    cosine: float
    anchor_overlap: float
    evidence: tuple[str, ...]
    alignment: float = 0.0
    aligned: int = 0


# --- transliteration --------------------------------------------------------------------------
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i", "ї": "yi",
    "є": "ye", "ґ": "g", "ђ": "dj", "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c", "џ": "dz", "ў": "u",
}  # fmt: skip
_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th", "ι": "i",
    "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r", "σ": "s",
    "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps", "ω": "o",
}  # fmt: skip
_ARABIC = {
    "ا": "a", "أ": "a", "إ": "i", "آ": "a", "ٱ": "a", "ء": "", "ب": "b", "ت": "t", "ث": "th",
    "ج": "j", "ح": "h", "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s", "ش": "sh",
    "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": "", "غ": "gh", "ف": "f", "ق": "q", "ك": "k",
    "ل": "l", "م": "m", "ن": "n", "ه": "h", "ة": "a", "ى": "a", "ئ": "y", "ؤ": "w", "پ": "p",
    "چ": "ch", "گ": "g", "ک": "k", "ی": "y", "ڤ": "v",
}  # fmt: skip
# و and ي are consonants at the start of a word and long vowels inside it.
_ARABIC_INITIAL = {"و": "w", "ي": "y"}
_ARABIC_MEDIAL = {"و": "u", "ي": "i"}
# Attached article and conjunction/preposition prefixes, longest first: والبنتاغون -> بنتاغون.
_ARABIC_PREFIXES = ("وبال", "وال", "بال", "كال", "فال", "لل", "ال", "و", "ب", "ل", "ف")

# Digraphs folded before the consonant classes, longest first: sounds that different
# romanisations spell differently (Джамаль -> dzhamal, Jamal; Шольц -> sholts, Scholz).
_DIGRAPHS = (
    ("tsch", "j"), ("dsch", "j"), ("shch", "j"), ("dzh", "j"), ("sch", "j"), ("sh", "j"),
    ("ch", "j"), ("zh", "j"), ("dj", "j"), ("kh", "k"), ("gh", "k"), ("ph", "f"), ("th", "t"),
    ("ts", "s"), ("tz", "s"), ("ck", "k"), ("qu", "k"), ("x", "ks"),
)  # fmt: skip
# Consonant classes: letters that transliterations swap (Pentagon -> البنتاغون has no p; Vladimir
# -> فلاديمير has no v; Gazprom -> Газпром keeps z where English may write s).
_CLASSES = {
    "b": "b", "p": "b", "f": "f", "v": "f", "w": "f", "g": "k", "k": "k", "q": "k", "c": "k",
    "s": "s", "z": "s", "j": "j", "d": "d", "t": "t", "l": "l", "m": "m", "n": "n", "r": "r",
}  # fmt: skip

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_ARABIC_LETTER = re.compile(r"[\u0600-\u06ff]")
_ARABIC_DIACRITICS = re.compile(r"[\u064b-\u065f\u0670\u0640]")


def transliterate_latin(word: str) -> str:
    """Return a lower-case Latin-letter rendering of `word` (Cyrillic, Greek, Arabic or Latin).

    Accents are stripped (é -> e, ß -> ss); letters of other scripts are dropped.
    """
    word = _ARABIC_DIACRITICS.sub("", word)
    out: list[str] = []
    for index, char in enumerate(word.lower()):
        if char in _CYRILLIC:
            out.append(_CYRILLIC[char])
        elif char in _ARABIC_INITIAL:
            out.append(_ARABIC_INITIAL[char] if index == 0 else _ARABIC_MEDIAL[char])
        elif char in _ARABIC:
            out.append(_ARABIC[char])
        elif char == "ß":
            out.append("ss")
        else:
            base = unicodedata.normalize("NFD", char)[0]
            base = _GREEK.get(base, base)
            if base.isascii() and base.isalpha():
                out.append(base)
    return "".join(out)


def skeletonize_name(word: str) -> str:
    """Return the consonant skeleton of a name in any of the supported scripts.

    Transliterate to Latin, fold digraphs, map consonants to classes that transliterations
    confuse, drop vowels and h, collapse repeats: Dunford, Данфорд and دانفورد all give "dnfrd".
    """
    return _fold_skeleton(transliterate_latin(_strip_arabic_prefix(word)))


def _fold_skeleton(latin: str) -> str:
    for digraph, replacement in _DIGRAPHS:
        latin = latin.replace(digraph, replacement)
    skeleton: list[str] = []
    for char in latin:
        mapped = _CLASSES.get(char)
        if mapped and (not skeleton or skeleton[-1] != mapped):
            skeleton.append(mapped)
    return "".join(skeleton)


def name_skeletons(word: str) -> frozenset[str]:
    """Return every skeleton a written name may stand for.

    One for most words; an Arabic word gets two, with and without an attached prefix stripped,
    because a leading و or ب is as often part of the name (واشنطن, بوينغ) as a conjunction or
    preposition (والبنتاغون).
    """
    if _ARABIC_LETTER.match(word):
        return frozenset({skeletonize_name(word), _fold_skeleton(transliterate_latin(word))})
    return frozenset({skeletonize_name(word)})


def _strip_arabic_prefix(word: str) -> str:
    if not _ARABIC_LETTER.match(word):
        return word
    for prefix in _ARABIC_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            return word[len(prefix) :]
    return word


def skeletons_match(a: str, b: str) -> bool:
    """True when two skeletons are equal, or differ by one edit and the longer has >= 4 classes.

    One edit absorbs what the classes cannot (Hitler "tlr" vs Гитлер "ktlr").
    """
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1 or max(len(a), len(b)) < 4:
        return False
    return _within_one_edit(a, b)


def _within_one_edit(a: str, b: str) -> bool:
    if len(a) > len(b):
        a, b = b, a
    i = j = 0
    edits = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            i += 1
            j += 1
            continue
        edits += 1
        if edits > 1:
            return False
        if len(a) == len(b):
            i += 1
        j += 1
    return edits + (len(b) - j) + (len(a) - i) <= 1


# --- numbers and dates ------------------------------------------------------------------------
_DIGIT_TABLE = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Thousands groups need a consistent separator and exactly three digits per group; a decimal part
# may follow. Tried first so "13 000" and "13.000" are one number, not two.
_NUMBER = re.compile(
    r"(?<![\d.,])(?:"
    r"(?P<grouped>\d{1,3}(?P<sep>[,.\u00a0\u202f\u2009 '’])\d{3}(?:(?P=sep)\d{3})*"
    r"(?:[.,]\d+)?(?!\d))"
    r"|(?P<decimal>\d+[.,]\d+)"
    r"|(?P<plain>\d+)"
    r")"
)
_PERCENT_AFTER = re.compile(
    r"\s*(?:%|٪|pour\s?cent|percent|per\s?cent|prozent|por\s?ciento|per\s?cento|процент"
    r"|بالمئة|بالمائة|في\s?المئة|في\s?المائة)",
    re.IGNORECASE,
)
# Numbers below this are left out: they are as often spelled as words ("three", "trois") and
# match by chance.
_MIN_NUMBER = 10

_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "janvier", "januar", "enero", "gennaio", "январ-", "janeiro", "يناير"),
    2: ("february", "feb", "février", "fevrier", "februar", "febrero", "febbraio", "феврал-",
        "fevereiro", "فبراير", "شباط"),
    3: ("march", "mar", "mars", "märz", "marz", "marzo", "март", "марта", "марте", "março",
        "مارس", "آذار"),
    4: ("april", "apr", "avril", "abril", "aprile", "апрел-", "أبريل", "ابريل", "نيسان"),
    5: ("may", "mai", "mayo", "maggio", "май", "мая", "maio", "مايو", "أيار"),
    6: ("june", "jun", "juin", "juni", "junio", "giugno", "июн-", "junho", "يونيو", "حزيران"),
    7: ("july", "jul", "juillet", "juli", "julio", "luglio", "июл-", "julho", "يوليو", "تموز"),
    8: ("august", "aug", "août", "aout", "agosto", "август", "августа", "августе", "أغسطس", "آب"),
    9: ("september", "sept", "sep", "septembre", "septiembre", "settembre", "сентябр-",
        "setembro", "سبتمبر", "أيلول"),
    10: ("october", "oct", "octobre", "oktober", "octubre", "ottobre", "октябр-", "outubro",
         "أكتوبر", "اكتوبر"),
    11: ("november", "nov", "novembre", "noviembre", "ноябр-", "novembro", "نوفمبر"),
    12: ("december", "dec", "décembre", "decembre", "dezember", "diciembre", "dicembre",
         "декабр-", "dezembro", "ديسمبر"),
}  # fmt: skip
_WEEKDAYS: dict[int, tuple[str, ...]] = {
    1: ("monday", "lundi", "montag", "lunes", "lunedì", "lunedi", "понедельник", "الاثنين"),
    2: ("tuesday", "mardi", "dienstag", "martes", "martedì", "martedi", "вторник", "الثلاثاء"),
    3: ("wednesday", "mercredi", "mittwoch", "miércoles", "miercoles", "mercoledì", "mercoledi",
        "среда", "среду", "среды", "الأربعاء", "الاربعاء"),
    4: ("thursday", "jeudi", "donnerstag", "jueves", "giovedì", "giovedi", "четверг", "الخميس"),
    5: ("friday", "vendredi", "freitag", "viernes", "venerdì", "venerdi", "пятниц-", "الجمعة"),
    6: ("saturday", "samedi", "samstag", "sonnabend", "sábado", "sabado", "sabato", "суббот-",
        "السبت"),
    7: ("sunday", "dimanche", "sonntag", "domingo", "domenica", "воскресень-", "الأحد", "الاحد"),
}  # fmt: skip
# Names are lower-case; a trailing "-" marks a stem that takes any ending (сентября, субботу).
_MONTH_NAMES = {
    name: month for month, names in _MONTHS.items() for name in names if not name.endswith("-")
}
_WEEKDAY_NAMES = {
    name: day for day, names in _WEEKDAYS.items() for name in names if not name.endswith("-")
}
_MONTH_STEMS = tuple(
    (name[:-1], month) for month, names in _MONTHS.items() for name in names if name.endswith("-")
)
_WEEKDAY_STEMS = tuple(
    (name[:-1], day) for day, names in _WEEKDAYS.items() for name in names if name.endswith("-")
)
# Two-word Levantine Arabic months: first word, second word -> month.
_ARABIC_TWO_WORD_MONTHS = {
    ("كانون", "الثاني"): 1,
    ("كانون", "الأول"): 12,
    ("تشرين", "الأول"): 10,
    ("تشرين", "الثاني"): 11,
}
# English abbreviations and "may" are ordinary words in lower case ("may", "mar" = sea in es/it).
_NEEDS_CAPITAL = frozenset(
    {"may", "mar", "jan", "feb", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
)
# Portuguese weekdays are "<ordinal>-feira"; the ordinal alone ("segunda") means "second".
_PORTUGUESE_WEEKDAYS = {"segunda": 1, "terça": 2, "terca": 2, "quarta": 3, "quinta": 4, "sexta": 5}
_ORDINAL_SUFFIXES = frozenset({"er", "st", "nd", "rd", "th", "º", "e"})
_CALENDAR_TOKEN = re.compile(r"\d+|[^\W\d_]+")


def _month_of(word: str) -> int | None:
    lower = word.lower()
    month = _MONTH_NAMES.get(lower)
    if month is None and "а" <= lower[0] <= "я":
        month = next((m for stem, m in _MONTH_STEMS if lower.startswith(stem)), None)
    return month


def _weekday_of(word: str) -> int | None:
    lower = word.lower()
    day = _WEEKDAY_NAMES.get(lower)
    if day is None and "а" <= lower[0] <= "я":
        day = next((d for stem, d in _WEEKDAY_STEMS if lower.startswith(stem)), None)
    return day


def _is_calendar_word(word: str) -> bool:
    return _month_of(word) is not None or _weekday_of(word) is not None


def _extract_dates(text: str) -> set[str]:
    """Day-month keys ("09-08") and weekday keys ("weekday:6") found in `text`."""
    tokens = [(m.group(0), m.start(), m.end()) for m in _CALENDAR_TOKEN.finditer(text)]

    def close(left: int, right: int) -> bool:
        gap = text[tokens[left][2] : tokens[right][1]]
        return len(gap) <= 3 and "\n" not in gap

    def day_at(index: int) -> int | None:
        if 0 <= index < len(tokens) and tokens[index][0].isdigit() and len(tokens[index][0]) <= 2:
            value = int(tokens[index][0])
            return value if 1 <= value <= 31 else None
        return None

    keys: set[str] = set()
    for index, (word, _, _) in enumerate(tokens):
        if word.isdigit():
            continue
        weekday = _weekday_of(word)
        if (
            weekday is None
            and word.lower() in _PORTUGUESE_WEEKDAYS
            and index + 1 < len(tokens)
            and tokens[index + 1][0].lower() == "feira"
        ):
            weekday = _PORTUGUESE_WEEKDAYS[word.lower()]
        if weekday is not None:
            keys.add(f"weekday:{weekday}")
            continue
        month = _month_of(word)
        # "may 10" is a verb and a number; "14 jul" (pt) and "May 10" are dates.
        ambiguous = word.lower() in _NEEDS_CAPITAL and not word[0].isupper()
        last = index
        if month is None and index + 1 < len(tokens):
            month = _ARABIC_TWO_WORD_MONTHS.get((word, tokens[index + 1][0]))
            last = index + 1
        if month is None:
            continue
        # Walk back from the month over "de"/"di" and an ordinal suffix glued to the day.
        near, k = index, index - 1
        if k >= 0 and tokens[k][0].lower() in ("de", "di") and close(k, near):
            near, k = k, k - 1
        if (
            k >= 1
            and tokens[k][0].lower() in _ORDINAL_SUFFIXES
            and tokens[k - 1][2] == tokens[k][1]
            and close(k, near)
        ):
            near, k = k, k - 1
        day = day_at(k) if k >= 0 and close(k, near) else None
        if day is None and not ambiguous and last + 1 < len(tokens) and close(last, last + 1):
            day = day_at(last + 1)
        if day is not None:
            keys.add(f"{month:02d}-{day:02d}")
    return keys


# Quoted spans: guillemets, curly and low-high quotes, straight double quotes, CJK corners.
# Quoted spans: guillemets (which may nest « inner » quotes), curly and low-high quotes, straight
# double quotes, CJK corners. Spans of fewer than MIN_QUOTE_WORDS words are scare quotes
# («réconciliateurs»), not quotations.
_QUOTE = re.compile(
    r"«\s*((?:[^«»]|«[^«»]*»)+?)\s*»|“([^“”]+?)”|„([^„“”]+?)[“”]|\"([^\"\n]+?)\"|「([^「」]+?)」"
)
_MIN_QUOTE_WORDS = 3
_MAX_QUOTE_CHARS = 600
# Characters after which a capital says "new sentence" rather than "name" (spaces skipped).
_SENTENCE_OPENERS = frozenset('.!?…؟:\n«“„"(—–-')
_MIN_SKELETON = 3


def _canonical_number(match: re.Match[str]) -> str:
    grouped = match.group("grouped")
    if grouped is not None:
        # A decimal part after the groups uses the other separator: "1.234,5" -> 1234.5.
        sep = match.group("sep")
        whole, decimal = grouped, ""
        tail = re.search(r"[.,](\d+)$", grouped)
        if tail and grouped[tail.start()] != sep:
            whole, decimal = grouped[: tail.start()], tail.group(1)
        return _format_number(re.sub(r"\D", "", whole), decimal)
    decimal_text = match.group("decimal")
    if decimal_text is not None:
        whole, _, fraction = re.split(r"([.,])", decimal_text, maxsplit=1)
        return _format_number(whole, fraction)
    return _format_number(match.group("plain"), "")


def _format_number(whole: str, fraction: str) -> str:
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def extract_anchors(title: str | None, text: str, language: str | None = None) -> Anchors:
    """Return the language-independent anchors of a document (title and text).

    Numbers are canonicalised across formats (13,000 / 13 000 / 13.000 -> "13000"; 5,9 -> "5.9";
    Arabic-Indic digits read as digits); values below 10 are dropped as too common. Dates are
    day-month keys and weekday keys in en/fr/de/es/it/pt/ru/ar. Entities are capitalised words
    that do not merely open a sentence (all words for Arabic, which has no case), with their
    transliteration skeletons. `language` (ISO 639-1) only selects the Arabic rule when the script
    alone would not.
    """
    full = f"{title}\n\n{text}" if title else text
    digits = full.translate(_DIGIT_TABLE)

    numbers: set[str] = set()
    years: set[str] = set()
    percentages: set[str] = set()
    for match in _NUMBER.finditer(digits):
        value = _canonical_number(match)
        if "." not in value and int(value) < _MIN_NUMBER:
            continue
        numbers.add(value)
        if match.group("plain") and len(value) == 4 and 1800 <= int(value) <= 2100:
            years.add(value)
        if _PERCENT_AFTER.match(digits, match.end()):
            percentages.add(value)

    dates = _extract_dates(digits)

    # Names from the body only: titles are often Title Case, which would pass every word for a name.
    entities, skeletons = _extract_entities(text, language)
    spans = (
        re.sub(r"\s+", " ", next(group for group in match.groups() if group)).strip().lower()
        for match in _QUOTE.finditer(full)
    )
    quotes = tuple(
        dict.fromkeys(
            span
            for span in spans
            if len(span.split()) >= _MIN_QUOTE_WORDS and len(span) <= _MAX_QUOTE_CHARS
        )
    )
    return Anchors(
        numbers=frozenset(numbers),
        years=frozenset(years),
        percentages=frozenset(percentages),
        dates=frozenset(dates),
        entities=entities,
        skeletons=skeletons,
        quotes=quotes,
    )


def _opens_sentence(text: str, start: int) -> bool:
    """True when the word at `start` is the first of its text, paragraph or sentence."""
    index = start - 1
    while index >= 0 and text[index] in " \t\u00a0":
        index -= 1
    return index < 0 or text[index] in _SENTENCE_OPENERS


def _extract_entities(text: str, language: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Proper-name candidates and their skeletons, first occurrence order, one per skeleton.

    Arabic has no capitals, so every Arabic word is a candidate (with both of its skeletons).
    """
    chosen: dict[str, str] = {}
    for match in _WORD.finditer(text):
        word = match.group(0)
        arabic = bool(_ARABIC_LETTER.match(word)) or (language == "ar" and not word.isascii())
        if not arabic:
            if not word[0].isupper() or len(word) < 2:
                continue
            if _opens_sentence(text, match.start()):
                continue  # capitalised because it opens a sentence, not because it is a name
            if _is_calendar_word(word):
                continue  # months and weekdays are dates, counted as such
        for skeleton in sorted(name_skeletons(word)):
            if len(skeleton) >= _MIN_SKELETON:
                chosen.setdefault(skeleton, word)
    return tuple(chosen.values()), tuple(chosen.keys())


# --- scoring --------------------------------------------------------------------------------
def signals_for(title: str | None, text: str, language: str | None) -> DocumentSignals:
    """Return the signals of one document: its vectors (encoder loaded on first use) and anchors."""
    return signals_for_documents([(title, text, language)])[0]


def signals_for_documents(
    documents: Sequence[tuple[str | None, str, str | None]],
) -> list[DocumentSignals]:
    """Return `signals_for` of each `(title, text, language)`, embedding the batch in one call."""
    embeddings = embed_documents_with_units([(title, text) for title, text, _ in documents])
    return [
        DocumentSignals(
            vector=embedding.vector,
            anchors=extract_anchors(title, text, language),
            language=language,
            length=len(text),
            units=embedding.units,
            sentence_anchors=sentence_anchor_sets(text, language),
        )
        for embedding, (title, text, language) in zip(embeddings, documents, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class AnchorOverlap:
    """Shared anchors of one kind: how many matched out of how many could have, and which."""

    matched: int
    comparable: int
    shared: tuple[str, ...]

    @property
    def ratio(self) -> float:
        """Matched over comparable (0.0 when nothing was comparable)."""
        return self.matched / self.comparable if self.comparable else 0.0


def _set_overlap(kind: str, a: frozenset[str], b: frozenset[str]) -> AnchorOverlap:
    # Against the smaller side: a translation may be abridged, so the longer side's extra facts
    # are not evidence against it.
    shared = sorted(a & b)
    return AnchorOverlap(
        len(shared), min(len(a), len(b)), tuple(f"{kind}:{value}" for value in shared)
    )


def _name_overlap(a: Anchors, b: Anchors) -> AnchorOverlap:
    small, large = (a, b) if len(a.skeletons) <= len(b.skeletons) else (b, a)
    large_set = set(large.skeletons)
    shared: list[str] = []
    for surface, skeleton in zip(small.entities, small.skeletons, strict=True):
        if skeleton in large_set or any(skeletons_match(skeleton, other) for other in large_set):
            shared.append(f"name:{surface}")
    return AnchorOverlap(len(shared), len(small.skeletons), tuple(shared))


def compare_anchors(a: Anchors, b: Anchors) -> dict[str, AnchorOverlap]:
    """Return the overlap of two documents' anchors: "facts" (numbers and dates) and "names".

    Each is counted against the side with fewer anchors of that kind, so an abridged
    translation is not penalised for what it left out.
    """
    return {
        "facts": _set_overlap("fact", a.numbers | a.dates, b.numbers | b.dates),
        "names": _name_overlap(a, b),
    }


@dataclass(frozen=True, slots=True)
class SentenceAlignment:
    """Sentences of two documents that are each other's counterparts, in the same order.

    `pairs` are (sentence of a, sentence of b, cosine), increasing in both indexes; `shorter`
    is the sentence count of the document with fewer sentences.
    """

    pairs: tuple[tuple[int, int, float], ...]
    shorter: int

    @property
    def count(self) -> int:
        """How many sentences are aligned."""
        return len(self.pairs)

    @property
    def coverage(self) -> float:
        """Aligned sentences over the shorter side's sentences (0.0 when it has none)."""
        return len(self.pairs) / self.shorter if self.shorter else 0.0

    @property
    def mean_cosine(self) -> float:
        """Mean cosine of the aligned pairs (0.0 when none)."""
        return sum(c for _, _, c in self.pairs) / len(self.pairs) if self.pairs else 0.0


def align_sentences(
    a: Sequence[Sequence[float]] | FloatArray,
    b: Sequence[Sequence[float]] | FloatArray,
    threshold: float,
) -> SentenceAlignment:
    """Align the sentence vectors of two documents (bitext-mining style).

    A pair (i, j) is a candidate when sentence i of `a` and j of `b` are mutual nearest
    neighbours with cosine >= `threshold`; of those, the longest chain increasing in both i and j
    is kept (a translation keeps the order of its source; sentences that match out of order
    are topical coincidences). Symmetric up to swapping the pair indexes.
    """
    if not len(a) or not len(b):
        return SentenceAlignment((), min(len(a), len(b)))
    left = np.asarray(a, dtype=np.float32)
    right = np.asarray(b, dtype=np.float32)
    matrix = left @ right.T
    best_of_left = matrix.argmax(axis=1)
    best_of_right = matrix.argmax(axis=0)
    mutual = [
        (i, int(j), round(float(matrix[i, j]), 4))
        for i, j in enumerate(best_of_left)
        if best_of_right[j] == i and matrix[i, j] >= threshold
    ]
    return SentenceAlignment(_longest_monotonic_chain(mutual), min(len(a), len(b)))


def _longest_monotonic_chain(
    pairs: Sequence[tuple[int, int, float]],
) -> tuple[tuple[int, int, float], ...]:
    """The longest subsequence of `pairs` (sorted by i, distinct i and j) increasing in j."""
    tails: list[int] = []  # tails[k]: index into pairs of the smallest j ending a chain of k+1
    previous: list[int] = [-1] * len(pairs)
    for index, (_, j, _) in enumerate(pairs):
        position = bisect.bisect_left([pairs[t][1] for t in tails], j)
        if position:
            previous[index] = tails[position - 1]
        if position == len(tails):
            tails.append(index)
        else:
            tails[position] = index
    chain: list[tuple[int, int, float]] = []
    cursor = tails[-1] if tails else -1
    while cursor >= 0:
        chain.append(pairs[cursor])
        cursor = previous[cursor]
    return tuple(reversed(chain))


def required_sentences(shorter: int, minimum: int) -> int:
    """Aligned sentences a pair needs: half the shorter side's, at most `minimum`, at least 2.

    A translation abridged to half its sentences still qualifies; a sentence or two shared by
    two long texts (a quotation both carry) does not.
    """
    return max(MIN_ALIGNED_SENTENCES, min(minimum, math.ceil(shorter / 2)))


def sentence_anchor_sets(text: str, language: str | None) -> tuple[frozenset[str], ...]:
    """Return the anchor keys of each sentence unit of `text` (`split_units` order).

    Keys are canonical numbers ("n:13000"), day-month and weekday dates ("d:09-08") and name
    skeletons ("s:dnfrd"): what a translation keeps whatever its script.
    """
    from transforms.embeddings import split_units

    sets = []
    for sentence in split_units(None, text):
        anchors = extract_anchors(None, sentence, language)
        sets.append(
            frozenset(
                {f"n:{n}" for n in anchors.numbers}
                | {f"d:{d}" for d in anchors.dates}
                | {f"s:{k}" for k in anchors.skeletons}
            )
        )
    return tuple(sets)


def anchor_keys(sentence_anchors: Sequence[frozenset[str]]) -> tuple[str, ...]:
    """Return candidate keys: hashed pairs of anchors that occur in one sentence, bounded.

    A translation keeps, sentence by sentence, the same figures and names together; two
    documents sharing several such pairs are worth aligning. The smallest hashes are kept (the
    same choice in every document), `MAX_ANCHOR_KEYS` at most, as "x:<8 hex digits>".
    """
    values: set[int] = set()
    for anchors in sentence_anchors:
        chosen = sorted(anchors)[:ANCHOR_KEY_ANCHORS]
        for first, second in itertools.combinations(chosen, 2):
            digest = hashlib.blake2b(f"{first}|{second}".encode(), digest_size=4).digest()
            values.add(int.from_bytes(digest, "big"))
    return tuple(f"x:{value:08x}" for value in sorted(values)[:MAX_ANCHOR_KEYS])


def required_anchor_sentences(shorter: int) -> int:
    """Anchor-aligned sentences a pair needs when the shorter side has `shorter` with anchors.

    ANCHOR_MIN_SENTENCES, and ANCHOR_MIN_SHARE of them. A text with fewer anchored sentences
    than that (a news snippet) is never linked this way: two or three shared figures and names
    are what same-event snippets share too.
    """
    return max(ANCHOR_MIN_SENTENCES, math.ceil(ANCHOR_MIN_SHARE * shorter))


def align_anchor_sentences(
    a: Sequence[frozenset[str]], b: Sequence[frozenset[str]]
) -> SentenceAlignment:
    """Align two documents' sentences by their anchors (the encoder-free `align_sentences`).

    Sentence i of `a` and j of `b` are candidates when they are each other's best match and
    share at least `ANCHOR_SENTENCE_SHARE` of the anchors of the one with more; the longest
    in-order chain is kept. `shorter` counts the sentences with anchors of the poorer side.
    """
    best_a: dict[int, tuple[float, int]] = {}
    best_b: dict[int, tuple[float, int]] = {}
    for i, left in enumerate(a):
        if not left:
            continue
        for j, right in enumerate(b):
            shared = len(left & right)
            if not shared:
                continue
            share = shared / max(len(left), len(right))
            if share < ANCHOR_SENTENCE_SHARE:
                continue
            if share > best_a.get(i, (0.0, -1))[0]:
                best_a[i] = (share, j)
            if share > best_b.get(j, (0.0, -1))[0]:
                best_b[j] = (share, i)
    mutual = sorted(
        (i, j, round(share, 4))
        for i, (share, j) in best_a.items()
        if best_b.get(j, (0.0, -1))[1] == i
    )
    shorter = min(sum(1 for x in a if x), sum(1 for x in b if x))
    return SentenceAlignment(_longest_monotonic_chain(mutual), shorter)


def score_crosslingual(a: DocumentSignals, b: DocumentSignals) -> CrossLingualMatch:
    """Decide whether two documents in different languages are one text translated.

    A copy when at least `required_sentences(shorter, TRANSLATION_MIN_SENTENCES)` sentences align
    in order at cosine >= TRANSLATION_SENTENCE_COSINE (`align_sentences`). Outside the encoder's
    languages (`SUPPORTED_LANGUAGES`, or no language) sentence vectors are not evidence
    (unrelated Czech articles align with each other as well as translations do): there the
    sentences are aligned by their anchors instead (`align_anchor_sentences`), and a copy needs
    `required_anchor_sentences` of them in order. Shared
    names, facts and quotes of an accepted pair are listed in `evidence` for a person to audit;
    they never make a pair. `score` = coverage blended with the mean aligned similarity.
    Symmetric.
    """
    return _score_alignment(a, b, TRANSLATION_SENTENCE_COSINE, TRANSLATION_MIN_SENTENCES)


def score_paraphrase(a: DocumentSignals, b: DocumentSignals) -> CrossLingualMatch:
    """`score_crosslingual` for two documents in one language (a rewrite that paraphrases).

    The bar is REWRITE_MIN_SENTENCES aligned at cosine >= REWRITE_SENTENCE_COSINE; relation
    "rewrite" when it is met.
    """
    return _score_alignment(a, b, REWRITE_SENTENCE_COSINE, REWRITE_MIN_SENTENCES)


def _score_alignment(
    a: DocumentSignals, b: DocumentSignals, threshold: float, minimum: int
) -> CrossLingualMatch:
    similarity = cosine(a.vector, b.vector)
    encoded = a.language in SUPPORTED_LANGUAGES and b.language in SUPPORTED_LANGUAGES
    rule: str | None = None
    if not encoded:
        alignment = align_anchor_sentences(a.sentence_anchors, b.sentence_anchors)
        needed = required_anchor_sentences(alignment.shorter)
        kind = "anchors"
    else:
        alignment = align_sentences(a.units, b.units, threshold)
        needed = required_sentences(alignment.shorter, minimum)
        kind = f"{threshold}"
    if not encoded and a.language is not None and a.language == b.language:
        reason = "rule:none(one language outside the encoder: wording decides)"
    elif alignment.count >= needed:
        rule = f"rule:aligned>={needed}@{kind}"
        reason = rule
    else:
        reason = f"rule:none(aligned {alignment.count}<{needed}@{kind})"
    evidence = [
        f"aligned:{alignment.count}/{alignment.shorter}",
        f"cosine:{similarity:.3f}",
        reason,
        *(f"pair:{i}-{j}:{c:.2f}" for i, j, c in alignment.pairs[:8]),
    ]
    matched = comparable = 0
    if rule is not None:
        # Shared anchors are shown to a person auditing the copy; they decide nothing, so they
        # are compared only for accepted pairs (name matching is most of a pair's cost).
        parts = compare_anchors(a.anchors, b.anchors)
        matched = sum(part.matched for part in parts.values())
        comparable = sum(part.comparable for part in parts.values())
        evidence.append(f"anchors:{matched}/{comparable}")
        for part in parts.values():
            evidence.extend(part.shared)
        shared_quotes = set(a.anchors.quotes) & set(b.anchors.quotes)
        evidence.extend(f"quote:{quote}" for quote in sorted(shared_quotes))
    same_language = a.language is not None and a.language == b.language
    relation = None if rule is None else ("rewrite" if same_language else "translation")
    score = 0.5 * alignment.coverage + 0.5 * alignment.mean_cosine
    return CrossLingualMatch(
        is_copy=rule is not None,
        relation=relation,
        score=round(min(max(score, 0.0), 1.0), 6),
        cosine=similarity,
        anchor_overlap=matched / comparable if comparable else 0.0,
        evidence=tuple(evidence),
        alignment=alignment.coverage,
        aligned=alignment.count,
    )


def list_shared_names(a: Anchors, b: Anchors) -> tuple[str, ...]:
    """Return the names of `a`, as `a` writes them, whose skeleton matches one of `b`'s."""
    others = set(b.skeletons)
    shared = (
        surface
        for surface, skeleton in zip(a.entities, a.skeletons, strict=True)
        if skeleton in others or any(skeletons_match(skeleton, other) for other in others)
    )
    return tuple(dict.fromkeys(shared))


# --- storage ----------------------------------------------------------------------------------
SIGNALS_FORMAT = 1


def serialise_signals(signals: DocumentSignals) -> dict[str, Any]:
    """Return a JSON-ready dict of `signals` (vectors packed as base64 little-endian floats).

    The pooled vector keeps float32; unit vectors are stored as float16 (half the size; cosines
    move by under 0.002, far inside the thresholds' margins). `deserialise_signals` inverts it.
    """
    anchors = signals.anchors
    return {
        "format": SIGNALS_FORMAT,
        "language": signals.language,
        "length": signals.length,
        "vector": _pack(signals.vector, "<f4"),
        "units": [_pack(unit, "<f2") for unit in signals.units],
        "anchors": {
            "numbers": sorted(anchors.numbers),
            "years": sorted(anchors.years),
            "percentages": sorted(anchors.percentages),
            "dates": sorted(anchors.dates),
            "entities": list(anchors.entities),
            "skeletons": list(anchors.skeletons),
            "quotes": list(anchors.quotes),
        },
    }


def deserialise_signals(data: dict[str, Any]) -> DocumentSignals:
    """Rebuild `DocumentSignals` from `serialise_signals` output.

    Raises ValueError when the format version is not the one this code writes.
    """
    if data.get("format") != SIGNALS_FORMAT:
        raise ValueError(f"unsupported signals format {data.get('format')!r}")
    anchors = data["anchors"]
    return DocumentSignals(
        vector=_unpack(data["vector"], "<f4"),
        anchors=Anchors(
            numbers=frozenset(anchors["numbers"]),
            years=frozenset(anchors["years"]),
            percentages=frozenset(anchors["percentages"]),
            dates=frozenset(anchors["dates"]),
            entities=tuple(anchors["entities"]),
            skeletons=tuple(anchors["skeletons"]),
            quotes=tuple(anchors["quotes"]),
        ),
        language=data["language"],
        length=int(data["length"]),
        units=tuple(_unpack(unit, "<f2") for unit in data["units"]),
    )


def _pack(values: Sequence[float], dtype: str) -> str:
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode("ascii")


def _unpack(packed: str, dtype: str) -> tuple[float, ...]:
    return tuple(float(x) for x in np.frombuffer(base64.b64decode(packed), dtype=dtype))
