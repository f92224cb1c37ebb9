"""infra/docker-compose.yml matches the project: services, ports, and MEDIAMON_* settings.

No Docker engine runs here, so the file is parsed (YAML, with Compose's `${VAR:-default}`
interpolation) and checked against what the code actually reads and serves.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from mediamon.settings import load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "infra" / "docker-compose.yml"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)


def interpolate(value: str) -> str:
    """Compose's `${NAME:-default}` with nothing set in the environment; `$$` is a literal `$`."""
    value = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)
    return value.replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: interpolate(str(value)) for key, value in service["environment"].items()}


def published_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(port).split(":")[0]) for port in service.get("ports", [])}


def test_compose_has_every_service_on_its_usual_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "elasticsearch", "kibana", *AIRFLOW_SERVICES} <= set(services)
    assert published_ports(services["postgres"]) == {5432}
    assert published_ports(services["elasticsearch"]) == {9200}
    assert published_ports(services["kibana"]) == {5601}
    assert published_ports(services["airflow-apiserver"]) == {8080}
    assert services["elasticsearch"]["image"].rsplit(":", 1)[1].startswith("8.")
    assert services["kibana"]["image"].rsplit(":", 1)[1].startswith("8.")
    kibana_hosts = environment(services["kibana"])["ELASTICSEARCH_HOSTS"]
    assert "http://elasticsearch:9200" in kibana_hosts


def test_airflow_image_and_dags_match_the_installed_airflow_and_repo(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    build = services["airflow-scheduler"]["build"]["dockerfile_inline"]
    assert f"apache/airflow:{version('apache-airflow')}-python3.11" in build
    assert "[airflow]" in build  # the project's own Airflow extra
    assert "apache-airflow-providers-postgres" in build
    assert "asyncpg" in build  # PostgreSQL metadata DB needs both (STACK-NOTES)
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        dags = env["AIRFLOW__CORE__DAGS_FOLDER"]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mounts[dags] == "../dags"
        assert (COMPOSE.parent / mounts[dags]).resolve() == REPO_ROOT / "dags"
        api = env["AIRFLOW__API__BASE_URL"]
        assert api == "http://airflow-apiserver:8080"
        metadata = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert (metadata.host, metadata.port, metadata.database) == ("postgres", 5432, "airflow")


def test_mediamon_settings_in_compose_are_ones_the_code_reads_and_they_reach_the_services(
    compose: dict[str, Any],
) -> None:
    read_by_code = set(
        re.findall(r"MEDIAMON_[A-Z_]+", (REPO_ROOT / "mediamon" / "settings.py").read_text())
    )
    services = compose["services"]
    postgres = environment(services["postgres"])
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        mediamon = {key: value for key, value in env.items() if key.startswith("MEDIAMON_")}
        assert set(mediamon) <= read_by_code, set(mediamon) - read_by_code
        assert {"MEDIAMON_DATABASE_URL", "MEDIAMON_ES_URL", "MEDIAMON_DATA_DIR"} <= set(mediamon)
        settings = load_settings(mediamon)
        store = make_url(settings.database_url)
        assert store.drivername == "postgresql+psycopg"  # the driver the project installs
        assert (store.host, store.port) == ("postgres", 5432)
        assert store.database == postgres["POSTGRES_DB"]
        assert store.username == postgres["POSTGRES_USER"]
        assert store.password == postgres["POSTGRES_PASSWORD"]
        assert settings.search_url == "http://elasticsearch:9200"
        volumes = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert volumes[str(settings.data_dir)] in compose["volumes"]  # data outlives containers
