"""The fixtures in the repository are the pinned copies their manifest says, byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.fixtures import SHARED_DATA

UNLISTED = {"manifest.json", "README.md", "files.txt"}


def _manifest() -> dict[str, dict[str, object]]:
    rows = json.loads((SHARED_DATA / "manifest.json").read_text(encoding="utf-8"))
    return {str(row["file"]): row for row in rows}


def test_every_fixture_matches_its_manifest_sha256() -> None:
    manifest = _manifest()
    for file, row in manifest.items():
        body = (SHARED_DATA / file).read_bytes()
        assert hashlib.sha256(body).hexdigest() == row["sha256"], f"{file} differs from its copy"


def test_every_fixture_is_listed_with_its_provenance() -> None:
    manifest = _manifest()
    on_disk = {
        p.relative_to(SHARED_DATA).as_posix()
        for p in SHARED_DATA.rglob("*")
        if p.is_file() and p.relative_to(SHARED_DATA).as_posix() not in UNLISTED
    }
    assert on_disk == set(manifest)
    for file, row in manifest.items():
        if row["kind"] == "dataset":
            if file.startswith("syndication-real/"):
                continue
            assert (SHARED_DATA / str(row["source"])).is_file(), file
        else:
            assert row["repo"], file
            assert row["commit"], file
            assert row["license"], file


def test_no_outlet_texts_of_the_restricted_sets() -> None:
    assert not (SHARED_DATA / "translations").exists()
    assert [p.name for p in (SHARED_DATA / "syndication-real").iterdir()] == ["score.py"]


def test_the_pinned_list_is_what_was_copied() -> None:
    listed = {
        line.strip()
        for line in (SHARED_DATA / "files.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed <= set(_manifest())
    assert Path(SHARED_DATA).is_relative_to(Path(__file__).resolve().parent)
