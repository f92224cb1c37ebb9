"""Pages per second of our extraction versus bare trafilatura, same pages, same run.

Usage: `.venv/bin/python bench/extract.py [DATA_DIR] [--rounds N]`. Every page of the fixture set is
extracted by both, interleaved page by page (so a busy machine slows both alike), after a warm-up
round. Ours is `transforms.extraction.extract_article` (decoding, metadata, date fusion, canonical
URL, trafilatura); the baseline is `trafilatura.extract(body, url=..., output_format="json",
with_metadata=True)` with default options. Prints one JSON line with both rates and their ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import trafilatura

from schemas.errors import PermanentError
from schemas.records import RawPage
from transforms.extraction import extract_article

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def load_pages(root: Path, *, now: datetime) -> list[RawPage]:
    """Return every HTML page of the manifest as a RawPage (manifest URL, no HTTP charset)."""
    rows = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    pages = []
    for row in rows:
        if row.get("kind") != "page":
            continue
        url = row.get("url") or f"https://fixture.invalid/{row['file']}"
        pages.append(
            RawPage(
                url,
                url,
                200,
                (("content-type", "text/html"),),
                (root / row["file"]).read_bytes(),
                now,
            )
        )
    return pages


def run_ours(page: RawPage) -> None:
    """Extract one page with the pipeline's extraction (failures are results, not crashes)."""
    with contextlib.suppress(PermanentError):
        extract_article(page, None, now=page.fetched_at)


def run_bare(page: RawPage) -> None:
    """Extract one page with bare trafilatura defaults plus metadata."""
    trafilatura.extract(page.body, url=page.final_url, output_format="json", with_metadata=True)


def measure(pages: list[RawPage], rounds: int) -> dict[str, float | int]:
    """Time both extractors over `pages` `rounds` times, interleaved; return rates and ratio."""
    for page in pages[:20]:
        run_ours(page)
        run_bare(page)
    ours = bare = 0.0
    for _ in range(rounds):
        for page in pages:
            start = time.perf_counter()
            run_ours(page)
            middle = time.perf_counter()
            run_bare(page)
            ours += middle - start
            bare += time.perf_counter() - middle
    count = len(pages) * rounds
    ours_rate, bare_rate = count / ours, count / bare
    return {
        "pages": count,
        "ours_pages_per_s": round(ours_rate, 2),
        "bare_trafilatura_pages_per_s": round(bare_rate, 2),
        "ratio": round(ours_rate / bare_rate, 3),
    }


def main() -> None:
    """Parse arguments, run the benchmark, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    pages = load_pages(args.data.resolve(), now=datetime.now(UTC))
    print(json.dumps(measure(pages, args.rounds)))


if __name__ == "__main__":
    main()
