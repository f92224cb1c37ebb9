"""`mediamon report`, `mediamon reindex` and `mediamon kibana-import`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from schemas.errors import MediamonError


def _day(value: str | None, option: str, *, end: bool = False) -> datetime | None:
    """`mediamon.plans`' parser as a command-line option: None passes through, a bad value is a
    usage error naming the option. With `end`, a bare day is included whole."""
    from mediamon.plans import parse_moment, parse_window_end

    if value is None:
        return None
    try:
        return parse_window_end(value) if end else parse_moment(value)
    except MediamonError as error:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from error


# The publication-day range both `report` and `reindex` take (UTC days, both inclusive).
FromDay = Annotated[
    str | None, typer.Option("--from", help="first publication day (UTC, YYYY-MM-DD), inclusive")
]
ToDay = Annotated[
    str | None, typer.Option("--to", help="last publication day (UTC, YYYY-MM-DD), inclusive")
]


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `report`, `reindex` and `kibana-import` to `app` (no eval sub-commands)."""

    @app.command("report")
    def report_command(
        out: Annotated[Path, typer.Option(help="HTML file to write")],
        date_from: FromDay = None,
        date_to: ToDay = None,
        topic: Annotated[
            str | None, typer.Option(help="only articles tagged with this topic (or a sub-topic)")
        ] = None,
    ) -> None:
        """Write a static, self-contained HTML report (no Elasticsearch needed)."""
        from mediamon.report import ReportOptions, write_report
        from mediamon.services import open_services
        from mediamon.settings import load_settings

        settings = load_settings()
        start = _day(date_from, "--from")
        end = _day(date_to, "--to", end=True)
        try:
            with open_services(settings, with_search=False) as services:
                summary = write_report(services.store, out, ReportOptions(start, end, topic))
        except MediamonError as error:
            typer.echo(f"report failed ({error.kind}): {error.message}", err=True)
            raise typer.Exit(1) from error
        typer.echo(
            f"wrote {out}: {summary.articles} articles, {summary.outlets} outlets, "
            f"{summary.stories} multi-outlet stories"
        )

    @app.command("reindex")
    def reindex_command(
        date_from: FromDay = None,
        date_to: ToDay = None,
        rollout_: Annotated[
            bool,
            typer.Option(
                "--rollout", help="build indices for the code's schema version and swap aliases"
            ),
        ] = False,
    ) -> None:
        """Re-send a publication range from the store to the index, or roll out a new schema."""
        from mediamon.reindex import reindex_range, rollout
        from mediamon.services import open_services
        from mediamon.settings import load_settings

        settings = load_settings()
        if not settings.search_url:
            typer.echo("MEDIAMON_ES_URL is not set: there is no index to rebuild", err=True)
            raise typer.Exit(2)
        try:
            with open_services(settings) as services:
                if rollout_:
                    result = rollout(services)
                    if not result.swapped:
                        typer.echo(f"aliases already on schema v{result.version}: nothing to do")
                        return
                    typer.echo(
                        f"rolled out v{result.version}: {result.articles} articles, "
                        f"{result.stories} stories; removed {len(result.old_indices)} "
                        "old indices"
                    )
                    return
                report = reindex_range(
                    services, _day(date_from, "--from"), _day(date_to, "--to", end=True)
                )
        except MediamonError as error:
            typer.echo(f"reindex failed ({error.kind}): {error.message}", err=True)
            raise typer.Exit(1) from error
        counts = report.counts
        typer.echo(
            f"reset {counts.get('articles_reset', 0)} articles; indexed "
            f"{counts.get('articles_indexed', 0)} articles and "
            f"{counts.get('stories_indexed', 0)} stories"
        )
        for failure in report.errors:
            typer.echo(f"  {failure.kind} {failure.where}: {failure.message}", err=True)
        if report.errors:
            raise typer.Exit(1)

    @app.command("kibana-import")
    def kibana_import_command(
        kibana_url: Annotated[
            str, typer.Option(help="Kibana base URL", envvar="MEDIAMON_KIBANA_URL")
        ],
        space: Annotated[str | None, typer.Option(help="Kibana space id")] = None,
        file: Annotated[
            Path | None,
            typer.Option(help="NDJSON to import (default: generated from the code, as committed)"),
        ] = None,
        username: Annotated[str | None, typer.Option(envvar="MEDIAMON_KIBANA_USERNAME")] = None,
        password: Annotated[
            str | None, typer.Option(envvar="MEDIAMON_KIBANA_PASSWORD", hidden=True)
        ] = None,
        api_key: Annotated[
            str | None, typer.Option(envvar="MEDIAMON_KIBANA_API_KEY", hidden=True)
        ] = None,
    ) -> None:
        """Import the data views, Lens visualisations and dashboards into Kibana (overwrite)."""
        from connectors.kibana import KibanaSettings, import_saved_objects
        from mediamon.kibana.renderer import saved_objects_ndjson

        ndjson = file.read_text(encoding="utf-8") if file else saved_objects_ndjson()
        settings = KibanaSettings(
            url=kibana_url, space=space, username=username, password=password, api_key=api_key
        )
        try:
            result = import_saved_objects(settings, ndjson)
        except MediamonError as error:
            typer.echo(f"kibana import failed ({error.kind}): {error.message}", err=True)
            raise typer.Exit(1) from error
        typer.echo(f"imported {result.get('successCount', 0)} saved objects into {kibana_url}")
