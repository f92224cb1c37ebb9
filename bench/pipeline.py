"""Pipeline throughput and Airflow overhead, as ratios against baselines measured in the same run.

1. `pipeline`: articles per second through the whole pipeline (discover, fetch over HTTP from the
   sample outlets on 127.0.0.1, archive, extract, tag, store in SQLite, cluster, index into the
   local search server) on the bundled sample corpus, versus bare `trafilatura.extract` of the same
   page bodies (the baseline): `ratio` = pipeline rate / trafilatura rate.
2. `airflow_overhead`: the same work as an Airflow DAG run (`dag.test()`, in process) versus
   through `mediamon.runner.run_plan` (what `mediamon backfill` calls): the ingest DAG for
   one hourly interval versus a backfill of that interval, and the backfill DAG versus the backfill
   function over a range. `overhead` = best DAG seconds / best direct seconds (after one
   warm-up pair, two measured pairs in alternating order).

Prints one JSON object per line. Run: `.venv/bin/python bench/pipeline.py`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, sort_keys=True), flush=True)


def bench_trafilatura(bodies: list[bytes], rounds: int = 1) -> float:
    """Pages per second of bare trafilatura extraction (JSON with metadata) over `bodies`."""
    import trafilatura

    trafilatura.extract(bodies[0], output_format="json", with_metadata=True)  # warm-up
    started = time.perf_counter()
    for _ in range(rounds):
        for body in bodies:
            trafilatura.extract(body, output_format="json", with_metadata=True)
    return rounds * len(bodies) / (time.perf_counter() - started)


def bench_pipeline(work: Path, search_url: str) -> dict[str, Any]:
    from connectors.samples import load_sample_outlets, serve_samples
    from mediamon.services import load_outlets, open_services
    from mediamon.settings import load_settings
    from mediamon.stages import cluster, discover, fetch_pending, index_pending

    outlets = load_sample_outlets()
    bodies = [page.body for outlet in outlets for page in outlet.pages]
    with serve_samples(outlets) as samples:
        settings = load_settings({}, data_dir=work / "pipeline").with_overrides(
            registry_path=samples.write_registry(work / "pipeline" / "outlets.yaml"),
            search_url=search_url,
            search_prefix="benchpipe",
            allow_private=True,
            requests_per_second=20.0,
        )
        stages: dict[str, float] = {}
        started = time.perf_counter()
        with open_services(settings) as services:
            chosen = load_outlets(settings)
            # The same calls, in the same order, as `mediamon.runner.ingest`, timed per stage.
            mark = time.perf_counter()
            report = discover(services, chosen)
            stages["discover"] = time.perf_counter() - mark
            mark = time.perf_counter()
            fetched = fetch_pending(services, chosen)
            stages["fetch_extract_tag_store"] = time.perf_counter() - mark
            mark = time.perf_counter()
            report.merge(fetched).merge(cluster(services, fetched.changed))
            stages["cluster"] = time.perf_counter() - mark
            mark = time.perf_counter()
            report.merge(index_pending(services))
            stages["index"] = time.perf_counter() - mark
            articles = services.store.counts()["articles"]
        seconds = time.perf_counter() - started
    baseline = bench_trafilatura(bodies)
    rate = articles / seconds
    return {
        "bench": "pipeline",
        "pages": len(bodies),
        "articles": articles,
        "errors": len(report.errors),
        "seconds": round(seconds, 2),
        "stage_seconds": {key: round(value, 2) for key, value in stages.items()},
        "articles_per_second": round(rate, 2),
        "baseline": "bare trafilatura.extract(json, with_metadata) of the same pages",
        "baseline_pages_per_second": round(baseline, 2),
        "ratio": round(rate / baseline, 4),
    }


def _configure_env(work: Path, samples_registry: Path, search_url: str, prefix: str) -> None:
    os.environ.update(
        MEDIAMON_DATA_DIR=str(work / "data"),
        MEDIAMON_REGISTRY=str(samples_registry),
        MEDIAMON_ES_URL=search_url,
        MEDIAMON_ES_PREFIX=prefix,
        MEDIAMON_ALLOW_PRIVATE="1",
        MEDIAMON_REQUESTS_PER_SECOND="20",
        MEDIAMON_DATABASE_URL=f"sqlite:///{work / 'store.sqlite3'}",
    )


def bench_airflow(work: Path, search_url: str) -> list[dict[str, Any]]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from connectors.samples import load_sample_outlets, serve_samples
    from connectors.store import Store
    from mediamon.plans import Plan
    from mediamon.runner import run_plan
    from mediamon.services import load_outlets, open_services
    from mediamon.settings import load_settings

    db.initdb()
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    records = []
    cases = [
        # (name, DAG, window [start, end), the backfill stages that do the DAG's work)
        (
            "ingest_interval",
            "mediamon_ingest",
            (datetime(2019, 11, 20, 4, tzinfo=UTC), datetime(2019, 11, 20, 5, tzinfo=UTC)),
            ("discover", "fetch", "cluster", "index"),
        ),
        (
            "backfill_range",
            "mediamon_backfill",
            (datetime(2019, 11, 18, tzinfo=UTC), datetime(2019, 11, 21, tzinfo=UTC)),
            ("discover", "fetch", "extract", "cluster", "tag", "index"),
        ),
    ]
    for name, dag_id, (start, end), stages in cases:
        outlets = [
            o
            for o in load_sample_outlets()
            if any(p.published_at and start <= p.published_at < end for p in o.pages)
        ]
        with serve_samples(outlets) as samples:
            timings: dict[str, list[float]] = {"direct": [], "airflow": []}
            articles: dict[str, set[int]] = {"direct": set(), "airflow": set()}
            # The first pair warms both paths up (model loading, Airflow's first task); the
            # measured pairs alternate their order so that neither always runs first.
            order = ["direct", "airflow", "airflow", "direct", "direct", "airflow"]
            for number, how in enumerate(order):
                here = work / f"{name}-{number}-{how}"
                registry = samples.write_registry(here / "outlets.yaml")
                _configure_env(here, registry, search_url, f"bench{name.replace('_', '')}{number}")
                settings = load_settings()
                started = time.perf_counter()
                if how == "direct":
                    with open_services(settings) as services:
                        run_plan(
                            services,
                            Plan.backfill(start, end, stages=stages),
                            load_outlets(settings),
                        )
                elif dag_id == "mediamon_ingest":
                    run = bag.dags[dag_id].test(logical_date=end)
                    assert run.state == "success", run.state
                else:
                    conf = {  # days, `to` included (as on the command line)
                        "from": start.date().isoformat(),
                        "to": (end - timedelta(days=1)).date().isoformat(),
                        "outlets": [],
                        "stages": list(stages),
                    }
                    run = bag.dags[dag_id].test(logical_date=end, run_conf=conf)
                    assert run.state == "success", run.state
                if number >= 2:
                    timings[how].append(time.perf_counter() - started)
                store = Store.open(settings.database_url)
                articles[how].add(store.counts()["articles"])
                store.dispose()
        assert len(articles["direct"] | articles["airflow"]) == 1, articles  # the same work
        records.append(
            {
                "bench": "airflow_overhead",
                "case": name,
                "dag": dag_id,
                "window": [start.isoformat(), end.isoformat()],
                "outlets": len(outlets),
                "articles": articles["direct"].pop(),
                "baseline": "mediamon.runner.run_plan (mediamon backfill) of the same work",
                "direct_seconds": [round(x, 2) for x in timings["direct"]],
                "airflow_seconds": [round(x, 2) for x in timings["airflow"]],
                "overhead": round(min(timings["airflow"]) / min(timings["direct"]), 3),
            }
        )
    return records


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="mediamon-bench-") as tmp:
        work = Path(tmp)
        home = work / "airflow"
        home.mkdir()
        # Airflow reads its configuration at first import: point it at a private home first.
        os.environ.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
            AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",  # keep stdout to the JSON lines
        )
        os.environ.pop("AIRFLOW_CONN_MEDIAMON_STORE", None)
        from connectors.localsearch import local_search

        with local_search(work / "search") as server:
            emit(bench_pipeline(work, server.url))
            for record in bench_airflow(work, server.url):
                emit(record)


if __name__ == "__main__":
    main()
