"""Write a reproducible sample of a translations set for `mediamon eval stories`.

usage: python infra/scripts/translation_sample.py SET.jsonl OUT.jsonl [--stories 40]
                                          [--languages en de fr ...]

Keeps the first `--stories` stories in the order of sha256 of their story key, and in each one
document per listed language (the origin or a human translation); `url` is nulled as in the
source sets. The closing note of issue 14 evaluates two such samples of NTREX-128:
A = en de fr es it pt ru ar zh ja ko tr pl nl th (the encoder's languages),
B = en cs uk hi sw el fi hu vi he fa id bg ro sv (outside it but English).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ENCODER_LANGUAGES = [
    "en",
    "de",
    "fr",
    "es",
    "it",
    "pt",
    "ru",
    "ar",
    "zh",
    "ja",
    "ko",
    "tr",
    "pl",
    "nl",
    "th",
]


def main() -> None:
    """Parse arguments, write the sample, print how many documents it holds."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--stories", type=int, default=40)
    parser.add_argument("--languages", nargs="+", default=ENCODER_LANGUAGES)
    arguments = parser.parse_args()
    with arguments.source.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    stories = sorted(
        {row["story"] for row in rows}, key=lambda s: hashlib.sha256(s.encode()).hexdigest()
    )[: arguments.stories]
    chosen = set(stories)
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        key = (row["story"], row["language"])
        wanted = row["story"] in chosen and row["language"] in arguments.languages
        if wanted and key not in seen and row["relation"] in ("origin", "translation"):
            seen.add(key)
            kept.append({**row, "url": None})
    with arguments.out.open("w", encoding="utf-8") as handle:
        for row in kept:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(kept)} documents, {len(stories)} stories -> {arguments.out}")


if __name__ == "__main__":
    main()
