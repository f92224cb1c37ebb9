"""`mediamon backfill`: rebuild a date range (resumable, idempotent); works without Airflow."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from mediamon.plans import STAGES

# For --help: `mediamon.plans` is light, so start-up does not import the pipeline.
STAGE_NAMES = ",".join(STAGES)

console = Console()


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `backfill` and `serve-samples` to `app` (no evaluation command)."""

    @app.command("serve-samples")
    def serve_samples_command(
        registry: Annotated[
            Path, typer.Option(help="where to write the registry (outlets.yaml) of the samples")
        ],
        base_port: Annotated[
            int | None,
            typer.Option(help="port of the first outlet (default: MEDIAMON_SAMPLES_BASE_PORT)"),
        ] = None,
    ) -> None:
        """Serve the bundled sample outlets on 127.0.0.1 until Ctrl-C (for local Airflow runs).

        Point `MEDIAMON_REGISTRY` at the written registry and set `MEDIAMON_ALLOW_PRIVATE=1`.
        """
        from connectors.samples import serve_samples
        from mediamon.settings import load_settings

        port = base_port if base_port is not None else load_settings().samples_base_port
        with serve_samples(base_port=port) as samples:
            samples.write_registry(registry)
            console.print(
                f"{len(samples.base_urls)} sample outlets on 127.0.0.1:{port}.. ; "
                f"registry written to {registry}; Ctrl-C stops them"
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("stopped")

    @app.command("backfill")
    def backfill_command(
        date_from: Annotated[
            str, typer.Option("--from", help="first day (YYYY-MM-DD) or ISO timestamp, included")
        ],
        date_to: Annotated[
            str, typer.Option("--to", help="last day (YYYY-MM-DD, included) or ISO timestamp")
        ],
        outlet: Annotated[
            list[str] | None, typer.Option("--outlet", help="only this outlet id (repeatable)")
        ] = None,
        stages: Annotated[
            str, typer.Option(help=f"comma-separated subset of {STAGE_NAMES} (default: all)")
        ] = STAGE_NAMES,
        restart: Annotated[
            bool, typer.Option("--restart", help="ignore the checkpoint of a crashed run")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON summary")] = False,
    ) -> None:
        """Discover, fetch what is missing, re-extract, tag, cluster and index a date range.

        A day given as `--to` is included (the range ends at the next midnight UTC). A crashed
        run resumes where it stopped when started again with the same arguments.
        """
        from mediamon.plans import Plan, parse_moment, parse_stages, parse_window_end
        from mediamon.runner import run_plan
        from mediamon.services import load_outlets, open_services
        from mediamon.settings import load_settings

        start = parse_moment(date_from)
        end = parse_window_end(date_to)
        settings = load_settings()
        outlets = load_outlets(settings, outlet)
        plan = Plan.backfill(
            start=start,
            end=end,
            outlet_ids=tuple(sorted(outlet or [])),
            stages=parse_stages(stages),
        )
        with open_services(settings) as services:
            if as_json:
                result = run_plan(services, plan, outlets, restart=restart)
            else:
                with _progress() as progress:
                    tasks: dict[str, TaskID] = {}

                    def on_progress(stage: str, done: int, total: int) -> None:
                        if stage not in tasks:
                            tasks[stage] = progress.add_task(stage, total=total)
                        progress.update(tasks[stage], completed=done, total=total)

                    result = run_plan(
                        services, plan, outlets, on_progress=on_progress, restart=restart
                    )
        summary = result.as_dict()
        if as_json:
            typer.echo(json.dumps(summary, sort_keys=True))
            return
        table = Table(title=f"backfill {start.date()} .. {end.isoformat()}", show_header=False)
        table.add_row("run id", str(summary["run_id"]))
        table.add_row("resumed at stage", str(summary["resumed_at"] or "-"))
        table.add_row("stages run", ", ".join(summary["stages_run"]) or "-")
        table.add_row("links in range", str(summary["links_in_range"]))
        table.add_row("articles in range", str(summary["articles_in_range"]))
        for key, value in summary["counts"].items():
            table.add_row(key, str(value))
        table.add_row("errors recorded", str(summary["errors"]))
        console.print(table)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
