"""mediamon_backfill: rebuild a date range on demand (the same function as `mediamon backfill`).

Trigger it with params, e.g. `airflow dags trigger mediamon_backfill --conf
'{"from": "2018-09-08", "to": "2018-09-09", "outlets": [], "stages": []}'` (`to` is inclusive
when it is a day; empty lists mean every outlet and every stage). A failed try resumes from the
checkpoint the previous try left in the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, Param, RetryAction, RetryRule, dag, task

from mediamon.plans import STAGES
from schemas.errors import RETRY_POLICY

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mediamon",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
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
    dag_id="mediamon_backfill",
    schedule=None,
    # Early enough for backfills of archived years (tasks start after start_date); catchup=False
    # keeps the scheduler from running the past by itself.
    start_date=datetime(2010, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mediamon", "backfill"],
    doc_md=__doc__,
    params={
        "from": Param("2018-09-08", type="string", format="date", description="first day"),
        "to": Param("2018-09-09", type="string", format="date", description="last day, included"),
        "outlets": Param([], type="array", items={"type": "string"}, description="outlet ids"),
        "stages": Param([], type="array", items={"type": "string", "enum": list(STAGES)}),
    },
)
def mediamon_backfill() -> None:
    """One task: the whole backfill, resumable."""

    @task(execution_timeout=timedelta(hours=12))
    def backfill(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from mediamon.orchestration import backfill_from_params

        return backfill_from_params(params or {})

    backfill()


mediamon_backfill()
