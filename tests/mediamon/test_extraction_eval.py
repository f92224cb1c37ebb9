"""The extraction evaluation: metric definitions, ground-truth loading and both commands.

Ground truth is loaded from the pinned fixtures (`tests/resources/shared`), which hold at least one
page of every ground-truth format; `mediamon eval extraction` keeps reading the full set by path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mediamon.commands.extraction import register
from mediamon.evaluation.extraction import (
    GroundTruth,
    Prediction,
    load_ground_truth,
    score_body,
    score_predictions,
    score_snippets,
    titles_match,
    tokenize,
)
from tests.fixtures import SHARED_DATA

DATA = SHARED_DATA

# One page per ground-truth format, so the commands are exercised on every reader.
SAMPLE = (
    "pages/de/derstandard-at__fundus-derstandard-2024-05-03.html",
    "pages/en/bbc-com__traf-bbc-com-52241221.html",
    "pages/en/asiapacificstar-com__mc2020-1493757507.html",
    "pages/ar/arabic-cnn-com__goose3-cnn-arabic.html",
    "pages/zh/china-chinadaily-com-cn__np4k-chinese-article-001.html",
)


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, Any]]:
    """The shared manifest (fails, never skips, when the data is missing)."""
    path = DATA / "manifest.json"
    assert path.is_file(), f"shared data missing: {path}"
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return rows


@pytest.fixture(scope="module")
def sample_set(manifest: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fixture set in the shared layout: five pages, their expected files, a manifest."""
    root = tmp_path_factory.mktemp("fixtures")
    rows = [row for row in manifest if row["file"] in SAMPLE]
    assert len(rows) == len(SAMPLE)
    for row in rows:
        for relative in [row["file"], *row["expected"]]:
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA / relative, target)
    (root / "manifest.json").write_text(json.dumps(rows), encoding="utf-8")
    return root


def _app() -> typer.Typer:
    app = typer.Typer()
    eval_app = typer.Typer()
    app.add_typer(eval_app, name="eval")
    register(app, eval_app)
    return app


# ------------------------------------------------------------------ metrics


def test_tokenize_splits_cjk_and_thai_into_characters() -> None:
    assert tokenize("中美合作") == ["中", "美", "合", "作"]
    assert tokenize("東京タワー") == ["東", "京", "タ", "ワ", "ー"]
    assert tokenize("The U.S. economy grew 1.1%") == ["the", "u", "s", "economy", "grew", "1", "1"]
    assert tokenize("Ärger im Büro") == ["ärger", "im", "büro"]
    assert tokenize("서울 뉴스") == ["서울", "뉴스"]
    assert len(tokenize("ศพลอยแม่น้ำโขง")) > 5


def test_body_scores_are_bag_of_token_overlaps() -> None:
    assert score_body("a b c", "a b c") == (1.0, 1.0, 1.0)
    precision, recall, f1 = score_body("a b c d", "a b")
    assert (precision, recall) == (0.5, 1.0)
    assert f1 == pytest.approx(2 / 3)
    assert score_body("", "a") == (0.0, 0.0, 0.0)
    # Repeated tokens count only as often as the reference has them.
    assert score_body("a a a a", "a b")[0] == 0.25


def test_snippets_must_and_must_not_occur() -> None:
    text = "The daily rise in deaths   announced.\n\nTop Stories"
    assert score_snippets(text, ["daily rise in deaths announced"], ["Top Stories"]) == (1, 2)
    assert score_snippets(text, ["missing"], ["absent"]) == (1, 2)


def test_title_match_is_normalised_equality_or_containment() -> None:
    assert titles_match("Coronavirus: New York ramps up", "coronavirus - new york ramps up") == (
        True,
        True,
    )
    assert titles_match("Headline", "Headline | Site") == (True, False)
    assert titles_match("Another story", "Headline") == (False, False)
    assert titles_match(None, "Headline") == (False, False)


def test_dates_compare_calendar_days_in_the_ground_truth_frame() -> None:
    truths = [
        GroundTruth("a", "r", None, date="2020-06-28"),
        GroundTruth("b", "r", None, date="2024-05-03 15:47:42.389000+00:00"),
        GroundTruth("c", "r", None, date="2024-05-03 23:30:00+00:00"),
    ]
    predictions = {
        "a": Prediction("a", "", None, "2020-06-28"),
        "b": Prediction("b", "", None, "2024-05-03", published_at="2024-05-03T15:47:42+00:00"),
        # Local day 2024-05-04 (UTC+2), but the truth fixes UTC where it is still 05-03.
        "c": Prediction("c", "", None, "2024-05-04", published_at="2024-05-03T23:30:00+00:00"),
    }
    summary = score_predictions(truths, predictions).overall.summary()
    assert summary["date_pages"] == 3
    assert summary["date_accuracy"] == 1.0
    wrong = {"a": Prediction("a", "", None, "2020-06-29")}
    assert score_predictions(truths[:1], wrong).overall.summary()["date_accuracy"] == 0.0


def test_missing_prediction_counts_as_failure() -> None:
    truth = GroundTruth("a", "r", None, body="some text", title="T", date="2020-01-01")
    summary = score_predictions([truth], {}).overall.summary()
    assert summary["failures"] == 1
    assert summary["body_f1"] == 0.0
    assert summary["title_match"] == 0.0
    assert summary["date_accuracy"] == 0.0


# ------------------------------------------------------------------ ground truth


def test_ground_truth_reads_every_format(manifest: list[dict[str, Any]]) -> None:
    truths = load_ground_truth(DATA)
    with_expected = [row for row in manifest if row["kind"] == "page" and row["expected"]]
    assert len(truths) == len(with_expected)
    # The pinned subset (tests/resources/shared/files.txt): 49 pages with ground truth of every
    # format; on the full shared set these are 120+ bodies, 50+ snippet lists, 200+ dates.
    assert sum(1 for t in truths if t.body) == 16
    assert sum(1 for t in truths if t.with_snippets) == 16
    assert sum(1 for t in truths if t.date) == 38
    assert sum(1 for t in truths if t.title) == 27
    by_file = {t.file: t for t in truths}
    fundus = by_file["pages/de/derstandard-at__fundus-derstandard-2024-05-03.html"]
    assert fundus.title == "Nach Kalifat-Rufen in Hamburg: Sind wir zu sanft zu Islamisten?"
    assert fundus.date is not None
    assert fundus.date.startswith("2024-05-03")
    assert by_file["pages/en/asiapacificstar-com__mc2020-1493757507.html"].date == "2020-01-13"


# ------------------------------------------------------------------ commands


def test_eval_extraction_command_reports_ours_next_to_bare_trafilatura(sample_set: Path) -> None:
    result = CliRunner().invoke(_app(), ["eval", "extraction", str(sample_set), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures) == {"mediamon", "trafilatura"}
    ours = figures["mediamon"]["overall"]
    assert ours["body_pages"] == 2
    assert ours["body_f1"] > 0.8
    assert ours["snippets"] == 6
    assert ours["date_pages"] == 4
    assert ours["title_pages"] == 3
    assert "flairNLP/fundus" in figures["mediamon"]["by_repo"]
    table = CliRunner().invoke(_app(), ["eval", "extraction", str(sample_set)])
    assert table.exit_code == 0
    assert "ALL" in table.output
    assert "adbar/htmldate" in table.output


def test_extract_command_writes_one_line_per_page(sample_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "predictions.jsonl"
    result = CliRunner().invoke(
        _app(), ["extract", "--manifest", str(sample_set / "manifest.json"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(SAMPLE)
    assert {row["file"] for row in rows} == set(SAMPLE)
    for row in rows:
        assert {"file", "text", "title", "date", "author", "language", "canonical_url"} <= set(row)
        assert row["date"] is None or len(row["date"]) == 10
    standard = next(row for row in rows if "derstandard" in row["file"])
    assert standard["date"] == "2024-05-03"
    assert standard["language"] == "de"
    assert standard["author"] == "Birgit Baumann; Anna Giulia Fink; Jan Michael Marchart"
