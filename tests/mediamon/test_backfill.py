"""`mediamon backfill` end to end: idempotent, network-free re-extraction, resumable after SIGKILL.

Real services only: the bundled sample outlets on 127.0.0.1, the store on SQLite and PostgreSQL,
the local Elasticsearch-compatible server.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from connectors.localsearch import LocalSearchServer
from connectors.samples import RunningSamples, SampleOutlet, load_sample_outlets, serve_samples
from connectors.search import SearchIndex, SearchSettings
from connectors.store import Store, StoreUnavailableError
from mediamon.commands.backfill import STAGE_NAMES, register
from mediamon.plans import STAGES, Plan, parse_moment, parse_stages
from mediamon.runner import run_plan
from mediamon.services import load_outlets, open_services
from mediamon.settings import Settings, load_settings
from schemas import tables as t
from schemas.errors import PermanentError

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
# 2018-09-08 (the Idlib story: Sputnik, RIA, RT ...) and the day after, inclusive.
DAY_FROM, DAY_TO = "2018-09-08", "2018-09-09"
WINDOW = (parse_moment(DAY_FROM), parse_moment(DAY_TO) + timedelta(days=1))


def _pages_in(outlet: SampleOutlet, start: datetime, end: datetime) -> int:
    return sum(1 for p in outlet.pages if p.published_at and start <= p.published_at < end)


def outlets_around(start: datetime, end: datetime, extra: int = 2) -> list[SampleOutlet]:
    """Sample outlets with pages dated in [start, end), plus `extra` outlets with pages outside."""
    outlets = load_sample_outlets()
    inside = [o for o in outlets if _pages_in(o, start, end)]
    outside = [o for o in outlets if o.pages and not _pages_in(o, start, end)][:extra]
    return inside + outside


def expected_pages(samples: RunningSamples, start: datetime, end: datetime) -> int:
    return sum(_pages_in(o, start, end) for o in samples.outlets)


@pytest.fixture
def samples() -> Iterator[RunningSamples]:
    with serve_samples(outlets_around(*WINDOW)) as running:
        yield running


def make_settings(
    tmp_path: Path, samples: RunningSamples, search_url: str, prefix: str, database_url: str
) -> Settings:
    registry = samples.write_registry(tmp_path / "outlets.yaml")
    return load_settings({}, data_dir=tmp_path / "data").with_overrides(
        database_url=database_url,
        registry_path=registry,
        search_url=search_url,
        search_prefix=prefix,
        allow_private=True,
        requests_per_second=20.0,
    )


def settings_environment(settings: Settings) -> dict[str, str]:
    """The `MEDIAMON_*` variables that reproduce `settings` in another process."""
    return {
        "MEDIAMON_DATA_DIR": str(settings.data_dir),
        "MEDIAMON_DATABASE_URL": settings.database_url,
        "MEDIAMON_REGISTRY": str(settings.registry_path),
        "MEDIAMON_ES_URL": settings.search_url or "",
        "MEDIAMON_ES_PREFIX": settings.search_prefix,
        "MEDIAMON_ALLOW_PRIVATE": "1",
        "MEDIAMON_REQUESTS_PER_SECOND": str(settings.requests_per_second),
    }


def backfill(settings: Settings, **changes: Any) -> dict[str, Any]:
    request = Plan.backfill(WINDOW[0], WINDOW[1], **changes)
    with open_services(settings) as services:
        outlets = load_outlets(settings, list(request.outlet_ids) or None)
        return run_plan(services, request, outlets).as_dict()


def snapshot(settings: Settings) -> dict[str, Any]:
    """What must be identical after equivalent runs: rows, ids, versions, tags, index counts."""
    store = Store.open(settings.database_url)
    try:
        with store.begin() as conn:
            ids = {
                name: sorted(conn.execute(select(t.metadata.tables[name].c.id)).scalars())
                for name in ("discovered_urls", "captures", "articles", "article_versions")
            }
            tags = sorted(
                conn.execute(select(t.article_tags.c.article_id, t.article_tags.c.topic)).all()
            )
        counts = store.counts()
    finally:
        store.dispose()
    index = SearchIndex(
        SearchSettings(url=settings.search_url or "", prefix=settings.search_prefix)
    )
    try:
        index.refresh()
        indexed = (index.count_articles(), index.count_stories())
    finally:
        index.close()
    return {"counts": counts, "ids": ids, "tags": tags, "indexed": indexed}


def test_backfill_twice_over_a_range_gives_identical_counts(
    tmp_path: Path,
    samples: RunningSamples,
    search_server: LocalSearchServer,
    search_prefix: str,
    database_url: str,
) -> None:
    settings = make_settings(tmp_path, samples, search_server.url, search_prefix, database_url)
    expected = expected_pages(samples, *WINDOW)
    assert expected >= 5

    first = backfill(settings)
    after_first = snapshot(settings)
    assert first["links_in_range"] == expected
    assert first["articles_in_range"] == expected
    assert first["counts"]["links_new"] == expected
    assert first["counts"]["articles_new"] == expected
    assert after_first["counts"]["discovered_urls"] == expected  # nothing outside the range
    assert after_first["counts"]["articles"] == expected
    assert after_first["counts"]["story_members"] == expected
    assert after_first["indexed"] == (expected, after_first["counts"]["stories"])

    second = backfill(settings)
    assert snapshot(settings) == after_first
    assert second["resumed_at"] is None
    assert second["run_id"] == first["run_id"]
    for key in ("links_new", "articles_new", "versions_new", "fetched", "tags_changed"):
        assert second["counts"].get(key, 0) == 0, key
    assert second["counts"]["extracted"] == expected  # re-extracted, found unchanged


def test_extract_and_tag_stages_rerun_from_the_archive_without_the_network(
    tmp_path: Path, search_server: LocalSearchServer, search_prefix: str
) -> None:
    database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    with serve_samples(outlets_around(*WINDOW)) as running:
        settings = make_settings(tmp_path, running, search_server.url, search_prefix, database_url)
        expected = expected_pages(running, *WINDOW)
        backfill(settings)
    before = snapshot(settings)
    # The outlets are gone now: only the raw archive and the store can answer.
    result = backfill(settings, stages=parse_stages("extract,tag,index"))
    assert result["stages_run"] == ["extract", "tag", "index"]
    assert result["counts"]["extracted"] == expected
    assert result["counts"]["tagged"] == expected
    assert not any(key.startswith("extract_skipped") for key in result["counts"])
    assert snapshot(settings) == before


def test_backfill_request_rejects_bad_input() -> None:
    start = parse_moment("2018-09-08")
    with pytest.raises(PermanentError, match="empty"):
        Plan.backfill(start, start)
    with pytest.raises(PermanentError, match="unknown backfill stage"):
        Plan.backfill(start, start + timedelta(days=1), stages=("fetch", "scrape"))
    with pytest.raises(PermanentError, match="not a date"):
        parse_moment("08/09/2018")
    assert parse_moment("2018-09-08T12:00:00") == datetime(2018, 9, 8, 12, tzinfo=UTC)
    one = Plan.backfill(start, start + timedelta(days=1), ("b", "a"), ("index", "fetch"))
    two = Plan.backfill(start, start + timedelta(days=1), ("b", "a"), ("fetch", "index"))
    assert one.ordered_stages == ("fetch", "index")
    assert one.run_id == two.run_id  # stage order on the command line does not matter
    assert parse_stages(STAGE_NAMES) == STAGES  # the command line's list is the real one


def test_backfill_command_prints_a_json_summary(
    tmp_path: Path,
    samples: RunningSamples,
    search_server: LocalSearchServer,
    search_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(
        tmp_path, samples, search_server.url, search_prefix, f"sqlite:///{tmp_path / 's.db'}"
    )
    for key, value in settings_environment(settings).items():
        monkeypatch.setenv(key, value)
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app, typer.Typer())
    outlet = next(o.id for o in samples.outlets if _pages_in(o, *WINDOW))
    args = ["backfill", "--from", DAY_FROM, "--to", DAY_TO, "--outlet", outlet,
            "--stages", "discover,fetch", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    outlet_pages = next(_pages_in(o, *WINDOW) for o in samples.outlets if o.id == outlet)
    assert summary["stages_run"] == ["discover", "fetch"]
    assert summary["counts"]["links_new"] == outlet_pages
    assert summary["links_in_range"] == outlet_pages


# A command-line entry point with only `backfill` registered (as `mediamon backfill` runs it).
DRIVER = """
import typer
from mediamon.commands.backfill import register
app = typer.Typer()
app.callback()(lambda: None)
register(app, typer.Typer())
app()
"""


def start_backfill_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_environment(settings)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                DRIVER,
                "backfill",
                "--from",
                DAY_FROM,
                "--to",
                DAY_TO,
                "--json",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for_stage(settings: Settings, run_id: str, stages: list[str], timeout: float) -> str:
    """Poll the run's checkpoint until it reports one of `stages`; return it."""
    store = Store.open(settings.database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                run = store.load_run(run_id)
            except StoreUnavailableError:  # the process has not created the tables yet
                run = None
            if run is not None and run.counts.get("stage") in stages:
                return str(run.counts["stage"])
            time.sleep(0.02)
    finally:
        store.dispose()
    raise AssertionError(f"backfill never reached {stages} within {timeout}s")


def test_backfill_killed_half_way_resumes_and_ends_like_an_uninterrupted_one(
    tmp_path: Path,
    samples: RunningSamples,
    search_server: LocalSearchServer,
) -> None:
    reference = make_settings(
        tmp_path / "ref", samples, search_server.url, "ref" + os.urandom(3).hex(),
        f"sqlite:///{tmp_path / 'ref.sqlite3'}",
    )  # fmt: skip
    backfill(reference)
    expected = snapshot(reference)

    crashed = make_settings(
        tmp_path / "crash", samples, search_server.url, "crash" + os.urandom(3).hex(),
        f"sqlite:///{tmp_path / 'crash.sqlite3'}",
    )  # fmt: skip
    run_id = Plan.backfill(*WINDOW).run_id
    rng = random.Random()  # a different kill point on every run; the seed is in the message
    seed = rng.randrange(1_000_000)
    rng.seed(seed)
    # Kill in the chosen stage or, if it went by between two polls, in a later one; clustering
    # (seconds) is always long enough to be caught.
    order = ["fetch", "extract", "tag", "cluster"]
    target = rng.choice(order)
    log = tmp_path / "backfill.log"
    process = start_backfill_process(crashed, log)
    try:
        reached = wait_for_stage(crashed, run_id, order[order.index(target) :], timeout=120)
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    store = Store.open(crashed.database_url)
    try:
        run = store.load_run(run_id)
    finally:
        store.dispose()
    assert process.returncode == -signal.SIGKILL, log.read_text(errors="replace")
    assert run is not None
    assert run.status == "running", f"seed {seed}"

    restarted = start_backfill_process(crashed, log)
    assert restarted.wait(timeout=240) == 0, log.read_text(errors="replace")
    summary = json.loads(log.read_text().strip().splitlines()[-1])
    # The process may have moved on during the random delay before the kill.
    later = [*order[order.index(reached) :], "index"]
    assert summary["resumed_at"] in later, f"seed {seed}"
    assert summary["stages_run"][0] == summary["resumed_at"], f"seed {seed}"  # none redone
    assert snapshot(crashed) == expected, f"seed {seed}, killed in {reached}"
