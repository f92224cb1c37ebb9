"""Every DAG file imports cleanly and declares what operators rely on: owner, tags, retries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.dags.conftest import DAGS_FOLDER

pytestmark = pytest.mark.slow  # importing Airflow costs seconds

EXPECTED = {"mediamon_ingest", "mediamon_maintenance", "mediamon_backfill"}
# Ours, importable at parse time because they import only the standard library and each other.
LIGHT_MODULES = {"mediamon.plans", "schemas.errors"}


def test_dagbag_imports_every_dag_without_errors(airflow_home: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED
    for dag in bag.dags.values():
        assert "mediamon" in dag.tags, dag.dag_id
        assert dag.owner == "mediamon", dag.dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"
            assert task.retry_exponential_backoff, f"{dag.dag_id}.{task.task_id} has no backoff"


def test_scheduled_dags_carry_real_data_intervals(airflow_home: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import CronDataIntervalTimetable

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    for dag_id in ("mediamon_ingest", "mediamon_maintenance"):
        assert isinstance(bag.dags[dag_id].timetable, CronDataIntervalTimetable), dag_id
    ingest = bag.dags["mediamon_ingest"]
    assert ingest.get_task("ingest_outlet").is_mapped  # spread over workers per outlet
    assert ingest.get_task("cluster").upstream_task_ids == {"ingest_outlet"}
    assert ingest.get_task("index").upstream_task_ids == {"cluster"}
    assert set(bag.dags["mediamon_backfill"].params) == {"from", "to", "outlets", "stages"}


@pytest.mark.parametrize("path", sorted(DAGS_FOLDER.glob("*.py")), ids=lambda p: p.name)
def test_dag_files_stay_thin(path: Path) -> None:
    """Module level imports only Airflow, the stdlib and the two light modules that hold the
    stage list and the retry table; pipeline imports live in task bodies."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert len(path.read_text(encoding="utf-8").splitlines()) < 100
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            root = (module or "").split(".")[0]
            allowed = {"__future__", "datetime", "typing", "airflow"}
            assert root in allowed or module in LIGHT_MODULES, (path.name, module)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            # The only module-level call is the DAG factory itself.
            assert isinstance(node.value.func, ast.Name)
            assert node.value.func.id == path.stem
    source = path.read_text(encoding="utf-8")
    assert "os.environ" not in source
    assert "getenv" not in source


@pytest.mark.parametrize("module", sorted(LIGHT_MODULES))
def test_modules_dag_files_import_stay_light(module: str) -> None:
    """What a DAG file imports at module level imports only the stdlib and the other light one."""
    import sys

    path = Path(__file__).resolve().parents[2] / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            name = name or ""
            root = name.split(".")[0]
            assert (
                root in sys.stdlib_module_names or root == "__future__" or name in (LIGHT_MODULES)
            ), (module, name)
