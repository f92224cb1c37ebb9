"""Database and search credentials never appear in logs, error output, stored errors or the index:
the pipeline runs against our throwaway PostgreSQL with a password-protected role and against the
search server through a proxy that requires basic auth; every log line (DEBUG, in-process and a
subprocess's stderr), the command output and the index are searched for the secrets."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from connectors.localsearch import LocalSearchServer, free_port
from connectors.samples import RunningSamples, load_sample_outlets, serve_samples
from mediamon.runner import ingest
from mediamon.services import load_outlets, open_services
from mediamon.settings import load_settings
from tests.reliability.conftest import ThrowawayPostgres
from tests.reliability.harness import run_env, run_mediamon, write_registry
from tests.reliability.searchproxy import SearchProxy

DB_PASSWORD = "pg-Role-Secret-93f1e2"
ES_USER = "elastic"
ES_PASSWORD = "es-Basic-Secret-41c7d8"
SECRETS = (DB_PASSWORD, ES_PASSWORD)


@pytest.fixture(scope="module")
def samples() -> Iterator[RunningSamples]:
    with serve_samples(load_sample_outlets()[:6]) as running:
        yield running


@pytest.fixture
def secret_database(throwaway_postgres: ThrowawayPostgres) -> Iterator[str]:
    role = f"mm_role_{uuid.uuid4().hex[:6]}"
    name = f"secrets_{uuid.uuid4().hex[:6]}"
    throwaway_postgres.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{DB_PASSWORD}'")
    throwaway_postgres.create_database(name, owner=role)
    yield throwaway_postgres.url(name, user=role, password=DB_PASSWORD)
    throwaway_postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    throwaway_postgres.execute(f"DROP ROLE IF EXISTS {role}")


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def _registry(tmp_path: Path, samples: RunningSamples) -> Path:
    document = samples.registry_document()
    # one broken source, so error paths run too
    document["outlets"].append(
        {
            "id": "broken",
            "homepage": f"http://127.0.0.1:{free_port()}/",
            "feeds": ["/feed.xml"],
            "allow_private": True,
        }
    )
    return write_registry(document, tmp_path / "outlets.yaml")


def test_credentials_never_reach_logs_errors_or_the_index(
    tmp_path: Path,
    samples: RunningSamples,
    secret_database: str,
    search_server: LocalSearchServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = _registry(tmp_path, samples)
    with SearchProxy(search_server.url, required_auth=(ES_USER, ES_PASSWORD)) as proxy:
        settings = load_settings({}, data_dir=tmp_path / "data").with_overrides(
            database_url=secret_database,
            registry_path=registry,
            search_url=proxy.url,
            search_prefix="secrets",
            search_username=ES_USER,
            search_password=ES_PASSWORD,
            requests_per_second=50.0,
        )
        assert _leaks(repr(settings)) == []
        with caplog.at_level(logging.DEBUG), open_services(settings) as services:
            report = ingest(services, load_outlets(settings))
            health = services.store.outlet_health()
            store_url = services.store.url
        assert report.counts.get("articles_indexed", 0) > 0  # the credentials did work
        assert proxy.unauthorized == 0
        assert report.errors  # the broken outlet's error path ran
        assert _leaks(caplog.text) == [], "a secret is in the log"
        assert _leaks(repr(report.errors)) == []
        assert _leaks(json.dumps(health, default=str)) == []
        assert _leaks(store_url) == []

        env = run_env(
            data_dir=tmp_path / "data",
            registry=registry,
            database_url=secret_database,
            search_url=proxy.url,
            search_prefix="secrets",
            extra={"MEDIAMON_ES_USERNAME": ES_USER, "MEDIAMON_ES_PASSWORD": ES_PASSWORD},
        )
        outputs = [
            run_mediamon(env, "--verbose", "run"),
            run_mediamon(env, "outlets"),
            run_mediamon(env, "db", "upgrade"),
        ]
        for result in outputs:
            assert result.returncode == 0, result.stderr[-2000:]
        # failures: a wrong search password, an unreachable database
        wrong_search = dict(env, MEDIAMON_ES_PASSWORD=ES_PASSWORD + "-wrong")
        wrong_search_run = run_mediamon(wrong_search, "--verbose", "index", "--full")
        assert wrong_search_run.returncode == 1
        assert "error (search-auth)" in wrong_search_run.stdout, wrong_search_run.stderr[-2000:]
        dead_port = free_port()
        dead_db = dict(
            env,
            MEDIAMON_DATABASE_URL=secret_database.replace(
                f":{secret_database.split(':')[3].split('/')[0]}/", f":{dead_port}/"
            ),
        )
        dead_db_runs = [run_mediamon(dead_db, "--verbose", "run"), run_mediamon(dead_db, "outlets")]
        for result in dead_db_runs:  # a typed one-line error, not a traceback
            assert result.returncode == 1
            assert "error (store-unavailable)" in result.stdout, result.stdout + result.stderr
    for result in [*outputs, wrong_search_run, *dead_db_runs]:
        assert _leaks(result.stdout + result.stderr) == [], (
            result.args,
            (result.stdout + result.stderr)[-3000:],
        )
    # The index holds documents, never the credentials.
    client = Elasticsearch(search_server.url)
    try:
        client.indices.refresh(index="secrets-*")
        hits = client.search(index="secrets-*", size=1000, query={"match_all": {}})["hits"]["hits"]
    finally:
        client.close()
    assert hits
    assert _leaks(json.dumps(hits)) == []
    print(
        f"secrets: {len(caplog.records)} log records, "
        f"{sum(len(r.stdout) + len(r.stderr) for r in outputs)} bytes of command output, "
        f"{len(hits)} index documents searched; wrong-search-password exit "
        f"{wrong_search_run.returncode}, "
        f"dead-database exits {[r.returncode for r in dead_db_runs]}; "
        f"wrong-search-password says: {wrong_search_run.stdout.strip()[-200:]}"
    )
