"""mediamon_ingest: every hour, discover and fetch each outlet (mapped), then cluster, then index.

Each run owns a real data interval (one hour). A current interval reads the live feeds; an old one
(catch-up, `airflow backfill create`) takes the links its sitemaps and feeds date inside it. Every
write is keyed, so a retried task or a re-run interval writes nothing new. The logic lives in
`mediamon.orchestration`; this file only wires it.
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
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    # Transient errors retry with the backoff above; permanent ones fail at once.
    "retry_policy": ExceptionRetryPolicy(
        rules=[
            RetryRule(exception=error, action=RetryAction(verdict))
            for error, verdict in RETRY_POLICY
        ]
    ),
}


@dag(
    dag_id="mediamon_ingest",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    # Early enough for backfills of archived years (tasks start after start_date); catchup=False
    # keeps the scheduler from running the past by itself.
    start_date=datetime(2010, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["mediamon", "ingest"],
    doc_md=__doc__,
)
def mediamon_ingest() -> None:
    """Outlets -> ingest_outlet (mapped) -> cluster -> index."""

    @task
    def outlets() -> list[str]:
        from mediamon.orchestration import list_outlet_ids

        return list_outlet_ids()

    @task(max_active_tis_per_dagrun=8, execution_timeout=timedelta(minutes=50))
    def ingest_outlet(
        outlet_id: str,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> dict[str, Any]:
        from mediamon.orchestration import ingest_outlet as ingest

        return ingest(outlet_id, data_interval_start, data_interval_end)

    @task(trigger_rule="all_done")  # one outlet's failure never blocks the others' clustering
    def cluster(outcomes: list[dict[str, Any] | None]) -> dict[str, Any]:
        from mediamon.orchestration import cluster_changed

        return cluster_changed(outcomes)

    @task(trigger_rule="all_done")  # whatever was stored gets indexed
    def index() -> dict[str, Any]:
        from mediamon.orchestration import index_documents

        return index_documents()

    # TaskFlow hands an XComArg over; it is resolved to the list of outcomes at run time.
    cluster(ingest_outlet.expand(outlet_id=outlets())) >> index()  # type: ignore[arg-type]


mediamon_ingest()
