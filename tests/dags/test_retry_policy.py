"""Every error kind maps to retry or fail-fast in every DAG task: one table, one test over it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.errors import ConfigError, MediamonError, PermanentError, TransientError
from tests.dags.conftest import DAGS_FOLDER

pytestmark = pytest.mark.slow  # importing Airflow costs seconds

# Modules that define the pipeline's errors; a new error class must get a row below.
ERROR_MODULES = (
    "connectors.http",
    "connectors.kibana",
    "connectors.localsearch",
    "connectors.robots",
    "connectors.safety",
    "connectors.search",
    "connectors.store",
    "mediamon.reindex",
)

RETRY, FAIL = "retry", "fail"
# error class -> what the scheduler must do with a task that raised it
EXPECTED: dict[str, str] = {
    # transient: the same work may well succeed later
    "ConnectionFailedError": RETRY,
    "FetchTimeoutError": RETRY,
    "HttpServerError": RETRY,
    "KibanaUnavailableError": RETRY,
    "LocalSearchError": RETRY,
    "RateLimitedError": RETRY,
    "RobotsUnavailableError": RETRY,  # robots.txt answering 5xx: retried (it was not, by kind)
    "SearchUnavailableError": RETRY,
    "StoreUnavailableError": RETRY,
    "TlsError": RETRY,  # was missing from the hand-kept set of retried kinds
    "TooSlowError": RETRY,
    "TransientError": RETRY,
    # permanent: record and move on, never three retries with an hour of backoff
    "BadContentTypeError": FAIL,
    "BadUrlError": FAIL,
    "ConfigError": FAIL,  # a malformed registry or params
    "DecompressionBombError": FAIL,
    "ForbiddenAddressError": FAIL,
    "HttpClientError": FAIL,  # 404, 410
    "KibanaImportError": FAIL,
    "PermanentError": FAIL,
    "RedirectLoopError": FAIL,
    "RobotsDisallowedError": FAIL,
    "RolloutError": FAIL,
    "SearchAuthError": FAIL,
    "SearchConfigError": FAIL,
    "SearchRequestError": FAIL,
    "StoreRejectedError": FAIL,  # a value the database refuses is refused again
    "TooLargeError": FAIL,
    "TooManyRedirectsError": FAIL,
}


def _error_classes() -> Iterator[type[MediamonError]]:
    for name in ERROR_MODULES:
        importlib.import_module(name)
    pending: list[type[MediamonError]] = [MediamonError]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            yield sub


def _instance(cls: type[MediamonError]) -> MediamonError:
    try:
        return cls("boom")
    except TypeError:  # errors that carry an HTTP status
        return cls("boom", status=500 if issubclass(cls, TransientError) else 404)  # type: ignore[call-arg]


def test_every_error_kind_is_retried_or_failed_at_once_by_every_dag_task(
    airflow_home: Path,
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import RetryAction

    classes = {cls.__name__: cls for cls in _error_classes()}
    assert set(classes) == set(EXPECTED), "every error class needs a row in EXPECTED"
    cases = [(_instance(cls), EXPECTED[name]) for name, cls in sorted(classes.items())]
    # errors raised with a kind of their own but no class of their own
    cases += [
        (PermanentError("x", kind="not-an-article"), FAIL),
        (ConfigError("x"), FAIL),
        (TransientError("x", kind="timeout"), RETRY),
    ]
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    tasks = [task for dag in bag.dags.values() for task in dag.tasks]
    assert tasks
    for task in tasks:
        policy = task.retry_policy
        assert policy is not None, task.task_id
        for error, expected in cases:
            decision = policy.evaluate(error, try_number=1, max_tries=task.retries + 1)
            wanted = RetryAction.RETRY if expected == RETRY else RetryAction.FAIL
            assert decision.action == wanted, (task.dag_id, task.task_id, type(error), error.kind)
        # a bug (not one of our errors) keeps Airflow's own retries
        assert policy.evaluate(ValueError("bug"), 1, 2).action == RetryAction.DEFAULT
