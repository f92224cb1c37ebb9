"""Database faults: PostgreSQL restarted mid-run (our own throwaway cluster), SQLite locked by
another writer. The pipeline either waits or fails with `StoreUnavailableError` (transient);
the retry completes and nothing is partial or doubled."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.samples import RunningSamples, load_sample_outlets, serve_samples
from connectors.store import StoreUnavailableError
from mediamon.runner import ingest
from mediamon.services import load_outlets, open_services
from mediamon.settings import Settings, load_settings
from schemas.errors import TransientError
from tests.reliability.conftest import ThrowawayPostgres
from tests.reliability.harness import snapshot_store, write_registry

OUTLET_COUNT = 8


@pytest.fixture(scope="module")
def samples() -> Iterator[RunningSamples]:
    with serve_samples(load_sample_outlets()[:OUTLET_COUNT]) as running:
        yield running


def _settings(tmp_path: Path, samples: RunningSamples, database_url: str) -> Settings:
    registry = write_registry(samples.registry_document(), tmp_path / "outlets.yaml")
    return load_settings({}, data_dir=tmp_path / "data").with_overrides(
        database_url=database_url,
        registry_path=registry,
        search_url=None,
        requests_per_second=50.0,
        fetch_workers=2,
    )


def _expected_articles(samples: RunningSamples) -> int:
    return sum(len(o.pages) for o in samples.outlets)


@pytest.mark.parametrize("when", ["fetch", "cluster"])
def test_postgres_restart_mid_run_fails_transiently_and_the_retry_completes(
    tmp_path: Path, samples: RunningSamples, throwaway_postgres: ThrowawayPostgres, when: str
) -> None:
    url = throwaway_postgres.create_database(f"faults_{uuid.uuid4().hex[:8]}")
    settings = _settings(tmp_path, samples, url)
    halfway = threading.Event()
    restarted = threading.Event()

    def restart_when_halfway() -> None:
        halfway.wait(120)
        throwaway_postgres.stop("immediate")  # a crash: open sessions die without a goodbye
        time.sleep(1.0)
        throwaway_postgres.start()
        restarted.set()

    restarter = threading.Thread(target=restart_when_halfway)
    restarter.start()
    outcome: object
    try:
        with open_services(settings) as services:
            outcome = ingest(
                services,
                load_outlets(settings),
                # "fetch": halfway through fetching; "cluster": the last page fetched, so the
                # crash lands in the clustering that follows
                on_progress=lambda _s, done, total: (
                    halfway.set() if done * (2 if when == "fetch" else 1) >= total else None
                ),
            )
    except Exception as error:
        outcome = error
    finally:
        halfway.set()
        restarter.join()
    assert restarted.is_set()
    print(f"postgres crash during {when}: {type(outcome).__name__}: {str(outcome)[:120]}")
    if isinstance(outcome, Exception):
        # the only acceptable failure: typed, transient, and without the password in it
        assert isinstance(outcome, StoreUnavailableError), repr(outcome)
        assert isinstance(outcome, TransientError)
        assert outcome.kind == "store-unavailable"
        assert "Secret" not in str(outcome)
    with open_services(settings) as services:
        ingest(services, load_outlets(settings))
        counts = services.store.counts()
    snapshot = snapshot_store(url)
    assert snapshot.duplicates() == {}
    assert counts["articles"] == _expected_articles(samples)
    assert len(snapshot.memberships) == counts["articles"]  # every article in exactly one story


def test_sqlite_locked_by_another_writer_waits_then_completes(
    tmp_path: Path, samples: RunningSamples
) -> None:
    path = tmp_path / "store.sqlite3"
    settings = _settings(tmp_path, samples, f"sqlite:///{path}")
    with open_services(settings):
        pass  # create and migrate the store first
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release_later() -> None:
        time.sleep(3.0)
        holder.execute("ROLLBACK")
        released.set()

    releaser = threading.Thread(target=release_later)
    started = time.monotonic()
    releaser.start()
    try:
        with open_services(settings) as services:
            report = ingest(services, load_outlets(settings))
            counts = services.store.counts()
    finally:
        releaser.join()
        holder.close()
    assert released.is_set()
    assert time.monotonic() - started >= 3.0
    assert counts["articles"] == _expected_articles(samples)
    assert report.counts["articles_new"] == counts["articles"]
    assert snapshot_store(f"sqlite:///{path}").duplicates() == {}


@pytest.mark.slow
def test_sqlite_locked_beyond_the_busy_timeout_fails_typed_and_writes_nothing_partial(
    tmp_path: Path, samples: RunningSamples
) -> None:
    path = tmp_path / "store.sqlite3"
    settings = _settings(tmp_path, samples, f"sqlite:///{path}")
    with open_services(settings):
        pass
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailableError) as raised, open_services(settings) as services:
            ingest(services, load_outlets(settings))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in str(raised.value)
    assert snapshot_store(f"sqlite:///{path}").articles == ()
    with open_services(settings) as services:
        ingest(services, load_outlets(settings))
        assert services.store.counts()["articles"] == _expected_articles(samples)
