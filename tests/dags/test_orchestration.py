"""Settings reach DAG tasks from Airflow Connections and Variables, never from the DAG files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from schemas.errors import ConfigError

pytestmark = pytest.mark.slow  # importing Airflow costs seconds


def test_store_and_search_connections_override_the_environment(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediamon.orchestration import settings_from_airflow

    store = {"conn_type": "postgres", "host": "db.internal", "port": 5433, "login": "media",
             "password": "s3cret/with:chars", "schema": "mediamon"}  # fmt: skip
    search = {"conn_type": "elasticsearch", "host": "es.internal", "port": 9243, "schema": "https",
              "login": "elastic", "password": "es-secret", "extra": {"prefix": "news"}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMON_STORE", json.dumps(store))
    monkeypatch.setenv("AIRFLOW_CONN_MEDIAMON_SEARCH", json.dumps(search))
    monkeypatch.setenv("MEDIAMON_ES_URL", "http://ignored:9200")
    settings = settings_from_airflow({"MEDIAMON_DATA_DIR": str(airflow_home / "data")})
    url = make_url(settings.database_url)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == (
        "db.internal",
        5433,
        "mediamon",
        "media",
    )
    assert url.password == "s3cret/with:chars"
    assert settings.search_url == "https://es.internal:9243"
    assert (settings.search_username, settings.search_password) == ("elastic", "es-secret")
    assert settings.search_prefix == "news"
    # Secrets stay out of what gets logged.
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in settings.database_display
    assert "es-secret" not in repr(settings)


def test_without_connections_the_mediamon_environment_decides(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediamon.orchestration import settings_from_airflow

    monkeypatch.delenv("AIRFLOW_CONN_MEDIAMON_STORE", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MEDIAMON_SEARCH", raising=False)
    env = {"MEDIAMON_DATABASE_URL": "sqlite:////tmp/x.sqlite3", "MEDIAMON_ES_URL": "http://es:9200"}
    settings = settings_from_airflow(env)
    assert settings.database_url == "sqlite:////tmp/x.sqlite3"
    assert settings.search_url == "http://es:9200"


def test_an_unusable_store_connection_is_a_config_error(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediamon.orchestration import settings_from_airflow

    monkeypatch.setenv(
        "AIRFLOW_CONN_MEDIAMON_STORE", json.dumps({"conn_type": "mysql", "host": "h"})
    )
    with pytest.raises(ConfigError, match="mediamon_store"):
        settings_from_airflow({})


def test_outlets_variable_selects_the_mapped_outlets(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mediamon.orchestration import list_outlet_ids

    registry = tmp_path / "outlets.yaml"
    registry.write_text(
        "outlets:\n"
        + "".join(
            f"  - id: {name}\n    name: {name}\n    homepage: https://{name}.example/\n"
            f"    feeds: [/feed.xml]\n"
            for name in ("alpha", "beta", "gamma")
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("MEDIAMON_REGISTRY", str(registry))
    monkeypatch.delenv("AIRFLOW_VAR_MEDIAMON_OUTLETS", raising=False)
    assert list_outlet_ids() == ["alpha", "beta", "gamma"]
    monkeypatch.setenv("AIRFLOW_VAR_MEDIAMON_OUTLETS", json.dumps(["gamma", "alpha"]))
    assert sorted(list_outlet_ids()) == ["alpha", "gamma"]
    monkeypatch.setenv("AIRFLOW_VAR_MEDIAMON_OUTLETS", json.dumps("alpha"))
    with pytest.raises(ConfigError, match="mediamon_outlets"):
        list_outlet_ids()


def test_an_outlet_whose_every_source_is_down_raises_transient_so_airflow_retries(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from connectors.localsearch import free_port
    from mediamon.orchestration import ingest_outlet
    from schemas.errors import TransientError

    closed = free_port()  # nothing listens there: connection refused
    registry = tmp_path / "outlets.yaml"
    registry.write_text(
        "outlets:\n  - id: down\n    name: down\n"
        f"    homepage: http://127.0.0.1:{closed}/\n    feeds: [/feed.xml]\n"
        "    allow_private: true\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("AIRFLOW_CONN_MEDIAMON_STORE", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MEDIAMON_SEARCH", raising=False)
    monkeypatch.delenv("MEDIAMON_ES_URL", raising=False)
    monkeypatch.setenv("MEDIAMON_REGISTRY", str(registry))
    monkeypatch.setenv("MEDIAMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDIAMON_DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with pytest.raises(TransientError, match="every source failed"):
        ingest_outlet("down", now - timedelta(hours=1), now)
