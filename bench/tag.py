"""Tagging throughput: language identification + topic tagging versus a bare multi-pattern scan.

Measured on the same documents in the same process and run:
- ours: `transforms.language.identify_language` on title + text (as the pipeline calls it) and
  `transforms.topics.tag_topics` with the compiled shipped taxonomy; also each part alone;
- baseline: a bare pyahocorasick automaton over the same terms (folded, stems as prefixes) that
  only finds occurrences in the case-folded text: no word boundaries, clitics, exclusions,
  evidence offsets or scoring.
Documents: the texts of the syndication dev set and the written documents of the topics dev set
(no HTML extraction in the timed loop). Each timed phase runs `--repeat` times; the fastest pass
counts. Memory: resident set size before and after the language model loads (VmRSS), and the
process high-water mark (VmHWM) at the end.

Prints one JSON line. Run: `.venv/bin/python bench/tag.py [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def load_documents() -> list[tuple[str | None, str]]:
    """(title, text) of every syndication dev document and every written topics dev document."""
    docs: list[tuple[str | None, str]] = []
    for line in (DATA / "syndication" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            docs.append((row.get("title"), row.get("text") or ""))
    for line in (DATA / "topics" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("ref") is None:
                docs.append((row.get("title"), row.get("text") or ""))
    return docs


def best_of(repeat: int, run: Callable[[], Any]) -> float:
    """Fastest wall time of `repeat` runs of `run`."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import ahocorasick

    from mediamon.taxonomy_file import load_compiled_taxonomy
    from transforms.language import identify_language
    from transforms.topics import fold_text, tag_topics

    docs = load_documents()
    rss_start = _status_kb("VmRSS")
    started = time.perf_counter()
    identify_language("warm-up: load the language model once")
    model_load_s = time.perf_counter() - started
    rss_model = _status_kb("VmRSS")

    compiled = load_compiled_taxonomy()
    automaton = ahocorasick.Automaton()
    for topic in compiled.taxonomy.topics:
        for term in (*topic.terms, *topic.exclusions):
            key = fold_text(term.text.replace("*", ""))
            automaton.add_word(key, (topic.id, term.text))
    automaton.make_automaton()

    def run_ours() -> int:
        tagged = 0
        for title, text in docs:
            guess = identify_language(f"{title or ''}\n{text}")
            tagged += bool(tag_topics(compiled, title=title, text=text, language=guess.language))
        return tagged

    def run_language() -> None:
        for title, text in docs:
            identify_language(f"{title or ''}\n{text}")

    def run_topics() -> None:
        for title, text in docs:
            tag_topics(compiled, title=title, text=text, language=None)

    def run_bare() -> int:
        found = 0
        for title, text in docs:
            for _ in automaton.iter(f"{title or ''}\n{text}".casefold()):
                found += 1
        return found

    ours = best_of(args.repeat, run_ours)
    language = best_of(args.repeat, run_language)
    topics = best_of(args.repeat, run_topics)
    bare = best_of(args.repeat, run_bare)
    n = len(docs)
    result = {
        "bench": "tag",
        "documents": n,
        "chars_per_document": round(sum(len(t or "") + len(x) for t, x in docs) / n),
        "ours_docs_per_s": round(n / ours, 1),
        "language_only_docs_per_s": round(n / language, 1),
        "topics_only_docs_per_s": round(n / topics, 1),
        "bare_ahocorasick_docs_per_s": round(n / bare, 1),
        "ratio_ours_vs_bare": round(bare / ours, 4),
        "ratio_topics_vs_bare": round(bare / topics, 4),
        "language_model_load_s": round(model_load_s, 3),
        "language_model_rss_mb": round((rss_model - rss_start) / 1024, 1),
        "peak_rss_mb": round(_status_kb("VmHWM") / 1024, 1),
        "terms": len(automaton),
        "repeat": args.repeat,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
