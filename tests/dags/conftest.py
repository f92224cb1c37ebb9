"""Airflow fixtures: a private AIRFLOW_HOME with its own SQLite metadata DB, the repo's dags/.

Airflow reads its configuration when it is first imported, so the environment is set before any
Airflow import and the session fails loudly if Airflow was imported with another home.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"


def airflow_environment(home: Path) -> dict[str, str]:
    """The variables that point Airflow at `home` and the repo's DAGs (no examples)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An initialised Airflow metadata DB in a temporary AIRFLOW_HOME, for in-process tests."""
    if "airflow" in sys.modules:
        pytest.fail("airflow was imported before the test AIRFLOW_HOME was set")
    home = tmp_path_factory.mktemp("airflow_home")
    saved = {key: os.environ.get(key) for key in airflow_environment(home)}
    os.environ.update(airflow_environment(home))
    from airflow.utils import db

    db.initdb()
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
