"""Fixtures shared by the transform tests: the labelled syndication set, read once per module."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures import SHARED_DATA

DEV = SHARED_DATA / "syndication" / "dev.jsonl"


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    """The syndication dev set by id (its absence fails the test, never skips it)."""
    assert DEV.exists(), f"labelled set missing: {DEV}"
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    return {row["id"]: row for row in rows}
