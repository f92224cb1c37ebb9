"""`mediamon eval stories`: null fields, --one-day, worst false merges, score script lookup.

Documents are real ones of the syndication dev set (the repository copy, `tests/fixtures.py`);
stores are SQLite and PostgreSQL (`database_url` fixture). Clustering runs without the encoder
(fast).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from connectors.store import Store
from connectors.story_audit import effective_times
from mediamon.cli import app
from mediamon.clustering import ClusteringOptions, assign_stories
from mediamon.commands.stories import format_worst_merges
from mediamon.evaluation import stories as evaluation
from mediamon.evaluation.stories import (
    evaluate_stories,
    find_score_script,
    load_labels,
    save_documents,
    synthetic_url,
    worst_merges,
)
from schemas import tables as t
from schemas.errors import ConfigError
from tests.mediamon.conftest import SCORE_NULL_DATES as SCORE

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
MONOLINGUAL = ClusteringOptions(crosslingual=False)
REPO = Path(__file__).resolve().parents[3]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def with_nulls(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Null url on every third document, title on every second, published_at on every fourth."""
    rows = []
    for index, document in enumerate(documents):
        row = dict(document)
        if index % 3 == 0:
            row["url"] = None
        if index % 2 == 0:
            row["title"] = None
        if index % 4 == 1:
            row["published_at"] = None
        rows.append(row)
    return rows


def test_eval_accepts_null_url_title_and_published_at(
    tmp_path: Path, database_url: str, dev_documents: list[dict[str, Any]]
) -> None:
    rows = with_nulls(dev_documents)
    gold = write_jsonl(tmp_path / "gold.jsonl", rows)
    predictions = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "stories",
            str(gold),
            "--predictions",
            str(predictions),
            "--score-script",
            str(SCORE),
            "--database-url",
            database_url,
            "--no-crosslingual",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pipeline"]["n_docs"] == len(rows)
    assert {json.loads(x)["id"] for x in predictions.read_text().splitlines()} == {
        r["id"] for r in rows
    }
    store = Store.open(database_url)
    with store.engine.connect() as conn:
        urls = set(conn.execute(select(t.articles.c.canonical_url)).scalars())
    store.dispose()
    nulled = [r for r in rows if r["url"] is None]
    assert {synthetic_url(r["outlet"], r["id"]) for r in nulled} <= urls
    assert all(".invalid/" in synthetic_url(r["outlet"], r["id"]) for r in nulled)


def test_synthetic_url_is_stable_and_unique_per_document() -> None:
    assert synthetic_url("sfgate-en", "d1") == synthetic_url("sfgate-en", "d1")
    assert synthetic_url("sfgate-en", "d1") != synthetic_url("sfgate-en", "d2")
    assert synthetic_url("x", "newstest:a/b:en") == "https://x.invalid/eval/newstest%3Aa%2Fb%3Aen"


def test_predictions_do_not_depend_on_the_labels(
    tmp_path: Path, dev_documents: list[dict[str, Any]]
) -> None:
    rows = with_nulls(dev_documents)
    scrambled = [
        {**r, "story": "s-wrong", "relation": "unrelated", "evidence": "x"} for r in reversed(rows)
    ]
    scrambled.reverse()
    first, second = tmp_path / "p1.jsonl", tmp_path / "p2.jsonl"
    for gold, out in ((rows, first), (scrambled, second)):
        evaluate_stories(
            write_jsonl(tmp_path / f"{out.stem}-gold.jsonl", gold),
            out,
            score_script=SCORE,
            now=NOW,
            options=MONOLINGUAL,
        )
    assert first.read_text() == second.read_text()


def test_one_day_files_every_article_under_one_moment(
    tmp_path: Path, database_url: str, dev_documents: list[dict[str, Any]]
) -> None:
    gold = write_jsonl(tmp_path / "gold.jsonl", dev_documents)
    seen: list[str] = []
    report = evaluate_stories(
        gold,
        tmp_path / "pred.jsonl",
        database_url=database_url,
        score_script=SCORE,
        now=NOW,
        options=MONOLINGUAL,
        one_day=True,
        on_progress=lambda stage, done, total: seen.append(f"{stage} {done}/{total}"),
    )
    assert report.one_day
    store = Store.open(database_url)
    with store.engine.connect() as conn:
        a = t.articles.c
        rows = conn.execute(select(a.id, a.published_at, a.first_seen_at, a.url)).all()
        filed = effective_times(conn, [r.id for r in rows])
    store.dispose()
    assert len(rows) == len(dev_documents)
    assert all(r.published_at is None for r in rows)
    assert {r.first_seen_at.replace(tzinfo=UTC) for r in rows} == {NOW}
    # The set carries dates in its URLs (/2019/11/20/): none of them may file an article elsewhere.
    assert any("/2019/" in d["url"] for d in dev_documents)
    assert set(filed) == {r.id for r in rows}
    assert set(filed.values()) == {NOW}
    assert f"save {len(dev_documents)}/{len(dev_documents)}" in seen
    assert f"cluster {len(rows)}/{len(rows)}" in seen


def test_without_one_day_articles_keep_their_own_days(
    tmp_path: Path, dev_documents: list[dict[str, Any]]
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    article_of = save_documents(store, dev_documents, now=NOW)
    assign_stories(store.engine, list(article_of.values()), now=NOW, options=MONOLINGUAL)
    with store.engine.connect() as conn:
        filed = effective_times(conn, article_of.values())
    store.dispose()
    assert len({moment.date() for moment in filed.values()}) > 1
    assert NOW not in filed.values()


def test_worst_merges_name_the_falsely_merged_documents(
    tmp_path: Path, dev_documents: list[dict[str, Any]]
) -> None:
    doobie = [d["id"] for d in dev_documents if d["story"] == "doobie-tour"][:3]
    cat = [d["id"] for d in dev_documents if d["story"] == "cat-found-nm"][:3]
    negative = next(d["id"] for d in dev_documents if d["story"] is None)
    assert len(doobie) == 3
    assert len(cat) == 3
    store = Store.open(f"sqlite:///{tmp_path / 'constructed.db'}")
    store.migrate()
    article_of = save_documents(store, dev_documents, now=NOW)
    # A prediction written by hand, no clustering: X = three doobie members and one cat member
    # (3 false pairs), Y = two cat members and a negative (2 false pairs), the rest unassigned.
    x = [*doobie, cat[0]]
    y = [*cat[1:], negative]
    predicted = {"story-x": x, "story-y": y}
    edges = [
        (doobie[0], doobie[1], "near", 0.9, {"kept": "true pair"}),
        (doobie[1], cat[0], "rewrite", 0.41, {"passage": "the wrong one"}),
        (cat[1], negative, "translation", 0.33, {"cosine": 0.61}),
        (cat[1], cat[2], "exact", 1.0, {}),
    ]
    with store.engine.begin() as conn:
        for story_id, members in predicted.items():
            conn.execute(
                t.stories.insert().values(
                    id=story_id,
                    origin_article_id=article_of[members[0]],
                    member_count=len(members),
                    updated_at=NOW,
                )
            )
            for doc_id in members:
                conn.execute(
                    t.story_members.insert().values(
                        article_id=article_of[doc_id],
                        story_id=story_id,
                        relation="origin" if doc_id == members[0] else "rewrite",
                        score=0.5,
                        matched_article_id=(
                            None if doc_id == members[0] else article_of[members[0]]
                        ),
                        evidence={},
                    )
                )
        for a, b, relation, score, evidence in edges:
            conn.execute(
                t.story_edges.insert().values(
                    article_id=article_of[a],
                    other_article_id=article_of[b],
                    relation=relation,
                    score=score,
                    evidence=evidence,
                )
            )
    gold = write_jsonl(tmp_path / "gold.jsonl", dev_documents)
    merges, total = worst_merges(store, dev_documents, article_of, load_labels(gold))
    store.dispose()
    assert total == 2
    assert [m.story_id for m in merges] == ["story-x", "story-y"]
    worst = merges[0]
    assert worst.false_pairs == 3
    assert {m.doc_id for m in worst.members} == set(x)
    assert {m.gold_story for m in worst.members} == {"doobie-tour", "cat-found-nm"}
    false_edges = [e for e in worst.edges if e.false]
    assert [(e.doc_id, e.other_doc_id) for e in false_edges] == [(doobie[1], cat[0])]
    assert false_edges[0].evidence == {"passage": "the wrong one"}
    assert [e.false for e in worst.edges if e.relation == "near"] == [False]
    second = merges[1]
    assert second.false_pairs == 2
    assert second.negatives == 1
    lines = format_worst_merges(merges, total)
    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    assert f"\n  {doobie[1]} ~ {cat[0]}: rewrite 0.410" in text
    assert "\n  stored edges joining different gold stories: 1 of 2 inside the story" in text
    assert '{"passage": "the wrong one"}' in text
    assert "(negative)" in text


def test_score_script_is_found_beside_the_set_or_in_shared_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fallbacks point at `../shared/data`; the repository's copies stand in for it here.
    monkeypatch.setattr(evaluation, "FALLBACK_SCORE_SCRIPTS", (SCORE, SCORE.parents[1] / "x.py"))
    gold = write_jsonl(tmp_path / "gold.jsonl", [])
    assert find_score_script(gold) == evaluation.FALLBACK_SCORE_SCRIPTS[0].resolve()
    beside = tmp_path / "score.py"
    beside.write_text("", "utf-8")
    assert find_score_script(gold) == beside.resolve()
    beside.unlink()
    monkeypatch.setattr(evaluation, "FALLBACK_SCORE_SCRIPTS", (tmp_path / "none" / "score.py",))
    with pytest.raises(ConfigError, match=r"no score\.py beside"):
        find_score_script(gold)


def test_a_missing_score_script_is_a_one_line_error(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "gold.jsonl", [])
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "mediamon"),
            "eval",
            "stories",
            str(gold),
            "--predictions",
            str(tmp_path / "p.jsonl"),
            "--score-script",
            str(tmp_path / "missing.py"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "400"},
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stdout
    assert "missing.py does not exist" in lines[0]
    assert "Traceback" not in completed.stderr
