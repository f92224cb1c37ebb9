"""Cost of cross-language signals per article, against the single-language pipeline's cost.

Measures, on the documents of the syndication dev set (same documents, same process, same run):
- baseline: the monolingual fingerprint of each article (`transforms.fingerprints.
  fingerprint_article`: normalisation, content words, MinHash, LSH bands, passage keys), and
  for reference datasketch MinHash over word 2-grams with 256 permutations;
- embedding: `transforms.embeddings.embed_documents_with_units` (multilingual USE v3: one unit
  per body sentence, up to 40), weights load timed apart from throughput; and, as the baseline
  of issue 14, the units the encoder read before sentence alignment (title plus up to 12
  paragraphs of at most 600 characters, 4,000 in all) encoded by the same encoder;
- anchors: `transforms.crosslingual.extract_anchors`;
- scoring: `score_crosslingual` (sentence alignment) over every pair, per pair.
Each timed phase runs `--repeat` times over the documents, phases interleaved, and keeps its
fastest pass; the 1-minute load average is printed because the machine is shared. Peak RSS is
the process high-water mark, read before the encoder loads and at the end.

Prints one JSON line. Run: `.venv/bin/python bench/embed.py [--repeat 3] [--path dev.jsonl]`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_PATH = ROOT / ".." / "shared" / "data" / "syndication" / "dev.jsonl"


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _datasketch_minhash(texts: list[str]) -> None:
    from datasketch import MinHash

    for text in texts:
        words = text.lower().split()
        sketch = MinHash(num_perm=256, seed=1)
        sketch.update_batch([f"{a} {b}".encode() for a, b in itertools.pairwise(words)])


def _paragraph_units(title: str | None, text: str) -> list[str]:
    """The units documents were encoded as before sentence alignment (the issue-14 baseline)."""
    units = [" ".join(title.split())] if title and title.strip() else []
    budget = 4000
    for paragraph in text.split("\n\n"):
        clean = " ".join(paragraph.split())
        if not clean:
            continue
        if len(units) >= 13 or budget <= 0:
            break
        piece = clean[: min(600, budget)]
        units.append(piece)
        budget -= len(piece)
    return units


def measure(path: Path, repeat: int) -> dict[str, Any]:
    """Run every phase and return the figures as a dict (see module docstring)."""
    from transforms import embeddings
    from transforms.crosslingual import DocumentSignals, extract_anchors, score_crosslingual
    from transforms.fingerprints import fingerprint_article

    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    documents = [(row.get("title"), row["text"]) for row in rows]
    languages = [row.get("language") for row in rows]
    count = len(documents)
    characters = sum(len(text) for _, text in documents)

    rss_before_model = _current_rss_mb()
    peak_before_model = _peak_rss_mb()
    started = time.perf_counter()
    embeddings.embed_document("warm-up", "Loading the encoder.")
    load_seconds = time.perf_counter() - started
    rss_after_model = _current_rss_mb()
    units_per_document = [len(embeddings.split_units(title, text)) for title, text in documents]

    # Phases interleave, so a machine shared with other jobs slows baseline and embedding alike;
    # each keeps its fastest pass.
    phases: dict[str, Callable[[], object]] = {
        "fingerprint": lambda: [fingerprint_article(title, text) for title, text in documents],
        "datasketch": lambda: _datasketch_minhash([text for _, text in documents]),
        "embed": lambda: embeddings.embed_documents_with_units(documents),
        "embed_paragraphs": lambda: embeddings._encode(
            [unit for title, text in documents for unit in _paragraph_units(title, text)]
        ),
        "anchors": lambda: [
            extract_anchors(title, text, language)
            for (title, text), language in zip(documents, languages, strict=True)
        ],
    }
    best = dict.fromkeys(phases, float("inf"))
    for _ in range(repeat):
        for name, run in phases.items():
            best[name] = min(best[name], _best_of(1, run))
    fingerprint_seconds, datasketch_seconds = best["fingerprint"], best["datasketch"]
    embed_seconds, anchor_seconds = best["embed"], best["anchors"]
    paragraph_seconds = best["embed_paragraphs"]
    vectors = embeddings.embed_documents_with_units(documents)
    signals = [
        DocumentSignals(
            vector=embedding.vector,
            anchors=extract_anchors(title, text, language),
            language=language,
            length=len(text),
            units=embedding.units,
        )
        for embedding, (title, text), language in zip(vectors, documents, languages, strict=True)
    ]
    pairs = list(itertools.combinations(signals, 2))
    started = time.perf_counter()
    for left, right in pairs:
        score_crosslingual(left, right)
    score_seconds = time.perf_counter() - started

    per_doc_fingerprint_ms = 1000 * fingerprint_seconds / count
    per_doc_embed_ms = 1000 * embed_seconds / count
    per_doc_anchor_ms = 1000 * anchor_seconds / count
    return {
        "bench": "embed",
        "documents": count,
        "mean_chars": round(characters / count),
        "mean_units": round(sum(units_per_document) / count, 2),
        "repeat": repeat,
        "encoder_threads": embeddings.ENCODER_THREADS,
        "model_load_s": round(load_seconds, 2),
        "embed_docs_per_s": round(count / embed_seconds, 1),
        "embed_ms_per_doc": round(per_doc_embed_ms, 2),
        "baseline_paragraph_units_ms_per_doc": round(1000 * paragraph_seconds / count, 2),
        "embed_ratio_vs_paragraph_units": round(embed_seconds / paragraph_seconds, 2),
        "anchors_ms_per_doc": round(per_doc_anchor_ms, 3),
        "score_us_per_pair": round(1e6 * score_seconds / len(pairs), 1),
        "baseline_fingerprint_ms_per_doc": round(per_doc_fingerprint_ms, 3),
        "baseline_datasketch_256_ms_per_doc": round(1000 * datasketch_seconds / count, 3),
        "added_cost_ratio_vs_fingerprint": round(
            (per_doc_embed_ms + per_doc_anchor_ms) / per_doc_fingerprint_ms, 1
        ),
        "added_cost_ratio_vs_datasketch_256": round(
            (per_doc_embed_ms + per_doc_anchor_ms) / (1000 * datasketch_seconds / count), 1
        ),
        "rss_before_model_mb": rss_before_model,
        "rss_after_model_mb": rss_after_model,
        "model_rss_mb": round(rss_after_model - rss_before_model, 1),
        "peak_rss_before_model_mb": peak_before_model,
        "peak_rss_mb": _peak_rss_mb(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    """Parse arguments, run the benchmark, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    print(json.dumps(measure(arguments.path, arguments.repeat)))


if __name__ == "__main__":
    main()
