"""Four `mediamon run` processes ingesting overlapping outlets at once into one PostgreSQL store:
no duplicate link, article, version or index document, and no split story (each story is exactly
the group one single-process run produces)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.localsearch import LocalSearchServer
from connectors.samples import RunningSamples, free_port_range, load_sample_outlets, serve_samples
from tests.reliability.harness import (
    run_env,
    run_mediamon,
    snapshot_index,
    snapshot_store,
    start_mediamon,
    write_registry,
)

WORKERS = 4
OUTLET_COUNT = 24


@pytest.fixture(scope="module")
def samples() -> Iterator[RunningSamples]:
    outlets = load_sample_outlets()[:OUTLET_COUNT]
    with serve_samples(outlets, base_port=free_port_range(len(outlets))) as running:
        yield running


def _share(ids: list[str], worker: int) -> list[str]:
    """Worker i takes half of the outlets from i/WORKERS on: each outlet goes to two workers."""
    size = len(ids) // 2
    start = worker * len(ids) // WORKERS
    return [ids[(start + k) % len(ids)] for k in range(size)]


@pytest.mark.postgres
@pytest.mark.slow
def test_four_workers_on_overlapping_outlets_duplicate_and_split_nothing(
    tmp_path: Path,
    samples: RunningSamples,
    postgres_database: str,
    search_server: LocalSearchServer,
) -> None:
    engine = create_engine(postgres_database)
    with engine.begin() as conn:  # an empty schema: the workers also race on the migration
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    registry = write_registry(samples.registry_document(), tmp_path / "outlets.yaml")
    ids = sorted(o.id for o in samples.outlets)

    reference_env = run_env(
        data_dir=tmp_path / "reference",
        registry=registry,
        database_url=f"sqlite:///{tmp_path / 'reference.sqlite3'}",
        search_url=search_server.url,
        search_prefix="single",
    )
    reference_run = run_mediamon(reference_env, "run")
    assert reference_run.returncode == 0, reference_run.stderr
    expected = snapshot_store(reference_env["MEDIAMON_DATABASE_URL"])
    assert len(expected.groups()) < len(expected.articles), "no story with copies: a weak test"

    shared_env = run_env(
        data_dir=tmp_path / "shared",
        registry=registry,
        database_url=postgres_database,
        search_url=search_server.url,
        search_prefix="four",
    )
    started = time.monotonic()
    workers = []
    for number in range(WORKERS):
        args = [arg for outlet in _share(ids, number) for arg in ("--outlet", outlet)]
        workers.append(start_mediamon(shared_env, "run", *args))
    outputs = [worker.communicate(timeout=300) for worker in workers]
    elapsed = time.monotonic() - started
    failures = [
        (number, err.decode()[-2000:])
        for number, (worker, (_out, err)) in enumerate(zip(workers, outputs, strict=True))
        if worker.returncode != 0
    ]
    assert failures == [], failures
    got = snapshot_store(postgres_database)
    print(
        f"{WORKERS} workers in {elapsed:.1f}s: "
        f"{len(got.articles)} articles, {len(got.stories)} stories"
    )
    assert got.duplicates() == {}
    assert sorted(got.links) == sorted(expected.links)
    assert sorted(got.articles) == sorted(expected.articles)
    assert sorted(got.versions) == sorted(expected.versions)
    split = got.groups() ^ expected.groups()
    assert not split, f"stories differ from one single-process run: {sorted(map(sorted, split))}"
    # every worker indexed what it stored; the stories it saw changing were re-sent at the end
    finish = run_mediamon(shared_env, "run")
    assert finish.returncode == 0, finish.stderr
    index = snapshot_index(search_server.url, "four")
    assert len(index.articles) == len(set(index.articles))
    assert sorted(index.articles) == sorted(got.articles)
    assert sorted(index.stories) == sorted(snapshot_store(postgres_database).stories)


@pytest.mark.postgres
def test_workers_migrating_an_empty_database_at_once_all_succeed(postgres_database: str) -> None:
    import threading

    from connectors.store import Store

    engine = create_engine(postgres_database)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def migrate() -> None:
        store = Store.open(postgres_database)
        try:
            barrier.wait()
            store.migrate()
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            store.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = Store.open(postgres_database)
    assert store.counts()["articles"] == 0
    store.dispose()
