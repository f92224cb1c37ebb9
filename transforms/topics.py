"""Explainable topic tagging: which taxonomy topics an article is about, and which words say so.

The taxonomy (`schemas.taxonomy`) is compiled once (`compile_taxonomy`) into per-language indexes of
normalised terms; `tag_topics` then scans a title and a body in one pass over their words.

Matching, designed for news in many scripts:
- text and terms go through the same folding: NFKD with combining marks dropped (accents, Arabic
  harakat and hamza seats, the dot of Turkish İ), case folding, Turkish dotless ı -> i, Arabic and
  Persian letter variants (ٱ -> ا, ى/ی -> ي, ک -> ك, ة/ۀ -> ه), tatweel and soft hyphens removed,
  zero-width non-joiner as a word break, typographic apostrophes -> `'`; a word that mixes Cyrillic
  and Latin letters has its minority lookalikes (а/a, е/e, о/o, р/p, с/c, ...) mapped to the
  majority script;
- words are letter runs that may contain apostrophes (Ukrainian хом'ячок); the parts before the
  first and after the last apostrophe are tried too (Turkish İdlib'de, English Syria's, French
  d'Idleb);
- Arabic-script words are also tried without the clitics و ف ب ل ك ال لل (وبإدلب, للسوريين),
  Hebrew words without the prefixes ו ה ב ל מ כ ש (באידליב);
- stems (`сири*`) cover inflection (Russian and Ukrainian cases, Turkish suffixes);
- Chinese/Japanese/Thai terms match as substrings;
- at each position the most specific pattern wins (more words, then longer literal text): an
  exclusion (`syrian hamster`, `syriac*`, `сириус*`) consumes its words so the shorter topic term
  inside it does not count.

Scoring follows the labelling rule "the topic is in the headline or at least one paragraph is
about it" (settings in `schemas.taxonomy.Scoring`): each body paragraph scores the sum of its
matches' weights (a match that is one short item of a list counts `list_weight` x its weight; an
overlong paragraph is scored in sentence-aligned chunks); matches spread over at least
`spread_min_share` of the paragraphs score `spread_weight` per paragraph; a title match scores
`title_weight` x its weight when the body comes back to the topic (`title_body_hits` matches) and
1 x otherwise; a topic is tagged when title + best body score reaches `threshold`. A child topic's
matches also count for its ancestors (unless it is a theme, `requires_parent`), and a tagged child
always tags its ancestors.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.records import TagEvidence, TopicTag
from schemas.taxonomy import ANY_LANGUAGE, Taxonomy, Term

TITLE = "title"
BODY = "body"

# Letters whose folding Unicode decomposition does not give (script variants of one letter).
_SPECIAL_FOLD = {
    "ı": "i",  # Turkish dotless i: "SURİYE"/"Suriye"/"suriye" typed on any keyboard
    "ٱ": "ا",  # alef wasla
    "ى": "ي",  # alef maqsura written for final yeh (Egyptian spelling)
    "ی": "ي",  # Persian yeh
    "ک": "ك",  # Persian keheh
    "ۀ": "ه",  # Persian heh with yeh above
    "ە": "ه",  # Kurdish/Persian ae
    "ة": "ه",  # taa marbuta: سورية and سوريه are both written
    "ـ": "",  # tatweel (kashida) stretches words
    "\u00ad": "",  # soft hyphen inside words
    "\u200b": "",  # zero-width space
    "\u200d": "",  # zero-width joiner
    "\ufeff": "",
    "\u200c": " ",  # zero-width non-joiner separates Persian suffixes (سوریه‌ای)
    "’": "'",
    "‘": "'",
    "ʼ": "'",
    "ʻ": "'",
    "`": "'",
    "´": "'",
    "＇": "'",
    "ʿ": "",  # ayn and hamza of scholarly transliteration: Maʿarrat, Idlibʾ
    "ʾ": "",
    "·": "",  # Chinese transliteration dot between name parts: 巴卜·哈瓦
    "・": "",
}

# Lowercase Cyrillic letters that look like Latin ones (and back).
_CYR_TO_LAT = dict(zip("аеорсухіјѕһԁӏ", "aeopcyxijshdl", strict=True))
_LAT_TO_CYR = {lat: cyr for cyr, lat in _CYR_TO_LAT.items()}

_LATIN = re.compile(r"[a-z]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# A word: letters (with the vowel signs of Indic scripts, which are not "alphanumeric"; the danda
# punctuation excluded), possibly joined by apostrophes.
_LETTER = r"(?:[^\W_]|[\u0900-\u0963\u0966-\u0dff])"
_WORD = re.compile(rf"{_LETTER}+(?:'{_LETTER}+)*")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n")
_LINE_BREAK = re.compile(r"\n")
_SUBSTRING_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")
# Between the words of a multi-word term only spaces, hyphens and apostrophes may stand, never
# sentence punctuation: "... in Syria. Hamsters ..." is not "Syrian hamster".
_PHRASE_GAP = re.compile(r"[\s'\-\u2010-\u2015]*")


def _arabic_clitics() -> tuple[str, ...]:
    """Proclitics that attach to Arabic words, longest first: و ف, ب ل ك, ال, and لل."""
    found: set[str] = set()
    for conj in ("", "و", "ف"):
        for prep in ("", "ب", "ل", "ك"):
            for article in ("", "ال"):
                found.add(conj + prep + article)
        found.add(conj + "لل")
    found.discard("")
    return tuple(sorted(found, key=len, reverse=True))


_CLITICS = _arabic_clitics()
_HEBREW_SCRIPT = re.compile(r"[\u0590-\u05ff]")
# Hebrew prefixes: ו and, ה the, ב in, ל to, מ from, כ as, ש that, and their usual pairs.
_HEBREW_CLITICS = (
    "וב",
    "ול",
    "ומ",
    "וה",
    "שב",
    "של",
    "שה",
    "מה",
    "כש",
    "ו",
    "ה",
    "ב",
    "ל",
    "מ",
    "כ",
    "ש",
)


def _fold_char(char: str) -> str:
    special = _SPECIAL_FOLD.get(char)
    if special is not None:
        return special
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = unicodedata.normalize("NFC", kept).casefold()
    return "".join(_SPECIAL_FOLD.get(c, c) for c in folded)


class _FoldTable(dict[int, str]):
    """A `str.translate` table that folds each character on first sight and remembers it."""

    def __missing__(self, code: int) -> str:
        value = _fold_char(chr(code))
        self[code] = value
        return value


# A process-wide memo of the pure `_fold_char`: it only ever caches, so results never depend on it.
_FOLD_TABLE = _FoldTable()


def fold_text(text: str) -> str:
    """Return `text` folded for matching (see the module docstring); pure and deterministic."""
    return text.translate(_FOLD_TABLE)


def _fold_offsets(text: str) -> list[int]:
    """For each character of `fold_text(text)`, the index of the source character it came from."""
    offsets: list[int] = []
    for index, char in enumerate(text):
        offsets.extend([index] * len(char.translate(_FOLD_TABLE)))
    return offsets


def _unmix_scripts(word: str) -> str:
    """Map Cyrillic/Latin lookalikes in a mixed-script word to the word's majority script."""
    if word.isascii() or not _CYRILLIC.search(word) or not _LATIN.search(word):
        return word
    latin = sum(1 for c in word if "a" <= c <= "z")
    cyrillic = sum(1 for c in word if "\u0400" <= c <= "\u04ff")
    if not latin or not cyrillic:
        return word
    table = _LAT_TO_CYR if cyrillic >= latin else _CYR_TO_LAT
    return "".join(table.get(c, c) for c in word)


def _word_forms(word: str) -> list[tuple[str, int]]:
    """Candidate forms of a folded word with their offset in it (apostrophe parts, clitics)."""
    forms = [(word, 0)]
    if word.isascii() and "'" not in word:
        return forms
    if "'" in word:
        head = word.split("'", 1)[0]
        tail_at = word.rfind("'") + 1
        forms.append((head, 0))
        forms.append((word[tail_at:], tail_at))
    if _ARABIC_SCRIPT.match(word):
        for clitic in _CLITICS:
            if word.startswith(clitic) and len(word) - len(clitic) >= 3:
                forms.append((word[len(clitic) :], len(clitic)))
    elif _HEBREW_SCRIPT.match(word):
        for clitic in _HEBREW_CLITICS:
            if word.startswith(clitic) and len(word) - len(clitic) >= 3:
                forms.append((word[len(clitic) :], len(clitic)))
    return forms


@dataclass(frozen=True, slots=True)
class _Pattern:
    topic: str
    term: str
    words: tuple[tuple[str, bool], ...]  # (folded word, is_stem)
    weight: float
    exclude: bool
    rank: tuple[int, int, int, int]
    lowercase_only: bool = False


@dataclass(slots=True)
class _Matcher:
    exact: dict[str, list[_Pattern]] = field(default_factory=lambda: defaultdict(list))
    stems: dict[str, list[_Pattern]] = field(default_factory=lambda: defaultdict(list))
    substrings: dict[str, list[_Pattern]] = field(default_factory=lambda: defaultdict(list))
    substring_regex: re.Pattern[str] | None = None
    heads: frozenset[str] = frozenset()  # first two letters of every first word: a cheap filter
    stem_lengths_by_head: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def add(self, pattern: _Pattern) -> None:
        if pattern.words[0][0] and _SUBSTRING_SCRIPT.search(pattern.words[0][0]):
            self.substrings[" ".join(w for w, _ in pattern.words)].append(pattern)
            return
        first, is_stem = pattern.words[0]
        (self.stems if is_stem else self.exact)[first].append(pattern)

    def freeze(self) -> None:
        self.heads = frozenset(w[:2] for w in (*self.exact, *self.stems))
        by_head: dict[str, set[int]] = defaultdict(set)
        for stem in self.stems:
            by_head[stem[:2]].add(len(stem))
        self.stem_lengths_by_head = {
            head: tuple(sorted(lengths, reverse=True)) for head, lengths in by_head.items()
        }
        if self.substrings:
            ordered = sorted(self.substrings, key=len, reverse=True)
            self.substring_regex = re.compile("|".join(re.escape(s) for s in ordered))


@dataclass(frozen=True, slots=True)
class CompiledTaxonomy:
    """A taxonomy as lookup tables; build with `compile_taxonomy`, reuse for every article."""

    taxonomy: Taxonomy
    matchers: dict[str, _Matcher]  # language -> matcher (its terms + "*" terms)
    union: _Matcher  # every language's terms, for unknown languages
    ancestors: dict[str, tuple[str, ...]]  # every ancestor: a tagged topic implies them
    counts_for: dict[str, tuple[str, ...]]  # ancestors that a match of the topic also counts for
    themes: frozenset[str]  # topics with requires_parent
    order: dict[str, int]

    def matcher_for(self, language: str | None) -> _Matcher:
        """The matcher for `language`, or the all-languages one when it has no terms of its own."""
        if language and language in self.matchers:
            return self.matchers[language]
        return self.union


def _compile_term(topic: str, term: Term, exclude: bool) -> _Pattern:
    words: list[tuple[str, bool]] = []
    for raw in term.words:
        is_stem = raw.endswith("*")
        folded = fold_text(raw.rstrip("*"))
        # A word of the term may fold into several words ("al-Hawa" -> "al", "hawa").
        parts = _WORD.findall(folded) if not _SUBSTRING_SCRIPT.search(folded) else [folded]
        if not parts:
            continue
        for part in parts[:-1]:
            words.append((_unmix_scripts(part), False))
        words.append((_unmix_scripts(parts[-1]), is_stem))
    if not words:
        raise ValueError(f"term {term.text!r} of topic {topic!r} has no letters")
    if words[0][1] and len(words[0][0]) < 2:
        raise ValueError(f"stem {term.text!r} of topic {topic!r} is shorter than two letters")
    literal = sum(len(w) for w, _ in words)
    exact_last = 0 if words[-1][1] else 1
    rank = (len(words), literal, exact_last, 1 if exclude else 0)
    return _Pattern(topic, term.text, tuple(words), term.weight, exclude, rank, term.lowercase_only)


def compile_taxonomy(taxonomy: Taxonomy) -> CompiledTaxonomy:
    """Precompile `taxonomy` for fast repeated tagging (one matcher per language plus a union).

    The matcher of language L holds, per topic, the topic's L terms and its shared (`*`) terms, or
    every term of the topic when it has none in L; and every exclusion of every language (an
    exclusion names one specific look-alike, harmless to look for in any text).
    """
    languages = sorted({t.language for topic in taxonomy.topics for t in topic.terms} - {"*"})
    matchers = {lang: _Matcher() for lang in languages}
    union = _Matcher()
    for topic in taxonomy.topics:
        terms = [(t.language, _compile_term(topic.id, t, exclude=False)) for t in topic.terms]
        exclusions = [_compile_term(topic.id, t, exclude=True) for t in topic.exclusions]
        own = {lang for lang, _ in terms}
        for pattern in (*(p for _, p in terms), *exclusions):
            union.add(pattern)
        for lang, matcher in matchers.items():
            for term_lang, pattern in terms:
                if lang not in own or term_lang in (lang, ANY_LANGUAGE):
                    matcher.add(pattern)
            for pattern in exclusions:
                matcher.add(pattern)
    for matcher in (*matchers.values(), union):
        matcher.freeze()
    ancestors = {t.id: taxonomy.ancestors(t.id) for t in taxonomy.topics}
    themes = frozenset(t.id for t in taxonomy.topics if t.requires_parent)
    counts_for: dict[str, tuple[str, ...]] = {}
    for topic in taxonomy.topics:
        chain: list[str] = []
        current = topic.id
        for ancestor in ancestors[topic.id]:
            if current in themes:
                break
            chain.append(ancestor)
            current = ancestor
        counts_for[topic.id] = tuple(chain)
    order = {t.id: i for i, t in enumerate(taxonomy.topics)}
    return CompiledTaxonomy(taxonomy, matchers, union, ancestors, counts_for, themes, order)


@dataclass(frozen=True, slots=True)
class _Hit:
    topic: str
    term: str
    start: int  # folded coordinates
    end: int
    weight: float
    lowercase_only: bool = False


def _word_matches(word: str, wanted: str, is_stem: bool) -> bool:
    for form, _ in _word_forms(word)[:3]:
        if form == wanted or (is_stem and form.startswith(wanted)):
            return True
    return False


def _scan_words(matcher: _Matcher, folded: str) -> list[_Hit]:
    words = [(m.start(), m.end(), _unmix_scripts(m.group())) for m in _WORD.finditer(folded)]
    hits: list[_Hit] = []
    index = 0
    while index < len(words):
        start, _, word = words[index]
        best: list[tuple[_Pattern, int, int]] = []  # pattern, start offset, last word index
        for form, offset in _word_forms(word):
            if form[:2] not in matcher.heads:
                continue
            candidates: list[_Pattern] = list(matcher.exact.get(form, ()))
            for length in matcher.stem_lengths_by_head.get(form[:2], ()):
                if length <= len(form):
                    candidates.extend(matcher.stems.get(form[:length], ()))
            for pattern in candidates:
                last = index
                for wanted, is_stem in pattern.words[1:]:
                    nxt = last + 1
                    if nxt >= len(words):
                        break
                    gap = folded[words[last][1] : words[nxt][0]]
                    if not _PHRASE_GAP.fullmatch(gap) or not _word_matches(
                        words[nxt][2], wanted, is_stem
                    ):
                        break
                    last = nxt
                else:
                    if best and pattern.rank < best[0][0].rank:
                        continue
                    if best and pattern.rank > best[0][0].rank:
                        best = []
                    best.append((pattern, offset, last))
        if not best:
            index += 1
            continue
        last = max(b[2] for b in best)
        if not any(p.exclude for p, _, _ in best):
            seen: set[str] = set()
            for pattern, offset, _ in best:
                if pattern.topic in seen:
                    continue
                seen.add(pattern.topic)
                end = words[last][1]
                hits.append(
                    _Hit(
                        pattern.topic,
                        pattern.term,
                        start + offset,
                        end,
                        pattern.weight,
                        pattern.lowercase_only,
                    )
                )
        index = last + 1
    return hits


def _scan_substrings(matcher: _Matcher, folded: str) -> list[_Hit]:
    if matcher.substring_regex is None or not _SUBSTRING_SCRIPT.search(folded):
        return []
    hits: list[_Hit] = []
    for match in matcher.substring_regex.finditer(folded):
        patterns = matcher.substrings[match.group()]
        if any(p.exclude for p in patterns):
            continue
        seen: set[str] = set()
        for pattern in patterns:
            if pattern.topic not in seen:
                seen.add(pattern.topic)
                hits.append(
                    _Hit(pattern.topic, pattern.term, match.start(), match.end(), pattern.weight)
                )
    return hits


@dataclass(frozen=True, slots=True)
class _FieldHit:
    topic: str
    evidence: TagEvidence
    paragraph: int  # -1 for the title


_SENTENCE_BOUNDARY = re.compile(r"[.!?](?=\s)|[\n。！？]")
_LIST_SEPARATOR = re.compile(r"(?<!\d)[,;](?!\d)|[،、؛]")


def _in_enumeration(text: str, begin: int, end: int) -> bool:
    """True when text[begin:end] is one short item of a list ("Iraq, Libya, Syria and Yemen").

    The sentence around it must have at least two list separators (, ; ، 、) and the item's own
    stretch between separators at most three words.
    """
    sentence_start = 0
    for match in _SENTENCE_BOUNDARY.finditer(text, max(0, begin - 400), begin):
        sentence_start = match.end()
    after = _SENTENCE_BOUNDARY.search(text, end, end + 400)
    sentence_end = after.start() if after else min(len(text), end + 400)
    separators = [m.start() for m in _LIST_SEPARATOR.finditer(text, sentence_start, sentence_end)]
    if len(separators) < 2:
        return False
    left = max((p + 1 for p in separators if p < begin), default=sentence_start)
    right = min((p for p in separators if p >= end), default=sentence_end)
    if left == sentence_start and right == sentence_end:
        return False
    return len(_WORD.findall(text[left:right])) <= 3


def _scan_field(
    matcher: _Matcher,
    text: str,
    field_name: str,
    paragraphs: Sequence[int],
    list_weight: float = 1.0,
) -> list[_FieldHit]:
    folded = fold_text(text)
    hits = _scan_words(matcher, folded) + _scan_substrings(matcher, folded)
    if not hits:
        return []
    offsets = _fold_offsets(text)
    result: list[_FieldHit] = []
    for hit in sorted(hits, key=lambda h: h.start):
        begin = offsets[hit.start]
        end = offsets[hit.end - 1] + 1
        if hit.lowercase_only and not _written_lowercase(text, begin, end):
            continue
        paragraph = -1 if field_name == TITLE else bisect.bisect_right(paragraphs, begin) - 1
        weight = hit.weight
        if list_weight != 1.0 and _in_enumeration(text, begin, end):
            weight *= list_weight
        evidence = TagEvidence(hit.term, text[begin:end], field_name, begin, weight)
        result.append(_FieldHit(hit.topic, evidence, paragraph))
    return result


_SENTENCE_END = frozenset('.!?…:;"«»“”„\n-–—')


def _written_lowercase(text: str, begin: int, end: int) -> bool:
    """True when text[begin:end] is lower case, or capitalised only as a sentence start/all caps."""
    surface = text[begin:end]
    if surface == surface.lower() or surface.isupper():
        return True
    before = text[:begin].rstrip()
    return not before or before[-1] in _SENTENCE_END


#: Paragraphs longer than this (characters) are scored in sentence-aligned chunks.
LONG_PARAGRAPH = 1500
_CHUNK = 800


def split_paragraphs(text: str) -> list[int]:
    """Return the start offsets of the paragraphs of `text` (blank-line separated, else lines).

    A paragraph longer than `LONG_PARAGRAPH` characters (a text extracted without its paragraph
    breaks) is cut at sentence ends into chunks of about 800 characters, so that two passing
    mentions far apart in a wall of text do not make "a paragraph about" the topic.
    """
    pattern = _PARAGRAPH_BREAK if _PARAGRAPH_BREAK.search(text) else _LINE_BREAK
    starts = [0, *(m.end() for m in pattern.finditer(text))]
    ends = [*starts[1:], len(text)]
    result: list[int] = []
    for start, end in zip(starts, ends, strict=True):
        result.append(start)
        if end - start <= LONG_PARAGRAPH:
            continue
        chunk_start = start
        for match in _SENTENCE_BOUNDARY.finditer(text, start, end):
            if match.end() - chunk_start >= _CHUNK and end - match.end() >= _CHUNK // 2:
                chunk_start = match.end()
                result.append(chunk_start)
    return result


def _score(hits: Iterable[_FieldHit], taxonomy: Taxonomy, paragraph_count: int) -> float:
    scoring = taxonomy.scoring
    title = 0.0
    body_hits = 0
    paragraphs: dict[int, float] = defaultdict(float)
    seen: set[tuple[int, str]] = set()
    for hit in hits:
        weight = hit.evidence.weight
        if hit.paragraph < 0:
            title = max(title, weight)
            continue
        body_hits += 1
        key = (hit.paragraph, hit.evidence.matched.casefold())
        paragraphs[hit.paragraph] += weight if key not in seen else weight * scoring.repeat_weight
        seen.add(key)
    # A headline mention counts double only when the body comes back to the topic (or there is
    # no body): "Student from Idlib wins the olympiad" names a home town once in the text too.
    if body_hits >= scoring.title_body_hits or paragraph_count == 0:
        title *= scoring.title_weight
    body = max(paragraphs.values(), default=0.0)
    if len(paragraphs) >= scoring.spread_min_share * paragraph_count:
        body = max(body, scoring.spread_weight * len(paragraphs))
    return title + body


def tag_topics(
    taxonomy: Taxonomy | CompiledTaxonomy,
    *,
    title: str | None,
    text: str,
    language: str | None,
) -> tuple[TopicTag, ...]:
    """Return the topics `title` + `text` are about, each with its score and evidence.

    `language` (ISO 639-1, from language identification) selects that language's terms plus the
    shared ones; None or a language without terms uses every language's terms. Tags come in
    taxonomy order; every tagged child comes with its ancestors; evidence is ordered title first,
    then by position. Pass a `CompiledTaxonomy` when tagging many articles.
    """
    compiled = taxonomy if isinstance(taxonomy, CompiledTaxonomy) else compile_taxonomy(taxonomy)
    matcher = compiled.matcher_for(language)
    hits: list[_FieldHit] = []
    paragraphs = split_paragraphs(text) if text else []
    list_weight = compiled.taxonomy.scoring.list_weight
    if title:
        hits.extend(_scan_field(matcher, title, TITLE, [0], list_weight))
    if text:
        hits.extend(_scan_field(matcher, text, BODY, paragraphs, list_weight))
    if not hits:
        return ()
    by_topic: dict[str, list[_FieldHit]] = defaultdict(list)
    for hit in hits:
        by_topic[hit.topic].append(hit)
        for ancestor in compiled.counts_for.get(hit.topic, ()):
            by_topic[ancestor].append(hit)
    scoring = compiled.taxonomy.scoring
    tagged: dict[str, float] = {}
    # Taxonomy order puts parents first, so a theme sees whether its parent is tagged.
    for topic in sorted(by_topic, key=lambda t: compiled.order.get(t, len(compiled.order))):
        topic_hits = by_topic[topic]
        if topic in compiled.themes and compiled.ancestors[topic][0] not in tagged:
            continue
        score = _score(topic_hits, compiled.taxonomy, len(paragraphs))
        if score >= scoring.threshold and len(topic_hits) >= scoring.min_hits:
            tagged[topic] = score
    for topic in list(tagged):
        for ancestor in compiled.ancestors.get(topic, ()):
            tagged.setdefault(
                ancestor, _score(by_topic[ancestor], compiled.taxonomy, len(paragraphs))
            )
    tags = []
    for topic in sorted(tagged, key=lambda t: compiled.order.get(t, len(compiled.order))):
        evidence = sorted(
            (h.evidence for h in by_topic[topic]),
            key=lambda e: (e.field != TITLE, e.position),
        )
        tags.append(TopicTag(topic, round(tagged[topic], 3), tuple(evidence)))
    return tuple(tags)


def format_tag_explanation(tags: Sequence[TopicTag]) -> str:
    """Render why each tag was given: topic, score, then each matched term with field and offset."""
    if not tags:
        return "no topic tags"
    lines: list[str] = []
    for tag in tags:
        lines.append(f"{tag.topic}  score={tag.score:g}  ({len(tag.evidence)} matches)")
        for ev in tag.evidence:
            lines.append(
                f"  - {ev.field}@{ev.position}: {ev.matched!r} <- term {ev.term!r}"
                f" (weight {ev.weight:g})"
            )
    return "\n".join(lines)
