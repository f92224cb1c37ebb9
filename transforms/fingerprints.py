"""Fingerprints of an article's text for finding copies: exact hash, MinHash/LSH keys, passage keys.

Everything here is pure: the same title and text always give the same fingerprint, whatever the
process, machine or arrival order (MinHash uses a fixed seed; hashes are blake2b, never Python's
salted `hash`).

What a fingerprint holds, and why:
* `exact_hash`: sha256 of the normalised body. Normalisation removes what republishing changes
  without changing the story: Unicode forms (NFKC), case, punctuation, thousands separators and
  money units (`13,000` = `13 000`, `$5.9 million` = `$5.9m`), an agency dateline
  (`HAYWARD, Calif. (AP) — `), a byline line (`By Sfgate staff`, `Par la rédaction`) and a
  footer (`Read more: …`, `Fuente: …`, `Читайте также: …`).
* `band_keys`: LSH band keys of a MinHash signature over content-word 3-grams (stop words
  removed), for near copies (a paragraph dropped, two swapped, a sentence added).
* `passage_keys`: a deterministic sample of content-word 2-grams (those whose hash falls in one
  residue class), so a short rewrite or a 2-4 sentence excerpt inside a longer article shares
  keys with its source even when whole-document similarity is low. Sampling by hash value is
  consistent across documents: a 2-gram two documents share is sampled in both or in neither.
* `features`: per-sentence content-word hashes, enough to verify a candidate pair (resemblance,
  containment, passage density) without re-reading the text; serialised compactly.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasketch import MinHash

FEATURES_FORMAT = 1


@dataclass(frozen=True, slots=True)
class FingerprintOptions:
    """Parameters of the fingerprint; changing any of them invalidates stored fingerprints.

    `num_perm` / `bands` give rows = num_perm // bands per band; with 128 / 32 (4 rows) a pair
    with content-3-gram Jaccard 0.5 becomes a candidate with probability 0.87, at 0.3 with 0.23.
    `passage_modulus` keeps one content 2-gram in that many; `max_passage_keys` bounds the keys
    of a very long article (the smallest hashes are kept, which stays consistent across documents).
    """

    num_perm: int = 128
    bands: int = 32
    shingle_size: int = 3
    seed: int = 1
    passage_modulus: int = 3
    max_passage_keys: int = 160
    min_shingles: int = 4


DEFAULT_OPTIONS = FingerprintOptions()


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """What verification needs of one article: content-word hashes per sentence, and credits.

    `sentences` holds, for each body sentence, the 32-bit hashes of its content words (stop words
    and one-letter tokens removed, numbers normalised). `title` is the same for the title.
    `credits` are casefolded names the text credits as a source (`(AFP)`, `agence Sputnik`).
    `exact_hash` is the sha256 of the normalised body; `word_count` counts normalised body words.
    """

    exact_hash: str
    sentences: tuple[tuple[int, ...], ...]
    title: tuple[int, ...] = ()
    credits: tuple[str, ...] = ()
    word_count: int = 0

    @property
    def content(self) -> tuple[int, ...]:
        """All content-word hashes of the body, in order."""
        return tuple(token for sentence in self.sentences for token in sentence)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The fingerprint of one article text (see the module docstring)."""

    exact_hash: str
    minhash: tuple[int, ...]
    shingle_count: int
    band_keys: tuple[str, ...]
    passage_keys: tuple[str, ...]
    features: TextFeatures


# --- normalisation ---------------------------------------------------------------------------

_PARAGRAPHS = re.compile(r"\n\s*\n|\r\n\s*\r\n")
# An agency dateline opening the first paragraph: "CLEVELAND (AP) — ", "SANTA FE, N.M. (AP) — ",
# "VIENNA — ", "CLEVELAND, Ohio – ". Either an upper-case place or a parenthesised credit is
# required, so an ordinary sentence with a dash is left alone.
_DATELINE = re.compile(
    r"^\s*(?:"
    r"[^\W\d_][^\n()—–]{0,60}?\((?:[^\W\d_][\w .&-]{0,24})\)"
    r"|[A-ZÀ-ÖØ-ÞА-ЯЁ][A-ZÀ-ÖØ-ÞА-ЯЁ .'-]{2,40}(?:,\s*[\w. ]{1,25})?"
    r")\s*[—–-]{1,2}\s+"
)
_BYLINE = re.compile(
    r"^(?:by|from|par|avec|von|mit|por|de|di|da|con|от|автор|written by|source|sources)\b",
    re.IGNORECASE,
)
_FOOTER = re.compile(
    r"^(?:read more|read also|more:|related:|source:|sources:|this article (?:originally )?"
    r"appeared|originally published|lire aussi|lire la suite|à lire aussi|source :|fuente|"
    r"fonte|quelle|mehr zum thema|lesen sie auch|leggi anche|lee también|lea también|"
    r"читайте также|подробнее|источник|copyright|©|all rights reserved|follow us|"
    r"sign up|subscribe)",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://\S+|www\.\S+")
_WORD = re.compile(r"\w+")
# Thousands separators between digit groups: 13,000 / 13 000 / 13.000 / 13'000 -> 13000.
_THOUSANDS = re.compile(r"(?<=\d)[,.\u00a0\u202f\u2009' ](?=\d{3}(?!\d))")
# A decimal comma is a decimal point: 3,5 -> 3.5 (after thousands separators are gone).
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")
# Money and count units: "$5.9 million" / "$5.9m" / "5,9 millions" all become "5.9m".
_UNITS = re.compile(
    r"(?<=\d)\s*(millions?|millionen|milioni|millones|миллион\w*|mln|mn|m|billions?|bn|"
    r"milliards?|milliarden|miliardi|mil millones|миллиард\w*|mrd)\b",
    re.IGNORECASE,
)
_BILLION_WORDS = {
    "billion",
    "billions",
    "bn",
    "milliard",
    "milliards",
    "milliarden",
    "miliardi",
    "mil millones",
    "mrd",
}
_SENTENCE_END = re.compile(r"(?<=[.!?…؟])[\"'»”’)\]]*\s+|\n+")

# Function words of the languages the outlets publish in; removing them makes word n-grams
# robust to small rewordings and keeps the keys on facts and names.
_STOP_WORDS_BY_LANGUAGE = {
    "en": "a an and or of to in on for with at by from as is was were be been are that this it "
    "its his her their they he she we you i not but have has had will would said says say into "
    "than then there which who whom what when where also after before about over more most other "
    "some such no nor only own same so too very can could should may might must do does did just "
    "up out one two our us them him me my your these those if while all any each both being "
    "because during",
    "fr": "le la les l d des du un une et en à au aux pour par sur dans que qui qu est ont été "
    "sont se sa son ses leur leurs il elle ils elles ne pas plus avec ce cette ces ou mais comme "
    "selon y s n c j m t être avait lors dont où",
    "de": "der die das und zu den dem des ein eine einer eines einem im ist sind war nicht mit "
    "von auf für an als auch bei aus nach wie es sich sie er hat haben wird wurde werden noch nur "
    "am zum zur vor über um durch",
    "es": "el los las y del al con por para es su sus lo se no una unos unas ha han fue como más "
    "pero o sin sobre entre ya",
    "it": "il lo gli di da per con su tra fra che non è sono al alla della delle dei nel nella "
    "degli ai anche come ma più",
    "ru": "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только "
    "ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть "
    "был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть "
    "надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто "
    "этот",
    "ar": "من في على إلى عن أن مع هذا هذه التي الذي كان قد و ما لا",
}
_STOP_WORDS = frozenset(
    word for words in _STOP_WORDS_BY_LANGUAGE.values() for word in words.split()
)


def _digest32(value: str) -> int:
    """A stable 32-bit hash of a string (blake2b; Python's `hash` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=4).digest(), "big")


def strip_boilerplate(text: str) -> str:
    """Return the text without a leading dateline, byline paragraphs and trailing footers.

    Only short paragraphs at the very start or end are considered, so the body is never cut.
    """
    paragraphs = [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]
    # A byline is a short leading/trailing line without sentence punctuation ("By Sfgate staff").
    while paragraphs and _is_byline(paragraphs[0]):
        paragraphs.pop(0)
    while paragraphs and (_is_footer(paragraphs[-1]) or _is_byline(paragraphs[-1])):
        paragraphs.pop()
    if paragraphs:
        paragraphs[0] = _DATELINE.sub("", paragraphs[0], count=1)
    return "\n\n".join(paragraphs)


def _is_byline(paragraph: str) -> bool:
    words = paragraph.split()
    return (
        len(words) <= 6
        and not paragraph.rstrip().endswith((".", "!", "?"))
        and bool(_BYLINE.match(paragraph))
    )


def _is_footer(paragraph: str) -> bool:
    words = paragraph.split()
    if len(words) > 14:
        return False
    return bool(_FOOTER.match(paragraph) or _URL.search(paragraph))


def normalise_text(text: str) -> str:
    """Return the comparable form of a text: NFKC, casefolded, numbers unified, URLs removed.

    Punctuation is kept here (sentence splitting needs it); `tokenize_words` drops it.
    """
    value = unicodedata.normalize("NFKC", text)
    value = _URL.sub(" ", value)
    value = _THOUSANDS.sub("", value)
    value = _DECIMAL_COMMA.sub(".", value)
    value = _UNITS.sub(_unit_replacement, value)
    # Apostrophes and hyphens glue words differently from one outlet to the next.
    value = value.replace("’", "'").replace("‘", "'")
    return value.casefold()


def _unit_replacement(match: re.Match[str]) -> str:
    unit = match.group(1).casefold()
    if unit in _BILLION_WORDS or unit.startswith("миллиард"):
        return "bn"
    return "m"


def tokenize_words(normalised: str) -> list[str]:
    """Split normalised text into word tokens (letters, digits; decimals kept whole)."""
    return re.findall(r"\d+(?:\.\d+)+\w*|\w+", normalised)


def content_words(words: Iterable[str]) -> list[str]:
    """Keep the words that carry content: not a stop word, and longer than one letter."""
    return [w for w in words if w not in _STOP_WORDS and (len(w) > 1 or w.isdigit())]


def split_sentences(text: str) -> list[str]:
    """Split a text into sentences at . ! ? … and line breaks (language-agnostic, approximate)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


_CREDIT_PAREN = re.compile(r"\(([^\W\d_][\w .&-]{0,24})\)")
_CREDIT_PHRASE = re.compile(
    r"(?:agence|agency|agentur|agencia|agenzia|агентству|агентства|агентство|"
    r"according to|selon|laut|según|secondo|told|a déclaré à|a annoncé à l'agence(?: russe)?|"
    r"reported by|сообщает|сообщил)\s+(?:russe\s+|de presse\s+)?([^\W\d_][\w-]{1,24})",
    re.IGNORECASE,
)


def extract_credits(text: str) -> tuple[str, ...]:
    """Return casefolded names the text credits as its source: "(AFP)", "agence Sputnik", hosts.

    Linked hosts are given whole and by first label ("football.ua", "football").
    """
    head = text[:4000]
    found = {m.group(1).strip().casefold() for m in _CREDIT_PAREN.finditer(head)}
    found |= {m.group(1).strip().casefold() for m in _CREDIT_PHRASE.finditer(head)}
    # A link in the text ("Read more: https://techcrunch.com/...") credits the linked site.
    for match in _URL.finditer(text):
        host = re.sub(r"^(?:https?://)?(?:www\.)?", "", match.group(0)).split("/")[0].casefold()
        if "." in host:
            found |= {host, host.split(".")[0]}
    return tuple(sorted(name for name in found if len(name) >= 2))


def extract_features(title: str | None, text: str) -> TextFeatures:
    """Return the verification features of an article (see `TextFeatures`)."""
    body = strip_boilerplate(text)
    normalised = normalise_text(body)
    words = tokenize_words(normalised)
    sentences: list[tuple[int, ...]] = []
    for sentence in split_sentences(normalised):
        tokens = content_words(tokenize_words(sentence))
        if tokens:
            sentences.append(tuple(_digest32(w) for w in tokens))
    title_tokens = content_words(tokenize_words(normalise_text(title or "")))
    exact = hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()
    return TextFeatures(
        exact_hash=exact,
        sentences=tuple(sentences),
        title=tuple(_digest32(w) for w in title_tokens),
        credits=extract_credits(text),
        word_count=len(words),
    )


# --- MinHash and keys --------------------------------------------------------------------------


def shingles_of(tokens: Sequence[int], size: int) -> set[bytes]:
    """Return the set of `size`-grams of a token-hash sequence, each as 4*size bytes."""
    if len(tokens) < size:
        return {np.asarray(tokens, dtype=">u4").tobytes()} if tokens else set()
    array = np.asarray(tokens, dtype=">u4")
    return {array[i : i + size].tobytes() for i in range(len(tokens) - size + 1)}


def minhash_signature(shingles: Iterable[bytes], options: FingerprintOptions) -> tuple[int, ...]:
    """Return the MinHash signature (datasketch, fixed seed) of a set of byte shingles."""
    sketch = MinHash(num_perm=options.num_perm, seed=options.seed)
    sketch.update_batch(list(shingles))
    return tuple(int(v) for v in sketch.hashvalues)


def band_keys_for(signature: Sequence[int], options: FingerprintOptions) -> tuple[str, ...]:
    """Return one LSH key per band: f"b{band:02d}:{16 hex digits}" (fits a 64-char column)."""
    rows = options.num_perm // options.bands
    array = np.asarray(signature, dtype=">u8")
    keys = []
    for band in range(options.bands):
        chunk = array[band * rows : (band + 1) * rows].tobytes()
        keys.append(f"b{band:02d}:{hashlib.blake2b(chunk, digest_size=8).hexdigest()}")
    return tuple(keys)


def passage_keys_for(features: TextFeatures, options: FingerprintOptions) -> tuple[str, ...]:
    """Return sampled content-2-gram keys, f"p:{8 hex digits}", sorted and bounded."""
    content = features.content
    sampled: set[int] = set()
    for first, second in itertools.pairwise(content):
        value = _pair_hash(first, second)
        if value % options.passage_modulus == 0:
            sampled.add(value)
    kept = sorted(sampled)[: options.max_passage_keys]
    return tuple(f"p:{value:08x}" for value in kept)


def _pair_hash(first: int, second: int) -> int:
    # Mix two 32-bit hashes into one (a 64-bit multiply-xorshift, kept to 32 bits).
    value = (first * 0x9E3779B1 + second * 0x85EBCA77) & 0xFFFFFFFFFFFFFFFF
    value ^= value >> 29
    value = (value * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    return (value >> 32) & 0xFFFFFFFF


def fingerprint_article(
    title: str | None, text: str, options: FingerprintOptions = DEFAULT_OPTIONS
) -> Fingerprint:
    """Return the fingerprint of an article (pure; deterministic for a given title and text)."""
    features = extract_features(title, text)
    shingles = shingles_of(features.content, options.shingle_size)
    if len(shingles) >= options.min_shingles:
        signature = minhash_signature(shingles, options)
        bands = band_keys_for(signature, options)
    else:
        signature = minhash_signature(shingles, options) if shingles else ()
        bands = ()
    return Fingerprint(
        exact_hash=features.exact_hash,
        minhash=signature,
        shingle_count=len(shingles),
        band_keys=bands,
        passage_keys=passage_keys_for(features, options),
        features=features,
    )


# --- serialisation -----------------------------------------------------------------------------


def _pack_u32(values: Sequence[int]) -> str:
    return base64.b64encode(zlib.compress(np.asarray(values, dtype="<u4").tobytes(), 6)).decode()


def _unpack_u32(value: str) -> list[int]:
    raw = zlib.decompress(base64.b64decode(value))
    return [int(v) for v in np.frombuffer(raw, dtype="<u4")]


def serialise_features(features: TextFeatures) -> dict[str, Any]:
    """Return a compact JSON-able form of `features` (zlib + base64 of little-endian uint32)."""
    return {
        "v": FEATURES_FORMAT,
        "h": features.exact_hash,
        "t": _pack_u32([token for sentence in features.sentences for token in sentence]),
        "n": _pack_u32([len(sentence) for sentence in features.sentences]),
        "ti": _pack_u32(features.title),
        "c": list(features.credits),
        "w": features.word_count,
    }


def deserialise_features(data: dict[str, Any]) -> TextFeatures:
    """Inverse of `serialise_features`; raises ValueError on an unknown format version."""
    if data.get("v") != FEATURES_FORMAT:
        raise ValueError(f"unknown features format {data.get('v')!r}")
    tokens = _unpack_u32(data["t"])
    lengths = _unpack_u32(data["n"])
    sentences: list[tuple[int, ...]] = []
    position = 0
    for length in lengths:
        sentences.append(tuple(tokens[position : position + length]))
        position += length
    return TextFeatures(
        exact_hash=str(data["h"]),
        sentences=tuple(sentences),
        title=tuple(_unpack_u32(data["ti"])),
        credits=tuple(str(c) for c in data.get("c", ())),
        word_count=int(data.get("w", 0)),
    )


def serialise_minhash(signature: Sequence[int]) -> bytes:
    """Return the signature as little-endian uint64 bytes (8 bytes per permutation)."""
    return np.asarray(signature, dtype="<u8").tobytes()


def deserialise_minhash(value: bytes) -> tuple[int, ...]:
    """Inverse of `serialise_minhash`."""
    return tuple(int(v) for v in np.frombuffer(value, dtype="<u8"))
