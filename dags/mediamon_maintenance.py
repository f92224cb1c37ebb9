"""mediamon_maintenance: daily outlet-health summary and search-index check with catch-up indexing.

The search index is derived from the SQL store: this run recreates a missing template or alias and
sends every document still pending, so an Elasticsearch outage heals by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import (
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    dag,
    task,
)

from schemas.errors import RETRY_POLICY

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mediamon",
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(hours=1),
    # Transient errors retry with the backoff above; permanent ones fail at once.
    "retry_policy": ExceptionRetryPolicy(
        rules=[
            RetryRule(exception=error, action=RetryAction(verdict))
            for error, verdict in RETRY_POLICY
        ]
    ),
}


@dag(
    dag_id="mediamon_maintenance",
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),
    # Early enough for backfills of archived years (tasks start after start_date); catchup=False
    # keeps the scheduler from running the past by itself.
    start_date=datetime(2010, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mediamon", "maintenance"],
    doc_md=__doc__,
)
def mediamon_maintenance() -> None:
    """outlet_health and search_index run independently."""

    @task
    def outlet_health() -> dict[str, Any]:
        from mediamon.orchestration import summarise_outlet_health

        return summarise_outlet_health()

    @task
    def search_index() -> dict[str, Any]:
        from mediamon.orchestration import check_search_index

        return check_search_index()

    outlet_health()
    search_index()


mediamon_maintenance()
