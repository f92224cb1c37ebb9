"""Copy the fixtures the tests use from `../shared/data` into `tests/resources/shared` (by hand).

Usage: python infra/scripts/build_test_fixtures.py [SOURCE] [LIST]

LIST (default `tests/resources/shared/files.txt`) names one file a line, relative to SOURCE. Each
is copied byte for byte; a page also brings the expected files its manifest row lists. The
manifest written beside the copies keeps the source manifest's rows unchanged for pages, feeds and
sitemaps (so the folder is itself a valid dataset for the evaluation commands), and adds one row
per other file (ground truth, labelled sets, scorers) with its sha256 and the row or README it
comes from. `tests/test_fixtures.py` checks every file against it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "tests" / "resources" / "shared"
PROVENANCE_FIELDS = ("repo", "commit", "license", "original_path")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _readme_of(file: str) -> str:
    return f"{file.split('/', 1)[0]}/README.md"


def build(source: Path, wanted: list[str]) -> list[dict[str, Any]]:
    """Copy `wanted` (and the expected files of wanted pages); the manifest rows."""
    rows_by_file = {row["file"]: row for row in json.loads((source / "manifest.json").read_text())}
    files = set(wanted)
    for file in wanted:
        files.update(rows_by_file.get(file, {}).get("expected") or [])
    expected_of = {e: r for r in rows_by_file.values() for e in r.get("expected") or []}
    keep = {TARGET / "README.md", TARGET / "files.txt"}
    for old in sorted(TARGET.rglob("*"), reverse=True):
        if old.is_file() and old not in keep:
            old.unlink()
        elif old.is_dir() and not any(old.iterdir()):
            old.rmdir()
    manifest: list[dict[str, Any]] = []
    for file in sorted(files):
        if file.startswith(("syndication-real/", "translations/")) and not file.endswith(".py"):
            raise SystemExit(f"refusing to copy outlet texts: {file}")
        target = TARGET / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / file, target)
        digest = _sha256(target)
        if file in rows_by_file:
            row = rows_by_file[file]
            assert row["sha256"] == digest, file
            manifest.append(row)
            continue
        extra: dict[str, Any] = {"file": file, "sha256": digest, "bytes": target.stat().st_size}
        if file in expected_of:
            page = expected_of[file]
            extra["kind"] = "expected"
            extra.update({key: page[key] for key in PROVENANCE_FIELDS})
            extra["original_path"] = None
            extra["source"] = page["file"]
            extra["note"] = "ground truth shipped with the page's source repository (see that row)"
        else:
            extra["kind"] = "dataset"
            extra["source"] = _readme_of(file)
            extra["note"] = "provenance and licence in the source README named here"
        manifest.append(extra)
    (TARGET / "manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    listing = Path(sys.argv[2]) if len(sys.argv) > 2 else TARGET / "files.txt"
    wanted = [
        line.strip()
        for line in listing.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    manifest = build(source, wanted)
    size = sum(row["bytes"] for row in manifest)
    print(f"{len(manifest)} files, {size / 1e6:.1f} MB in {TARGET}")


if __name__ == "__main__":
    main()
