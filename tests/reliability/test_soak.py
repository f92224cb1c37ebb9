"""A short soak (bench/soak.py, 30 s): memory stays flat over repeated full ingest rounds in one
process, and the store and the index end consistent (every page once, one story each, index ==
store)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.mark.slow
def test_a_short_soak_keeps_memory_flat_and_counts_consistent(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_soak", SOAK)
    assert spec is not None
    assert spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["bench_soak"] = soak  # dataclasses look their module up by name
    spec.loader.exec_module(soak)
    result = soak.run_soak(30.0, tmp_path, outlet_count=24)
    print(result)
    assert result.rounds >= 2
    assert result.consistent, result
    assert result.rss_growth_mb < 40, result  # flat: no growth proportional to rounds
