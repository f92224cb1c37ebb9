"""A scheduler-driven backfill: `airflow standalone` runs two intervals of mediamon_ingest.

Everything real and local: the scheduler, DAG processor, API server and LocalExecutor of
`airflow standalone` (its own AIRFLOW_HOME and SQLite metadata DB under tmp), the sample outlets
on 127.0.0.1, the local search server, the SQLite store reached through the Airflow Connection
`mediamon_store`. The backfill is created with the CLI (`airflow backfill create`, as in the
README) and watched through the REST API. Bounded: 6 minutes from start to two successful runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.localsearch import LocalSearchServer, free_port
from connectors.samples import serve_samples
from connectors.store import Store
from schemas import tables as t
from tests.dags.conftest import airflow_environment
from tests.dags.test_ingest_dag import outlets_around
from transforms import ids

pytestmark = pytest.mark.slow

FIRST = datetime(2019, 11, 20, 4, tzinfo=UTC)  # intervals [04:00, 05:00) and [05:00, 06:00)
INTERVALS = [
    (FIRST, FIRST + timedelta(hours=1)),
    (FIRST + timedelta(hours=1), FIRST + timedelta(hours=2)),
]
BUDGET_SECONDS = 360
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")


def api(base: str, path: str, method: str = "GET", body: Any = None) -> Any:
    """Call the Airflow REST API (auth disabled for this private instance)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_until(
    predicate: Any, deadline: float, what: str, log: Path, process: subprocess.Popen[bytes]
) -> Any:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            value = predicate()
        except (urllib.error.URLError, OSError, ValueError):
            value = None
        if value:
            return value
        time.sleep(2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
    raise AssertionError(f"gave up waiting for {what}; standalone log tail:\n{tail}")


def test_scheduler_runs_a_backfill_of_two_ingest_intervals_to_success(
    tmp_path: Path, search_server: LocalSearchServer, search_prefix: str
) -> None:
    start = time.monotonic()
    deadline = start + BUDGET_SECONDS
    home = tmp_path / "airflow"
    home.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    store_path = tmp_path / "store.sqlite3"
    served = outlets_around(INTERVALS[0][0], INTERVALS[-1][1], extra=0)
    expected = sum(
        1
        for outlet in served
        for page in outlet.pages
        if page.published_at and INTERVALS[0][0] <= page.published_at < INTERVALS[-1][1]
    )
    with serve_samples(served) as samples:
        env = {
            **os.environ,
            **airflow_environment(home),
            # standalone starts its components as `airflow ...` found on PATH
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,  # tasks reach the execution API here (STACK-NOTES)
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",  # a 2-core CI machine
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "MEDIAMON_DATA_DIR": str(tmp_path / "data"),
            "MEDIAMON_REGISTRY": str(samples.write_registry(tmp_path / "outlets.yaml")),
            "MEDIAMON_ES_URL": search_server.url,
            "MEDIAMON_ES_PREFIX": search_prefix,
            "MEDIAMON_ALLOW_PRIVATE": "1",
            "MEDIAMON_REQUESTS_PER_SECOND": "20",
            "AIRFLOW_CONN_MEDIAMON_STORE": json.dumps(
                {"conn_type": "sqlite", "host": str(store_path)}
            ),
        }
        env.pop("MEDIAMON_DATABASE_URL", None)
        log = tmp_path / "standalone.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [AIRFLOW, "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with all its children
            )  # fmt: skip
        try:
            wait_until(
                lambda: api(base, "/api/v2/dags/mediamon_ingest")["dag_id"],
                deadline, "the DAG to be parsed", log, process,
            )  # fmt: skip
            # Paused DAGs run no backfill. Unpausing also lets the scheduler start the latest
            # (live) interval, which reads the same sample outlets' current feeds.
            api(base, "/api/v2/dags/mediamon_ingest", "PATCH", {"is_paused": False})
            for _attempt in range(6):
                created = subprocess.run(
                    [AIRFLOW, "backfill", "create", "--dag-id", "mediamon_ingest",
                     "--from-date", INTERVALS[0][0].isoformat(),
                     "--to-date", INTERVALS[-1][0].isoformat()],
                    env=env, capture_output=True, text=True, timeout=120, check=False,
                )  # fmt: skip
                # Airflow's own SQLite metadata database is shared with the running scheduler:
                # a write can hit "database is locked" on a loaded machine. The creation is one
                # transaction, so try again unless a backfill was recorded after all.
                if created.returncode == 0 or "database is locked" not in created.stderr:
                    break
                backfills = api(base, "/api/v2/backfills?dag_id=mediamon_ingest")["backfills"]
                if backfills:
                    break
                time.sleep(2)
            existing = api(base, "/api/v2/backfills?dag_id=mediamon_ingest")["backfills"]
            assert created.returncode == 0 or existing, created.stderr[-3000:]

            def backfill_runs() -> list[dict[str, Any]] | None:
                runs = api(base, "/api/v2/dags/mediamon_ingest/dagRuns?limit=50")["dag_runs"]
                mine = [r for r in runs if r["run_type"] == "backfill"]
                if len(mine) == len(INTERVALS) and all(
                    r["state"] in ("success", "failed") for r in mine
                ):
                    return mine
                return None

            runs = wait_until(backfill_runs, deadline, "two finished backfill runs", log, process)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    assert sorted((r["data_interval_start"], r["state"]) for r in runs) == [
        (begin.isoformat().replace("+00:00", "Z"), "success") for begin, _ in INTERVALS
    ]
    assert time.monotonic() - start < BUDGET_SECONDS
    store = Store.open(f"sqlite:///{store_path}")
    try:
        for begin, end in INTERVALS:
            for outlet in served:
                run = store.load_run(
                    ids.run_id("ingest", begin.isoformat(), end.isoformat(), outlet.id)
                )
                assert run is not None, (outlet.id, begin)
                assert run.counts["mode"] == "catch-up"
        a = t.articles.c
        with store.begin() as conn:
            in_window = conn.execute(
                select(func.count())
                .select_from(t.articles)
                .where(a.published_at >= INTERVALS[0][0], a.published_at < INTERVALS[-1][1])
            ).scalar_one()
            unindexed = conn.execute(
                select(func.count())
                .select_from(t.articles)
                .where(a.indexed_version < a.index_version)
            ).scalar_one()
    finally:
        store.dispose()
    assert in_window == expected
    assert unindexed == 0
