"""`dag.test()` of mediamon_ingest against real local services, then the same interval again.

The sample outlets run on 127.0.0.1, the store is reached through the Airflow Connection
`mediamon_store` (SQLite, and PostgreSQL), the search index is the local Elasticsearch-compatible
server. The second run of the same data interval must write no row and no index document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from connectors.localsearch import LocalSearchServer
from connectors.samples import RunningSamples, SampleOutlet, load_sample_outlets, serve_samples
from connectors.search import SearchIndex, SearchSettings
from connectors.store import Store
from schemas import tables as t
from tests.dags.conftest import DAGS_FOLDER

pytestmark = pytest.mark.slow

# Data interval [04:00, 05:00) of 2019-11-20: a manual run's logical date is the interval end.
INTERVAL_START = datetime(2019, 11, 20, 4, tzinfo=UTC)
INTERVAL_END = INTERVAL_START + timedelta(hours=1)


def _pages_in(outlet: SampleOutlet, start: datetime, end: datetime) -> int:
    return sum(1 for p in outlet.pages if p.published_at and start <= p.published_at < end)


def outlets_around(start: datetime, end: datetime, extra: int = 1) -> list[SampleOutlet]:
    """Sample outlets with pages in [start, end), plus `extra` outlets that have none there."""
    outlets = load_sample_outlets()
    inside = [o for o in outlets if _pages_in(o, start, end)]
    outside = [o for o in outlets if not _pages_in(o, start, end) and o.pages][:extra]
    return inside + outside


@pytest.fixture
def samples() -> Iterator[RunningSamples]:
    with serve_samples(outlets_around(INTERVAL_START, INTERVAL_END)) as running:
        yield running


def store_connection(database_url: str) -> str:
    """The Airflow Connection (JSON form) that points at the test store."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": url.database})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": url.host,
            "port": url.port,
            "login": url.username,
            "password": url.password,
            "schema": url.database,
        }
    )


def configure_pipeline(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    samples: RunningSamples,
    search_url: str,
    search_prefix: str,
    database_url: str,
) -> None:
    """Wire the tasks' settings the way a deployment does: env + Airflow Connection."""
    registry = samples.write_registry(tmp_path / "outlets.yaml")
    monkeypatch.setenv("MEDIAMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDIAMON_REGISTRY", str(registry))
    monkeypatch.setenv("MEDIAMON_ES_URL", search_url)
    monkeypatch.setenv("MEDIAMON_ES_PREFIX", search_prefix)
    monkeypatch.setenv("MEDIAMON_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("MEDIAMON_REQUESTS_PER_SECOND", "20")
    monkeypatch.delenv("MEDIAMON_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMON_STORE", store_connection(database_url))


def store_state(database_url: str) -> dict[str, Any]:
    """Row counts plus every article's and story's index versions (a re-index would show)."""
    store = Store.open(database_url)
    try:
        with store.begin() as conn:
            articles = sorted(
                conn.execute(
                    select(
                        t.articles.c.id, t.articles.c.index_version, t.articles.c.indexed_version
                    )
                ).all()
            )
            stories = sorted(
                conn.execute(
                    select(t.stories.c.id, t.stories.c.index_version, t.stories.c.indexed_version)
                ).all()
            )
        return {"counts": store.counts(), "articles": articles, "stories": stories}
    finally:
        store.dispose()


def search_counts(url: str, prefix: str) -> tuple[int, int]:
    index = SearchIndex(SearchSettings(url=url, prefix=prefix))
    try:
        index.refresh()
        return index.count_articles(), index.count_stories()
    finally:
        index.close()


def test_ingest_dag_run_twice_for_one_interval_writes_nothing_the_second_time(
    airflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    samples: RunningSamples,
    search_server: LocalSearchServer,
    search_prefix: str,
    database_url: str,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    configure_pipeline(
        monkeypatch, tmp_path, samples, search_server.url, search_prefix, database_url
    )
    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags["mediamon_ingest"]
    expected = sum(_pages_in(o, INTERVAL_START, INTERVAL_END) for o in samples.outlets)
    assert expected >= 3

    first = dag.test(logical_date=INTERVAL_END)
    assert first.state == "success"
    assert (first.data_interval_start, first.data_interval_end) == (INTERVAL_START, INTERVAL_END)
    states = {(ti.task_id, ti.map_index): ti.state for ti in first.get_task_instances()}
    assert all(state == "success" for state in states.values()), states
    mapped = [key for key in states if key[0] == "ingest_outlet"]
    assert len(mapped) == len(samples.outlets)  # one mapped task per outlet

    after_first = store_state(database_url)
    counts = after_first["counts"]
    # Only the interval's pages: announced in [start, end) by the sitemaps and feeds.
    assert counts["discovered_urls"] == expected
    assert counts["articles"] == expected
    assert counts["story_members"] == expected
    assert all(indexed == version for _id, version, indexed in after_first["articles"])
    assert search_counts(search_server.url, search_prefix) == (expected, counts["stories"])

    second = dag.test(logical_date=INTERVAL_END)
    assert second.state == "success"
    assert store_state(database_url) == after_first
    assert search_counts(search_server.url, search_prefix) == (expected, counts["stories"])


def test_backfill_dag_rebuilds_a_day_and_maintenance_finds_nothing_pending(
    airflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    search_server: LocalSearchServer,
    search_prefix: str,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    day = datetime(2018, 9, 8, tzinfo=UTC)
    database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    with serve_samples(outlets_around(day, day + timedelta(days=1))) as running:
        configure_pipeline(
            monkeypatch, tmp_path, running, search_server.url, search_prefix, database_url
        )
        expected = sum(_pages_in(o, day, day + timedelta(days=1)) for o in running.outlets)
        bag = DagBag(dag_folder=str(DAGS_FOLDER))
        conf = {"from": "2018-09-08", "to": "2018-09-08", "outlets": [], "stages": []}
        run = bag.dags["mediamon_backfill"].test(logical_date=day, run_conf=conf)
        assert run.state == "success"
    state = store_state(database_url)
    assert state["counts"]["articles"] == expected
    assert search_counts(search_server.url, search_prefix)[0] == expected
    # The outlets are gone; maintenance only needs the store and the index.
    maintenance = bag.dags["mediamon_maintenance"].test(logical_date=day)
    assert maintenance.state == "success"
    assert {ti.task_id: ti.state for ti in maintenance.get_task_instances()} == {
        "outlet_health": "success",
        "search_index": "success",
    }
    assert store_state(database_url) == state
