"""`mediamon story ID`: the audit view of one story, on SQLite and PostgreSQL.

The store is filled with real documents of the syndication dev set (the repository copy in
`tests/resources/shared`, read at test time) and clustered without the encoder; the command
reads it back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.store import Store
from connectors.story_audit import memberships
from mediamon.cli import app
from mediamon.clustering import ClusteringOptions, assign_stories
from mediamon.evaluation.stories import save_documents

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
RUNNER = CliRunner()


@pytest.fixture
def clustered(database_url: str, dev_documents: list[dict[str, Any]]) -> dict[str, str]:
    """The cat-found-nm story's members saved and clustered; {document id: article id}."""
    documents = [d for d in dev_documents if d["story"] == "cat-found-nm"]
    assert len(documents) >= 3
    store = Store.open(database_url)
    article_of = save_documents(store, documents, now=NOW)
    assign_stories(
        store.engine,
        list(article_of.values()),
        now=NOW,
        options=ClusteringOptions(crosslingual=False),
    )
    store.dispose()
    return article_of


def story(database_url: str, *arguments: str) -> Any:
    return RUNNER.invoke(
        app, ["story", *arguments, "--database-url", database_url], env={"COLUMNS": "80"}
    )


def test_story_prints_every_member_with_lag_match_and_edge_evidence(
    database_url: str, clustered: dict[str, str]
) -> None:
    store = Store.open(database_url)
    with store.engine.connect() as conn:
        rows = memberships(conn, clustered.values())
    store.dispose()
    assert len({row.story_id for row in rows.values()}) == 1, "the story must be one story"
    origin = next(row for row in rows.values() if row.is_origin)
    copy = next(row for row in rows.values() if not row.is_origin)
    # By a copy's article id: the same story as by its story id.
    result = story(database_url, copy.article_id)
    assert result.exit_code == 0, result.output
    assert result.output == story(database_url, origin.story_id).output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), result.output
    assert lines[0] == f"story {origin.story_id}: {len(rows)} members"
    assert lines[1].startswith(f"origin {origin.article_id[:10]}")
    for article_id in clustered.values():
        assert article_id[:10] in result.output
    # dev.jsonl: the origin at 04:00:00, copies at 04:00:07 and 04:01:00.
    assert "lag +00:00:07" in result.output
    assert "lag +00:01:00" in result.output
    edge_lines = [line for line in lines if line.startswith("  edge ")]
    assert len(edge_lines) == len(rows) - 1
    assert all(": {" in line for line in edge_lines)


def test_story_json_carries_lags_and_admitting_edges(
    database_url: str, clustered: dict[str, str]
) -> None:
    result = story(database_url, next(iter(clustered.values())), "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    members = view["members"]
    assert {view["origin"]["article_id"], *(m["article_id"] for m in members)} == set(
        clustered.values()
    )
    assert view["origin"]["lag"] is None
    assert sorted(m["lag_seconds"] for m in members) == [7.0, 60.0]
    for member in members:
        edge = member["edge"]
        assert edge is not None
        assert {edge["article_id"], edge["other_article_id"]} == {
            member["article_id"],
            member["matched_article_id"],
        }
        assert edge["evidence"], "the stored evidence must be shown"


def test_story_by_unique_prefix(database_url: str, clustered: dict[str, str]) -> None:
    article_id = next(iter(clustered.values()))
    assert story(database_url, article_id[:10]).exit_code == 0


def test_unknown_story_is_a_one_line_error(database_url: str, clustered: dict[str, str]) -> None:
    result = story(database_url, "0" * 32)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: no story or article with id {'0' * 32}"]
    assert story(database_url, "not-an-id").exit_code == 1
