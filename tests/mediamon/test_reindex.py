"""Re-indexing from the store: idempotent ranges, recovery after the search server dies mid-run,
and a schema rollout that swaps the aliases atomically (real SQLite store, real local server)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.index import fill_store, load_syndication
from connectors.localsearch import LocalSearchServer, free_port, start_local_search
from connectors.search import BulkOutcome, IndexAction, SearchIndex, SearchSettings
from connectors.store import Store
from mediamon.reindex import catch_up, index_version, reindex_range, rollout
from mediamon.services import Services
from mediamon.settings import load_settings
from mediamon.stages import index_pending
from schemas.index import SCHEMA_VERSION, articles_alias, stories_alias
from tests.fixtures import SHARED_DATA

NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def filled_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dev syndication set saved, tagged and clustered once; tests work on copies."""
    path = tmp_path_factory.mktemp("reindex") / "filled.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    store.migrate()
    fill_store(
        store,
        load_syndication(SHARED_DATA / "syndication" / "dev.jsonl"),
        now=NOW,
        crosslingual=False,
    )
    store.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@dataclass
class Setup:
    services: Services
    store: Store
    search: SearchIndex


def _setup(filled: Path, work: Path, url: str, prefix: str) -> Setup:
    copy = work / "store.sqlite3"
    shutil.copy(filled, copy)
    store = Store.open(f"sqlite:///{copy}")
    search = SearchIndex(SearchSettings(url=url, prefix=prefix, request_timeout=5))
    return Setup(Services(load_settings({}, data_dir=work), store, search), store, search)


@pytest.fixture
def setup(
    filled_store_file: Path, tmp_path: Path, search_server: LocalSearchServer, search_prefix: str
) -> Iterator[Setup]:
    made = _setup(filled_store_file, tmp_path, search_server.url, search_prefix)
    yield made
    made.search.close()
    made.store.dispose()


def _snapshot(search: SearchIndex) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every document behind both aliases: id -> (index, source)."""
    search.refresh()
    out = {}
    for alias in (articles_alias(search.prefix), stories_alias(search.prefix)):
        body = {"size": 1000, "query": {"match_all": {}}}
        for hit in search.search(alias, body)["hits"]["hits"]:
            out[f"{alias}/{hit['_id']}"] = (hit["_index"], hit["_source"])
    return out


def test_reindexing_the_same_range_changes_nothing(setup: Setup) -> None:
    first = index_pending(setup.services)
    assert not first.errors
    before = _snapshot(setup.search)
    articles = setup.store.counts()["articles"]
    assert setup.search.count_articles() == articles == 67
    assert setup.search.count_stories() == setup.store.counts()["stories"]

    start, end = datetime(2018, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)
    in_range = len(setup.store.article_ids(published_from=start, published_to=end))
    assert 0 < in_range < articles
    for _ in range(2):
        report = reindex_range(setup.services, start, end)
        assert not report.errors
        assert report.counts["articles_reset"] == in_range
        assert report.counts["articles_indexed"] == in_range
        assert setup.store.pending_article_ids() == []
        assert _snapshot(setup.search) == before


class _DyingIndex(SearchIndex):
    """The real connector; the server is killed (SIGKILL) right after the first bulk call."""

    def __init__(self, settings: SearchSettings, server: LocalSearchServer) -> None:
        super().__init__(settings)
        self.server = server
        self.calls = 0

    def bulk(self, actions: Sequence[IndexAction]) -> BulkOutcome:
        self.calls += 1
        outcome = super().bulk(actions)
        if self.calls == 1:
            self.server.kill()
        return outcome


def test_a_server_killed_mid_run_is_caught_up_by_the_next_run(
    filled_store_file: Path, tmp_path: Path
) -> None:
    port = free_port()
    server = start_local_search(tmp_path / "search", port=port)
    made = _setup(filled_store_file, tmp_path, server.url, "killed")
    try:
        dying = _DyingIndex(
            SearchSettings(url=server.url, prefix="killed", request_timeout=5), server
        )
        services = Services(made.services.settings, made.store, dying)
        report = index_pending(services, batch_size=20)
        assert report.counts["articles_indexed"] == 20  # the first batch, confirmed
        assert report.counts.get("index_unavailable") == 1
        assert len(made.store.pending_article_ids()) == 67 - 20
        dying.close()

        server = start_local_search(tmp_path / "search", port=port)
        # The local server can lose writes it acknowledged just before a SIGKILL: the next run
        # checks the outbox against the index before sending what is pending.
        again = catch_up(made.services, batch_size=20)
        assert not again.errors
        assert made.store.pending_article_ids() == []
        assert made.store.pending_story_ids() == []
        made.search.refresh()
        counts = made.store.counts()
        assert made.search.count_articles() == counts["articles"]
        assert made.search.count_stories() == counts["stories"]
    finally:
        made.search.close()
        made.store.dispose()
        server.stop()


def test_rollout_swaps_the_aliases_to_the_next_version_with_the_same_counts(setup: Setup) -> None:
    assert not index_pending(setup.services).errors
    before = _snapshot(setup.search)
    prefix = setup.search.prefix
    old_articles = setup.search.alias_indices(articles_alias(prefix))
    assert {index_version(name) for name in old_articles} == {SCHEMA_VERSION}
    target = SCHEMA_VERSION + 1

    result = rollout(setup.services, version=target)
    assert result.swapped
    assert result.articles == 67
    new_articles = setup.search.alias_indices(articles_alias(prefix))
    assert {index_version(name) for name in new_articles} == {target}
    assert len(new_articles) == len(old_articles)
    assert setup.search.alias_indices(stories_alias(prefix)) == [f"{prefix}-stories-v{target}"]
    assert setup.search.list_indices(f"{prefix}-*-v{SCHEMA_VERSION}*") == []  # old ones deleted
    after = _snapshot(setup.search)
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}
    assert setup.store.pending_article_ids() == []

    again = rollout(setup.services, version=target)  # idempotent
    assert not again.swapped
    assert _snapshot(setup.search) == after
    template = setup.search.client.indices.get_index_template(name=f"{prefix}-articles")
    patterns = template["index_templates"][0]["index_template"]["index_patterns"]
    assert patterns == [f"{prefix}-articles-v{target}-*"]


def test_rollout_interrupted_before_the_swap_is_completed_by_the_next_run(setup: Setup) -> None:
    assert not index_pending(setup.services).errors
    prefix = setup.search.prefix
    target = SCHEMA_VERSION + 1
    # A crashed earlier attempt left a partial new index outside the alias.
    partial = f"{prefix}-articles-v{target}-2019.11"
    setup.search.client.indices.create(index=partial)
    setup.search.client.index(index=partial, id="stray", document={"article_id": "stray"})
    result = rollout(setup.services, version=target)
    assert result.swapped
    setup.search.refresh()
    assert setup.search.count_articles() == 67
    assert setup.search.count_stories() == setup.store.counts()["stories"]


def test_catch_up_requeues_documents_the_index_lost(setup: Setup) -> None:
    assert not index_pending(setup.services).errors
    prefix = setup.search.prefix
    setup.search.refresh()
    hits = setup.search.search(articles_alias(prefix), {"size": 5, "sort": ["article_id"]})
    for hit in hits["hits"]["hits"]:
        setup.search.client.delete(index=hit["_index"], id=hit["_id"], refresh=True)
    assert setup.search.count_articles() == 62
    assert setup.store.pending_article_ids() == []  # the outbox alone cannot see the loss

    report = catch_up(setup.services)
    assert report.counts["articles_requeued"] == 5
    assert report.counts["articles_indexed"] == 5
    setup.search.refresh()
    assert setup.search.count_articles() == 67
    assert catch_up(setup.services).counts["articles_requeued"] == 0


def test_reindex_command_sends_a_range_then_rolls_out(
    filled_store_file: Path, tmp_path: Path, search_server: LocalSearchServer, search_prefix: str
) -> None:
    import typer
    from typer.testing import CliRunner

    from mediamon.commands.report import register

    copy = tmp_path / "store.sqlite3"
    shutil.copy(filled_store_file, copy)
    app, eval_app = typer.Typer(), typer.Typer()
    register(app, eval_app)
    env = {
        "MEDIAMON_DATABASE_URL": f"sqlite:///{copy}",
        "MEDIAMON_DATA_DIR": str(tmp_path),
        "MEDIAMON_ES_URL": search_server.url,
        "MEDIAMON_ES_PREFIX": search_prefix,
    }
    runner = CliRunner()
    first = runner.invoke(app, ["reindex"], env=env)
    assert first.exit_code == 0, first.output
    assert "indexed 67 articles" in first.output
    ranged = runner.invoke(app, ["reindex", "--from", "2019-11-01", "--to", "2019-11-30"], env=env)
    assert ranged.exit_code == 0, ranged.output
    store = Store.open(env["MEDIAMON_DATABASE_URL"])
    try:
        november = store.article_ids(
            published_from=datetime(2019, 11, 1, tzinfo=UTC),
            published_to=datetime(2019, 12, 1, tzinfo=UTC),
        )
    finally:
        store.dispose()
    assert f"reset {len(november)} articles; indexed {len(november)} articles" in ranged.output
    # The code's schema version is already live: a rollout has nothing to do.
    rolled = runner.invoke(app, ["reindex", "--rollout"], env=env)
    assert rolled.exit_code == 0, rolled.output
    assert f"already on schema v{SCHEMA_VERSION}" in rolled.output
    bad = runner.invoke(app, ["reindex", "--from", "yesterday"], env=env)
    assert bad.exit_code == 2


def test_catch_up_and_range_reindex_on_each_backend(
    database_url: str, tmp_path: Path, search_server: LocalSearchServer, search_prefix: str
) -> None:
    subset = load_syndication(SHARED_DATA / "syndication" / "dev.jsonl")[:15]
    store = Store.open(database_url)
    search = SearchIndex(SearchSettings(url=search_server.url, prefix=search_prefix))
    services = Services(load_settings({}, data_dir=tmp_path), store, search)
    try:
        fill_store(store, subset, now=NOW, crosslingual=False)
        assert not index_pending(services).errors
        search.refresh()
        hit = search.search(articles_alias(search_prefix), {"size": 1})["hits"]["hits"][0]
        search.client.delete(index=hit["_index"], id=hit["_id"], refresh=True)
        report = catch_up(services)
        assert report.counts["articles_requeued"] == 1
        again = reindex_range(services)
        assert again.counts["articles_reset"] == len(subset)
        search.refresh()
        assert search.count_articles() == len(subset)
        assert search.count_stories() == store.counts()["stories"]
    finally:
        search.close()
        store.dispose()
