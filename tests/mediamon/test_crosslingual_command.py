"""`mediamon eval crosslingual` on the real syndication dev set."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from mediamon.commands.crosslingual import format_report, register
from tests.fixtures import SHARED_DATA

DEV = SHARED_DATA / "syndication" / "dev.jsonl"


@pytest.mark.slow
def test_eval_crosslingual_reports_recall_and_no_false_pairs_on_dev() -> None:
    assert DEV.is_file(), f"shared data missing: {DEV}"
    app, eval_app = typer.Typer(), typer.Typer()
    app.add_typer(eval_app, name="eval")
    register(app, eval_app)
    result = CliRunner().invoke(app, ["eval", "crosslingual", str(DEV), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["classes"]["translation-source"]["pairs"] == 10
    # Measured 1.0 / 0 at the chosen thresholds; the cosine-only baseline finds 0.6.
    assert report["totals"]["translation_source_recall"] >= 0.9
    assert report["totals"]["false_pairs_cross_language"] == 0
    assert report["totals"]["baseline_minhash_recall"] == 0.0

    summary = format_report(report)
    assert "translation recall: source pairs" in summary
    assert "translation-source" in summary
