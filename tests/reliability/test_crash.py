"""`mediamon run` killed with SIGKILL at random points, then run to completion, ends exactly where
one clean uninterrupted run ends: same links, articles, versions, stories and index documents, and
no duplicate of any of them."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from connectors.localsearch import LocalSearchServer
from connectors.samples import RunningSamples, free_port_range, load_sample_outlets, serve_samples
from schemas import tables as t
from tests.reliability.harness import (
    run_env,
    run_mediamon,
    snapshot_index,
    snapshot_store,
    start_mediamon,
    write_registry,
)

KILLS = int(os.environ.get("MEDIAMON_CRASH_RANDOM_KILLS", "1"))
OUTLETS = int(os.environ.get("MEDIAMON_CRASH_OUTLETS", "24"))
SEED = int(os.environ.get("MEDIAMON_CRASH_SEED", str(random.SystemRandom().randrange(10**6))))


@dataclass(frozen=True)
class Progress:
    """What the store shows at one moment of a run."""

    articles: int
    members: int
    indexed: int
    at: float = field(default_factory=time.monotonic)


def _progress(url: str) -> Progress:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return Progress(
                articles=conn.execute(select(func.count()).select_from(t.articles)).scalar_one(),
                members=conn.execute(
                    select(func.count()).select_from(t.story_members)
                ).scalar_one(),
                indexed=conn.execute(
                    select(func.count()).where(t.articles.c.indexed_version > 0)
                ).scalar_one(),
            )
    except Exception:  # the store may not exist yet at the very start of the first run
        return Progress(0, 0, 0)
    finally:
        engine.dispose()


def _more(measure: Callable[[Progress], int], amount: int) -> Callable[[Progress, Progress], bool]:
    return lambda begun, now: measure(now) - measure(begun) >= amount


def _after(seconds: float) -> Callable[[Progress, Progress], bool]:
    return lambda begun, now: now.at - begun.at >= seconds


@pytest.fixture(scope="module")
def samples() -> Iterator[RunningSamples]:
    outlets = load_sample_outlets()[:OUTLETS]
    # fixed ports for the whole module: both runs see the same URLs, hence the same ids
    with serve_samples(outlets, base_port=free_port_range(len(outlets))) as running:
        yield running


def _env(tmp: Path, samples: RunningSamples, search_url: str, prefix: str) -> dict[str, str]:
    registry = write_registry(samples.registry_document(), tmp / "outlets.yaml")
    return run_env(
        data_dir=tmp / "data",
        registry=registry,
        database_url=f"sqlite:///{tmp / 'store.sqlite3'}",
        search_url=search_url,
        search_prefix=prefix,
    )


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, samples: RunningSamples, search_server: LocalSearchServer
) -> None:
    clean_env = _env(tmp_path / "clean", samples, search_server.url, "clean")
    started = time.monotonic()
    clean = run_mediamon(clean_env, "run")
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    expected = snapshot_store(clean_env["MEDIAMON_DATABASE_URL"])
    expected_index = snapshot_index(search_server.url, "clean")
    assert expected.duplicates() == {}
    assert len(expected.articles) == sum(len(o.pages) for o in samples.outlets)
    assert len(expected.groups()) < len(expected.articles), "no story with copies: a weak test"

    crash_env = _env(tmp_path / "crash", samples, search_server.url, "crash")
    crash_url = crash_env["MEDIAMON_DATABASE_URL"]
    rng = random.Random(SEED)
    # Kill points aimed at each stage, measured from what the store shows of this very run:
    # mid-fetch/extract (k more articles stored), mid-clustering (story members written),
    # mid-indexing (documents confirmed), then plain random delays.
    aims: list[tuple[str, Callable[[Progress, Progress], bool]]] = [
        ("fetch", _more(lambda p: p.articles, rng.randint(1, 30))),
        ("cluster", _more(lambda p: p.members, 1)),
        ("index", _more(lambda p: p.indexed, 1)),
    ]
    aims += [("random", _after(rng.uniform(0.5, clean_seconds * 0.9))) for _ in range(KILLS)]
    kills: list[str] = []
    for stage, aim in aims:
        process = start_mediamon(crash_env, "run")
        begun = _progress(crash_url)
        while process.poll() is None and not aim(begun, _progress(crash_url)):
            time.sleep(0.05)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            kills.append(f"{stage}@{time.monotonic() - begun.at:.1f}s")
        else:
            kills.append(f"{stage}:finished")
        snapshot = snapshot_store(crash_url)
        assert snapshot.duplicates() == {}, f"seed {SEED}, kills {kills}"
    final = run_mediamon(crash_env, "run")
    assert final.returncode == 0, final.stderr
    got = snapshot_store(crash_env["MEDIAMON_DATABASE_URL"])
    index = snapshot_index(search_server.url, "crash")
    context = f"seed {SEED}, kills {kills}"
    print(context)
    assert got.duplicates() == {}, context
    assert sorted(got.links) == sorted(expected.links), context
    assert sorted(got.articles) == sorted(expected.articles), context
    assert sorted(got.versions) == sorted(expected.versions), context
    assert got.groups() == expected.groups(), context
    assert got.indexed_pending == 0, context
    assert len(index.articles) == len(set(index.articles)), context
    assert sorted(index.articles) == sorted(expected_index.articles), context
    assert sorted(index.stories) == sorted(got.stories), context


def test_articles_stored_by_a_run_that_died_before_clustering_get_their_stories_next_run(
    tmp_path: Path, database_url: str
) -> None:
    from mediamon.runner import ingest
    from mediamon.services import load_outlets, open_services
    from mediamon.settings import load_settings
    from mediamon.stages import discover, fetch_pending

    outlets = load_sample_outlets()[:10]
    with serve_samples(outlets) as running:
        registry = write_registry(running.registry_document(), tmp_path / "outlets.yaml")
        settings = load_settings({}, data_dir=tmp_path / "data").with_overrides(
            database_url=database_url,
            registry_path=registry,
            search_url=None,
            requests_per_second=50.0,
        )
        with open_services(settings) as services:
            chosen = load_outlets(settings)
            discover(services, chosen)
            changed = fetch_pending(services, chosen).changed
            # the process dies here: `changed` is lost with it, nothing is pending any more
        assert changed
        assert snapshot_store(database_url).memberships == ()
        with open_services(settings) as services:
            report = ingest(services, load_outlets(settings))
    got = snapshot_store(database_url)
    assert report.counts.get("stories_recovered") == len(changed)
    assert sorted(got.memberships) == sorted(got.articles)
    assert len(got.articles) == sum(len(o.pages) for o in outlets)
