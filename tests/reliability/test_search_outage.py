"""Search outages never block or lose ingestion: a cluster that dies mid-run, rejects bulk items
(429) or refuses whole bulk requests; when it is back, one more run leaves store == index."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.localsearch import LocalSearchServer, free_port, start_local_search
from connectors.samples import RunningSamples, load_sample_outlets, serve_samples
from mediamon.reindex import catch_up
from mediamon.runner import ingest
from mediamon.services import load_outlets, open_services
from mediamon.settings import Settings, load_settings
from mediamon.stages import cluster, discover, fetch_pending, index_pending
from tests.reliability.harness import snapshot_index, snapshot_store, write_registry
from tests.reliability.searchproxy import SearchProxy

OUTLET_COUNT = 8


@pytest.fixture(scope="module")
def samples() -> Iterator[RunningSamples]:
    chosen = load_sample_outlets()[:OUTLET_COUNT]
    with serve_samples(chosen) as running:
        yield running


def _settings(tmp_path: Path, samples: RunningSamples, search_url: str, prefix: str) -> Settings:
    registry = write_registry(samples.registry_document(), tmp_path / "outlets.yaml")
    return load_settings({}, data_dir=tmp_path / "data").with_overrides(
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        registry_path=registry,
        search_url=search_url,
        search_prefix=prefix,
        requests_per_second=50.0,
    )


def _assert_store_equals_index(settings: Settings, search_url: str) -> None:
    store = snapshot_store(settings.database_url)
    index = snapshot_index(search_url, settings.search_prefix)
    assert store.duplicates() == {}
    assert store.indexed_pending == 0
    assert len(index.articles) == len(set(index.articles)), "an article is indexed twice"
    assert sorted(index.articles) == sorted(store.articles)
    assert sorted(index.stories) == sorted(store.stories)


def test_search_server_killed_mid_indexing_then_back_catches_up(
    tmp_path: Path, samples: RunningSamples
) -> None:
    port = free_port()
    search_dir = tmp_path / "search"
    server = start_local_search(search_dir, port=port)
    killed = threading.Event()

    def kill_on_second_bulk(number: int) -> None:
        if number == 2 and not killed.is_set():
            killed.set()
            server.kill()  # the cluster crashes while the pipeline is sending batches

    try:
        with SearchProxy(server.url, on_bulk=kill_on_second_bulk) as proxy:
            settings = _settings(tmp_path, samples, proxy.url, "outage")
            with open_services(settings) as services:
                outlets = load_outlets(settings)
                discover(services, outlets)
                changed = fetch_pending(services, outlets).changed
                cluster(services, changed)
                report = index_pending(services, batch_size=4)
                stored = services.store.counts()
            assert killed.is_set()
            assert stored["articles"] == sum(len(o.pages) for o in samples.outlets)
            assert report.counts.get("index_unavailable") == 1, report.counts
            assert 0 < report.counts.get("articles_indexed", 0) < stored["articles"]
            # Back on the same data and port. A crashed cluster may have lost documents it had
            # acknowledged (the local server does: writes before SIGKILL are not all on disk), so
            # recovery reconciles the outbox with the index by id, then sends what is pending.
            server = start_local_search(search_dir, port=port)
            with open_services(settings) as services:
                again = ingest(services, load_outlets(settings))
                recovered = catch_up(services)
            assert again.counts.get("articles_new", 0) == 0
            assert "index_unavailable" not in recovered.counts
            _assert_store_equals_index(settings, server.url)
    finally:
        server.stop()


def test_search_killed_from_another_thread_during_fetch_never_stops_ingestion(
    tmp_path: Path, samples: RunningSamples
) -> None:
    port = free_port()
    search_dir = tmp_path / "search"
    server: LocalSearchServer = start_local_search(search_dir, port=port)
    half = threading.Event()
    try:
        settings = _settings(tmp_path, samples, server.url, "midfetch")

        def kill_at_half() -> None:
            half.wait(120)
            server.kill()

        killer = threading.Thread(target=kill_at_half)
        killer.start()
        with open_services(settings) as services:
            report = ingest(
                services,
                load_outlets(settings),
                on_progress=lambda _stage, done, total: half.set() if done * 2 >= total else None,
            )
            counts = services.store.counts()
        killer.join()
        assert counts["articles"] == sum(len(o.pages) for o in samples.outlets)
        assert report.counts.get("index_unavailable") == 1
        server = start_local_search(search_dir, port=port)
        with open_services(settings) as services:
            ingest(services, load_outlets(settings))
            catch_up(services)
        _assert_store_equals_index(settings, server.url)
    finally:
        server.stop()


def test_bulk_item_rejections_and_busy_cluster_leave_documents_pending_until_accepted(
    tmp_path: Path, samples: RunningSamples, search_server: LocalSearchServer
) -> None:
    with SearchProxy(search_server.url, reject_every=3, busy_requests=1) as proxy:
        settings = _settings(tmp_path, samples, proxy.url, "rejects")
        with open_services(settings) as services:
            report = ingest(services, load_outlets(settings))
            pending = set(services.store.pending_article_ids())
            stored = services.store.counts()["articles"]
        assert proxy.items_rejected > 0
        assert proxy.requests_refused_busy == 1
        assert stored == sum(len(o.pages) for o in samples.outlets)
        # exactly the rejected documents stay pending, each recorded as an index-item error
        failed = {
            error.where.rsplit("/", 1)[1]
            for error in report.errors
            if error.kind == "index-item" and "-articles-" in error.where
        }
        assert failed == pending
        assert pending
        assert report.counts["articles_indexed"] == stored - len(pending)
    # the cluster recovers: the next run sends exactly what was left and nothing twice
    with open_services(settings.with_overrides(search_url=search_server.url)) as services:
        caught_up = index_pending(services)
    assert caught_up.counts.get("articles_indexed", 0) == len(pending)
    _assert_store_equals_index(settings, search_server.url)
