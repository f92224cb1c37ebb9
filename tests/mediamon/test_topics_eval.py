"""`mediamon eval topics`: reads the gold format, extracts pages, scores labels and languages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mediamon.commands.topics import register
from mediamon.evaluation.topics import (
    DocumentPrediction,
    read_gold,
    resolve_inputs,
    score_predictions,
    tag_naive,
)
from tests.fixtures import SHARED_DATA

DATA = SHARED_DATA
GOLD = DATA / "topics" / "dev.jsonl"
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _subset(tmp_path: Path) -> Path:
    """A small gold file: some pages (a Syria one), syndication and written documents."""
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines()]
    pages = [r for r in rows if r["ref"] and "file" in r["ref"]]
    chosen = [r for r in pages if r["labels"]][:1] + [r for r in pages if not r["labels"]][:2]
    chosen += [r for r in rows if r["ref"] and "syndication_id" in r["ref"]][:3]
    chosen += [r for r in rows if r["ref"] is None and r["labels"]][:2]
    chosen += [r for r in rows if r["ref"] is None and not r["labels"]][:2]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen), "utf-8")
    return path


def test_eval_topics_command_prints_scores_and_writes_predictions(tmp_path: Path) -> None:
    gold = _subset(tmp_path)
    app, eval_app = typer.Typer(), typer.Typer()
    app.add_typer(eval_app, name="eval")
    register(app, eval_app)
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "topics",
            str(gold),
            "--dataset",
            str(DATA),
            "--syndication",
            str(DATA / "syndication" / "dev.jsonl"),
            "--predictions",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "naive baseline" in result.output
    assert "pipeline" in result.output
    assert "made_by=original" in result.output
    assert "made_by=written" in result.output
    assert "title alone" in result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    gold_rows = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [row["id"] for row in gold_rows]
    assert all(set(line) == {"id", "labels", "language"} for line in lines)
    by_id = {line["id"]: line for line in lines}
    for row in gold_rows:
        assert set(by_id[row["id"]]["labels"]) == set(row["labels"]), row["id"]
        assert by_id[row["id"]]["language"] == row["language"], row["id"]


def test_eval_topics_json_output(tmp_path: Path) -> None:
    gold = _subset(tmp_path)
    app, eval_app = typer.Typer(), typer.Typer()
    app.add_typer(eval_app, name="eval")
    register(app, eval_app)
    syndication = str(DATA / "syndication" / "dev.jsonl")
    args = ["eval", "topics", str(gold), "--dataset", str(DATA), "--syndication", syndication]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["documents"] == 10
    assert report["labels"]["pipeline"]["all"]["syria"]["fn"] == 0
    assert report["language"]["text"]["total"] == 10


def test_scoring_applies_the_implication_and_counts_missing_documents(tmp_path: Path) -> None:
    gold_path = tmp_path / "gold.jsonl"
    rows = [
        {
            "ref": None,
            "id": "a",
            "language": "en",
            "title": "t",
            "text": "x",
            "labels": ["syria", "syria/idlib"],
            "made_by": "written",
        },
        {
            "ref": None,
            "id": "b",
            "language": "fr",
            "title": "t",
            "text": "x",
            "labels": [],
            "made_by": "written",
        },
        {
            "ref": None,
            "id": "c",
            "language": "de",
            "title": "t",
            "text": "x",
            "labels": ["syria"],
            "made_by": "original",
        },
    ]
    gold_path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    gold = read_gold(gold_path)
    predictions = [
        DocumentPrediction("a", ("syria/idlib",), "en", "en", "en", ("syria",), True),
        DocumentPrediction("b", ("syria",), "en", "fr", "fr", ("syria",), True),
    ]
    report = score_predictions(gold, predictions)
    syria = report.labels["pipeline"]["all"]["syria"]
    assert (syria.tp, syria.fp, syria.fn) == (1, 1, 1)  # idlib implies syria; c is missing
    idlib = report.labels["pipeline"]["all"]["syria/idlib"]
    assert (idlib.tp, idlib.fp, idlib.fn) == (1, 0, 0)
    assert report.labels["pipeline"]["made_by=original"]["syria"].fn == 1
    assert report.language["text"].correct == 1
    assert report.language["text"].total == 3
    baseline = report.labels["naive baseline"]["all"]["syria/idlib"]
    assert (baseline.tp, baseline.fn) == (0, 1)


def test_tagger_inputs_ignore_note_and_made_by(tmp_path: Path) -> None:
    row: dict[str, object] = {
        "ref": None,
        "id": "w",
        "language": "en",
        "title": "Idlib",
        "text": "Syria.",
        "labels": [],
        "note": "Idlib positive",
        "made_by": "written",
    }
    other = dict(row, note="something else entirely", made_by="original")
    paths = []
    for i, r in enumerate((row, other)):
        path = tmp_path / f"g{i}.jsonl"
        path.write_text(json.dumps(r) + "\n", "utf-8")
        paths.append(path)
    inputs = [resolve_inputs(read_gold(p), dataset=DATA, syndication={}, now=NOW) for p in paths]
    assert inputs[0] == inputs[1]


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Syrian hamsters", "", ("syria",)),
        (None, "В Идлибе", ("syria", "syria/idlib")),
        ("Weather", "Rain tomorrow.", ()),
    ],
)
def test_naive_baseline_matches_any_mention(
    title: str | None, text: str, expected: tuple[str, ...]
) -> None:
    assert tag_naive(title, text) == expected


def test_tag_command_explains_each_tag(tmp_path: Path) -> None:
    app, eval_app = typer.Typer(), typer.Typer()
    app.add_typer(eval_app, name="eval")
    register(app, eval_app)
    body = tmp_path / "article.txt"
    body.write_text(
        "Российские и турецкие военные провели патрулирование в провинции Идлиб.\n\n"
        "Колонна прошла через Идлибскую провинцию до Саракиба.",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["tag", str(body), "--title", "Патруль в Идлибе"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("language: ru")
    assert "syria/idlib" in result.output
    assert "title@10: 'Идлибе' <- term 'идлиб*'" in result.output
