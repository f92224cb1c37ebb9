"""Airflow-facing glue: settings from Airflow, and one callable per DAG task.

The DAG files under `dags/` only wire these callables to schedules, mapping and retries; this
module is the only place of the package that knows Airflow, and it imports Airflow lazily (inside
functions), so the pipeline and its command line work without it.

Settings: `MEDIAMON_*` environment variables (see `mediamon.settings`), overridden by the Airflow
Connections `mediamon_store` (the SQL store) and `mediamon_search` (Elasticsearch) when they are
defined, and the Variable `mediamon_outlets` (a JSON list of outlet ids; all enabled outlets when
unset). Credentials are never logged: only the masked database URL and the search host are.

Every callable returns a small JSON-serialisable dict (it becomes the task's XCom). What it
raises keeps its type: the DAGs' retry policy (built from `schemas.errors.RETRY_POLICY`) retries
a `TransientError` with backoff and fails a `PermanentError` at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from mediamon.settings import Settings, load_settings
from schemas.errors import ConfigError, TransientError, retry_action

log = logging.getLogger(__name__)

STORE_CONNECTION = "mediamon_store"
SEARCH_CONNECTION = "mediamon_search"
OUTLETS_VARIABLE = "mediamon_outlets"
LIVE_LAG_VARIABLE = "mediamon_live_lag_hours"
# An interval that ended longer ago than this is a catch-up: its links come from dated sitemap
# and feed entries (as in a backfill), because live feeds no longer list them.
DEFAULT_LIVE_LAG = timedelta(hours=6)
# Sources of an outlet that consecutively failed this often are reported as unhealthy.
UNHEALTHY_AFTER_FAILURES = 3


# --- settings ---------------------------------------------------------------------------


def settings_from_airflow(environ: Mapping[str, str] | None = None) -> Settings:
    """Return the pipeline settings for a task: environment, then Airflow Connections on top."""
    settings = load_settings(os.environ if environ is None else environ)
    store = _connection(STORE_CONNECTION)
    if store is not None:
        settings = settings.with_overrides(database_url=database_url_of(store))
    search = _connection(SEARCH_CONNECTION)
    if search is not None:
        extra = _extra(search)
        settings = settings.with_overrides(
            search_url=search_url_of(search),
            search_username=search.login or None,
            search_password=search.password or None,
            search_api_key=extra.get("api_key") or settings.search_api_key,
            search_prefix=extra.get("prefix") or settings.search_prefix,
        )
    return settings


def database_url_of(connection: Any) -> str:
    """The SQLAlchemy URL of an Airflow Connection to the store.

    `postgres` connections use the psycopg 3 driver; `sqlite` ones name the file in `host`; any
    other type may give a full SQLAlchemy URL in its extra field `sqlalchemy_url`.
    """
    from sqlalchemy.engine import URL

    extra = _extra(connection)
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    kind = (connection.conn_type or "").lower()
    if kind in ("postgres", "postgresql"):
        url = URL.create(
            "postgresql+psycopg",
            username=connection.login or None,
            password=connection.password or None,
            host=connection.host or None,
            port=connection.port or None,
            database=connection.schema or None,
        )
        return url.render_as_string(hide_password=False)
    if kind == "sqlite":
        return f"sqlite:///{connection.host}"
    raise ConfigError(
        f"connection {STORE_CONNECTION}: type {kind!r} is not postgres or sqlite and has no "
        "extra 'sqlalchemy_url'",
        kind="config",
    )


def search_url_of(connection: Any) -> str:
    """The base URL of an Airflow Connection to Elasticsearch (`http`/`https` from its schema)."""
    extra = _extra(connection)
    scheme = extra.get("scheme") or connection.schema or "http"
    if scheme not in ("http", "https"):
        scheme = "http"
    host = connection.host or "127.0.0.1"
    if "://" in host:  # a connection whose host already holds the whole URL
        return str(host).rstrip("/")
    port = connection.port or 9200
    return f"{scheme}://{host}:{port}"


def _extra(connection: Any) -> dict[str, Any]:
    try:
        value = connection.extra_dejson
    except (AttributeError, ValueError):
        return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _connection(conn_id: str) -> Any:
    """The Airflow Connection `conn_id`, or None when it is not defined."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def _variable(key: str, default: Any = None, *, json: bool = False) -> Any:
    from airflow.sdk import Variable

    return Variable.get(key, default=default, deserialize_json=json)


def _selected_outlets() -> list[str] | None:
    chosen = _variable(OUTLETS_VARIABLE, None, json=True)
    if chosen is None:
        return None
    if not isinstance(chosen, list) or not all(isinstance(item, str) for item in chosen):
        raise ConfigError(f"Variable {OUTLETS_VARIABLE} must be a JSON list of outlet ids")
    return list(chosen)


# --- mediamon_ingest --------------------------------------------------------------------


def list_outlet_ids() -> list[str]:
    """The ids of the outlets one ingest run maps over (registry order)."""
    from mediamon.services import load_outlets

    settings = settings_from_airflow()
    outlets = load_outlets(settings, _selected_outlets())
    log.info("ingest outlets=%d registry=%s", len(outlets), settings.registry_path)
    return [outlet.id for outlet in outlets]


def ingest_outlet(
    outlet_id: str,
    interval_start: datetime | None,
    interval_end: datetime | None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Discover and fetch one outlet for one data interval; return the changed article ids.

    A current interval runs the live plan (the outlet's feeds, sitemaps and sections now, every
    pending link); an interval that ended more than the live lag ago runs the catch-up plan (the
    links dated inside it, as a backfill does). Both go through `mediamon.runner.run_plan`, which
    checkpoints the run under the interval, so a retried try resumes and a repeated run writes
    nothing new. Raises `TransientError` when every source of the outlet failed with an error
    `schemas.errors.retry_action` retries (worth another try).
    """
    from mediamon.plans import Plan, Window
    from mediamon.runner import run_plan
    from mediamon.services import load_outlets, open_services, utc_now

    if interval_start is None or interval_end is None:
        raise ConfigError("mediamon_ingest runs need a data interval (CronDataIntervalTimetable)")
    settings = settings_from_airflow()
    moment = now or utc_now()
    lag = timedelta(
        hours=float(_variable(LIVE_LAG_VARIABLE, DEFAULT_LIVE_LAG.total_seconds() / 3600))
    )
    interval = Window(interval_start, interval_end)
    live = interval_end >= moment - lag
    plan = Plan.live_outlet(outlet_id, interval) if live else Plan.catch_up(outlet_id, interval)
    with open_services(settings) as services:
        report = run_plan(services, plan, load_outlets(settings, [outlet_id])).report
        if live:
            changed = sorted(set(report.changed))
        else:
            # Every article of the window goes to clustering: a catch-up may have found an
            # earlier copy of a story whose members were stored by other runs.
            links = services.store.links_in_window(interval_start, interval_end, [outlet_id])
            changed = sorted({item.article_id for item in links if item.article_id})
    source_errors = [e for e in report.errors if e.where.startswith(f"{outlet_id} ")]
    if (
        source_errors
        and not report.counts.get("links_seen", 0)
        and all(retry_action(e.error) == "retry" for e in source_errors)
    ):
        raise TransientError(
            f"outlet {outlet_id}: every source failed ({source_errors[0].kind}); retry later"
        )
    log.info(
        "ingested outlet=%s mode=%s window=%s..%s changed=%d errors=%d",
        outlet_id,
        plan.mode,
        interval_start.isoformat(),
        interval_end.isoformat(),
        len(changed),
        len(report.errors),
    )
    return {
        "outlet": outlet_id,
        "mode": plan.mode,
        "changed": changed,
        "counts": dict(sorted(report.counts.items())),
        "errors": len(report.errors),
    }


def cluster_changed(outcomes: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Cluster the articles the mapped ingest tasks changed.

    `mediamon.stages.cluster` also picks up every article left without a story (an outlet task
    whose XCom is lost, a clustering task killed half-way), so the next run heals a failed one.
    """
    from mediamon.services import open_services
    from mediamon.stages import cluster

    changed: set[str] = set()
    for outcome in _materialise(outcomes):
        if outcome:
            changed.update(outcome.get("changed", []))
    with open_services(settings_from_airflow()) as services:
        report = cluster(services, sorted(changed))
    log.info("clustered changed=%d", len(changed))
    return {"articles": len(changed), "counts": dict(sorted(report.counts.items()))}


def _materialise(outcomes: Iterable[Mapping[str, Any] | None]) -> list[Mapping[str, Any] | None]:
    # Airflow's lazy XCom sequence knows its length; iterating it past the end logs a 404.
    if isinstance(outcomes, Sequence) or hasattr(outcomes, "__len__"):
        items: Any = outcomes
        return [items[i] for i in range(len(items))]
    return list(outcomes)


def index_documents() -> dict[str, Any]:
    """Send every pending article and story to the search index (the store's outbox).

    Raises `TransientError` when the index is unreachable, so the task retries; nothing is lost
    meanwhile, the documents stay pending for the next run.
    """
    from mediamon.services import open_services
    from mediamon.stages import index_pending

    with open_services(settings_from_airflow()) as services:
        report = index_pending(services)
    if report.counts.get("index_unavailable"):
        raise TransientError("search index unavailable; documents stay pending")
    return {"counts": dict(sorted(report.counts.items())), "errors": len(report.errors)}


# --- mediamon_maintenance ---------------------------------------------------------------


def summarise_outlet_health() -> dict[str, Any]:
    """Summarise the sources' health; name the outlets whose sources keep failing."""
    from mediamon.services import open_services

    with open_services(settings_from_airflow(), with_search=False) as services:
        rows = services.store.outlet_health()
    failing = sorted(
        {row.outlet_id for row in rows if row.consecutive_failures >= UNHEALTHY_AFTER_FAILURES}
    )
    never = sorted({row.outlet_id for row in rows if row.last_success_at is None})
    for outlet_id in failing:
        log.warning("outlet unhealthy outlet=%s", outlet_id)
    return {
        "sources": len(rows),
        "outlets": len({row.outlet_id for row in rows}),
        "unhealthy_outlets": failing,
        "never_succeeded_outlets": never,
    }


def check_search_index() -> dict[str, Any]:
    """Make sure the index layout (templates, aliases) exists and catch up pending documents.

    Returns the indexed counts and what is still pending; raises `TransientError` when the index
    is unreachable. Without a configured search cluster there is nothing to check.
    """
    from mediamon.services import open_services
    from mediamon.stages import index_pending

    with open_services(settings_from_airflow()) as services:
        if services.search is None:
            return {"search": "not configured"}
        if not services.search.ping():
            raise TransientError("search index unreachable")
        services.search.ensure_layout()
        report = index_pending(services)
        if report.counts.get("index_unavailable"):
            raise TransientError("search index unavailable; documents stay pending")
        services.search.refresh()
        return {
            "article_indices": services.search.article_indices(),
            "articles_indexed": services.search.count_articles(),
            "stories_indexed": services.search.count_stories(),
            "caught_up": dict(sorted(report.counts.items())),
            "still_pending": services.store.count_index_pending(),
        }


# --- mediamon_backfill ------------------------------------------------------------------


def backfill_from_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Run the backfill plan for the DAG params `from`, `to`, `outlets`, `stages`.

    `to` is inclusive when it is a day (as on the command line). The run resumes a crashed run
    of the same plan, so an Airflow retry continues where the previous try stopped.
    """
    from mediamon.plans import Plan, parse_moment, parse_stages, parse_window_end
    from mediamon.runner import run_plan
    from mediamon.services import load_outlets, open_services

    outlet_ids = _as_list(params.get("outlets"))
    plan = Plan.backfill(
        parse_moment(str(params["from"])),
        parse_window_end(str(params["to"])),
        outlet_ids,
        stages=parse_stages(_as_list(params.get("stages"))),
    )
    settings = settings_from_airflow()
    with open_services(settings) as services:
        result = run_plan(services, plan, load_outlets(settings, outlet_ids or None))
    return result.as_dict()


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence):
        return [str(part) for part in value if str(part).strip()]
    raise ConfigError(f"expected a list or a comma-separated string, not {value!r}")
