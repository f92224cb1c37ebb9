"""Rebuild the bundled demo samples in `mediamon/samples/` from `../shared/data` (run by hand).

Copies a handful of real captured pages byte for byte (with their manifest rows, licence and source)
and the input fields of the labelled syndication set (never its labels) so the demo can serve
them as outlets on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

CAPTURES = (
    "pages/en/globalnews-ca__mc2020-1536545428.html",
    "pages/ar/arabic-sputniknews-com__mc2020-1550981615.html",
    "pages/ru/tass-ru__mc2020-1647262025.html",
    "pages/en/sputniknews-com__mc2020-1592175395.html",
    "pages/en/sputniknews-com__aeb-201911181077343476-royal-self-indicting.html",
    "pages/ar/arabic-cnn-com__goose3-cnn-arabic.html",
    "pages/en/rt-com__aeb-473849-3-morales-supporters-killed-boliv.html",
    "pages/en/aljazeera-com__aeb-service-members-killed-afghanistan-helic.html",
    "pages/de/winfuture-de__traf-winfuture-de-nasa.html",
)
INPUT_FIELDS = ("id", "outlet", "language", "published_at", "url", "title", "text")


def main(shared: Path, target: Path) -> None:
    """Copy the chosen captures and the syndication inputs into `target`."""
    manifest = {row["file"]: row for row in json.loads((shared / "manifest.json").read_text())}
    pages = target / "captures"
    if pages.exists():
        shutil.rmtree(pages)
    pages.mkdir(parents=True)
    rows = []
    for name in CAPTURES:
        row = manifest[name]
        shutil.copyfile(shared / name, pages / Path(name).name)
        rows.append(
            {
                key: row[key]
                for key in (
                    "file",
                    "repo",
                    "original_path",
                    "commit",
                    "license",
                    "language",
                    "outlet",
                    "url",
                    "encoding",
                    "sha256",
                )
            }
            | {"file": Path(name).name}
        )
    (target / "captures.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    with (
        (shared / "syndication" / "dev.jsonl").open(encoding="utf-8") as source,
        (target / "syndication.jsonl").open("w", encoding="utf-8") as out,
    ):
        for line in source:
            doc = json.loads(line)
            out.write(
                json.dumps({key: doc[key] for key in INPUT_FIELDS}, ensure_ascii=False) + "\n"
            )


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "data",
        root / "mediamon" / "samples",
    )
