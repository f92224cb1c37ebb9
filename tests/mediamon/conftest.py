"""The labelled syndication dev set, read at test time (never copied into the repository)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures import SHARED_DATA

DATA = SHARED_DATA / "syndication"
DEV = DATA / "dev.jsonl"
# The syndication-real scorer is the syndication one that also accepts null dates.
SCORE_NULL_DATES = DATA.parent / "syndication-real" / "score.py"
# Two stories with copies (one with an exact copy 7 s after its origin), and same-week negatives.
STORIES = ("cat-found-nm", "doobie-tour")
NEGATIVES = ("dfc49dd", "d1e6660", "d8a305d", "d57da10")


@pytest.fixture(scope="module")
def dev_documents() -> list[dict[str, Any]]:
    """The two stories' members and four negatives of the dev set, in file order."""
    assert DEV.exists(), f"labelled set missing: {DEV}"
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    chosen = [r for r in rows if r["story"] in STORIES and r["relation"] != "translation"]
    chosen += [r for r in rows if r["id"] in NEGATIVES]
    assert len(chosen) >= 8, "the dev set no longer has the documents these tests use"
    return chosen
