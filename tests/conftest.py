"""Shared fixtures: real services only (SQLite, PostgreSQL on 127.0.0.1, the local search server).

PostgreSQL: `MEDIAMON_TEST_POSTGRES_URL` (default: the machine's server at 127.0.0.1:5432).
Each test session creates its own database and drops it afterwards. An unreachable server fails
the run: a store test that silently skips PostgreSQL would hide exactly the bugs it exists to
find. Setting the variable to `skip` is the only way to leave PostgreSQL out.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from connectors.localsearch import LocalSearchServer, start_local_search
from connectors.store import Store
from tests.fixtures import SHARED_DATA

REPO_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str | None:
    """The PostgreSQL server the tests use, or None when explicitly skipped."""
    value = os.environ.get("MEDIAMON_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    return None if value.strip().lower() == "skip" else value


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test using the local search server is marked `services` (not in `make test-fast`)."""
    for item in items:
        if "search_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real captured fixtures in the repository (`tests/resources/shared`, see its README)."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; its URL."""
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("MEDIAMON_TEST_POSTGRES_URL=skip")
    name = f"mediamon_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # the run must fail, not skip, when PostgreSQL is configured
        pytest.fail(
            f"PostgreSQL at {make_url(admin).render_as_string(hide_password=True)} "
            f"is unreachable: {error}"
        )
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _empty_postgres_store(url: str) -> Store:
    store = Store.open(url)
    with store.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    store.migrate()
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated store URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
        Store.open(url).migrate()
        yield url
        return
    url = request.getfixturevalue("postgres_database")
    _empty_postgres_store(url).dispose()
    yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """An empty, migrated store on each backend."""
    opened = Store.open(database_url)
    yield opened
    opened.dispose()


@pytest.fixture(scope="session")
def search_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSearchServer]:
    """The local Elasticsearch-compatible server, one per session."""
    server = start_local_search(tmp_path_factory.mktemp("search"))
    yield server
    server.stop()


@pytest.fixture
def search_prefix() -> str:
    """A fresh index prefix per test, so tests never see each other's documents."""
    return f"t{uuid.uuid4().hex[:8]}"
