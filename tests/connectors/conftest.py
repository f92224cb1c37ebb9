"""Fixtures for connector tests: real captured data, local HTTP servers, fast fetch settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from connectors.http import Fetcher, FetchSettings
from tests.fixtures import SHARED_DATA
from tests.localserver import LocalServer, Route

DATA_DIR = SHARED_DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real-fixture folder; its absence is a failure, never a skip."""
    if not (DATA_DIR / "feeds").is_dir():
        pytest.fail(f"shared test data missing at {DATA_DIR.resolve()}")
    return DATA_DIR


@pytest.fixture
def serve() -> Iterator[Callable[..., LocalServer]]:
    """Start local servers on 127.0.0.1 (stopped after the test): serve(routes, default=None)."""
    servers: list[LocalServer] = []

    def start(routes: Mapping[str, Route] | None = None, **kwargs: Route) -> LocalServer:
        server = LocalServer(routes, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def fast_settings(**overrides: object) -> FetchSettings:
    """Settings with small timeouts and caps so bad-input tests finish quickly.

    Only 127.0.0.1 is reachable among private addresses (the local test servers listen there).
    """
    values: dict[str, object] = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "total_timeout": 3.0,
        "max_body_bytes": 1024 * 1024,
        "max_decompressed_bytes": 4 * 1024 * 1024,
        "max_redirects": 4,
        "retries": 2,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "max_retry_wait": 5.0,
        "default_requests_per_second": 200.0,
        "default_per_host_concurrency": 4,
        "allowed_private_networks": ("127.0.0.1/32",),
    }
    values.update(overrides)
    return FetchSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    """A fetcher with `fast_settings()`."""
    with Fetcher(fast_settings()) as live:
        yield live
