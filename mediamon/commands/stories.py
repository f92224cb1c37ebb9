"""`mediamon stories` (list story clusters) and `mediamon eval stories` (labelled-set score)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def _console() -> Console:
    # Created per call so the width follows the terminal (or COLUMNS) of this invocation.
    return Console()


def _parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _show_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "undated"


def format_lag(lag: timedelta | None) -> str:
    """Return a lag as `+1d 02:03:04` / `+00:00:07` / `-00:05:00` (`?` when unknown)."""
    if lag is None:
        return "?"
    sign = "-" if lag < timedelta(0) else "+"
    seconds = int(abs(lag.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{sign}{days}d {clock}" if days else f"{sign}{clock}"


def stories_command(
    topic: Annotated[str | None, typer.Option(help="Only stories with a member tagged so.")] = None,
    outlet: Annotated[
        str | None, typer.Option(help="Only stories with a member of this outlet.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First publication >= (ISO 8601).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="First publication < (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many stories.")] = 50,
    include_singletons: Annotated[
        bool, typer.Option(help="Also list one-article stories.")
    ] = False,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
) -> None:
    """List stories: the origin, every copy with its lag behind the origin, relation and score."""
    from connectors.store import Store
    from connectors.story_store import list_stories

    if database_url is None:
        from mediamon.settings import load_settings

        database_url = load_settings().database_url
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            listings = list_stories(
                conn,
                topic=topic,
                outlet_id=outlet,
                published_from=_parse_when(from_),
                published_to=_parse_when(to),
                min_members=1 if include_singletons else 2,
                limit=limit,
            )
    finally:
        store.dispose()
    console = _console()
    if not listings:
        console.print("no stories match")
        return
    for listing in listings:
        origin = listing.origin
        when = _show_time(origin.published_at)
        table = Table(
            title=f"story {listing.story_id[:12]} — {origin.title or '(no title)'}",
            title_justify="left",
        )
        for column in (
            "role",
            "outlet",
            "lang",
            "published",
            "lag",
            "relation",
            "score",
            "matched",
            "url",
        ):
            table.add_column(column, overflow="fold")
        table.add_row(
            "origin",
            origin.outlet_id,
            origin.language or "",
            when,
            "",
            "origin",
            "",
            "",
            origin.url,
        )
        for copy in listing.copies:
            table.add_row(
                "copy",
                copy.outlet_id,
                copy.language or "",
                _show_time(copy.published_at),
                format_lag(copy.lag),
                copy.relation,
                f"{copy.score:.2f}",
                (copy.matched_article_id or "")[:10],
                copy.url,
            )
        console.print(table)


def eval_stories_command(
    gold: Annotated[Path, typer.Argument(help="Labelled JSON Lines (syndication format).")],
    predictions: Annotated[Path, typer.Option(help="Where to write {id, cluster, origin} lines.")],
    database_url: Annotated[
        str | None,
        typer.Option(help="Store to cluster through (default: a fresh temporary SQLite file)."),
    ] = None,
    score_script: Annotated[
        Path | None, typer.Option(help="score.py of the set (default: next to GOLD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON reports.")] = False,
    crosslingual: Annotated[
        bool, typer.Option(help="Match translations with the multilingual encoder.")
    ] = True,
) -> None:
    """Cluster GOLD's documents through the store; print score.py's metrics next to the baseline."""
    from mediamon.evaluation.stories import evaluate_stories

    console = _console()
    from mediamon.clustering import ClusteringOptions

    report = evaluate_stories(
        gold,
        predictions,
        database_url=database_url,
        score_script=score_script,
        options=ClusteringOptions(crosslingual=crosslingual),
    )
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "pipeline": report.pipeline,
                    "baseline": report.baseline,
                    "counts": report.counts,
                    "seconds": report.seconds,
                }
            )
        )
        return
    table = Table(
        title=f"stories on {gold.name} ({report.pipeline['n_docs']} documents; "
        f"store {report.database_url}; {report.seconds:.1f} s)"
    )
    table.add_column("metric")
    table.add_column("pipeline", justify="right")
    table.add_column("baseline: MinHash 2-gram/256/LSH 0.45", justify="right")
    pipe, base = report.pipeline, report.baseline
    for key in ("precision", "recall", "f1"):
        table.add_row(
            f"pairwise {key}", f"{pipe['pairwise'][key]:.4f}", f"{base['pairwise'][key]:.4f}"
        )
    for relation in sorted(pipe["pairwise_by_relation"]):
        ours = pipe["pairwise_by_relation"][relation]
        theirs = base["pairwise_by_relation"].get(relation, {})
        table.add_row(
            f"recall {relation} ({ours['gold_pairs']} pairs)",
            f"{ours['recall']:.4f}",
            f"{theirs.get('recall', 0.0):.4f}",
        )
    table.add_row(
        "false pairs touching unrelated",
        str(pipe["false_pairs_touching_unrelated"]),
        str(base["false_pairs_touching_unrelated"]),
    )
    table.add_row("B-cubed F1", f"{pipe['bcubed']['f1']:.4f}", f"{base['bcubed']['f1']:.4f}")
    table.add_row("ARI", f"{pipe['ari']:.4f}", f"{base['ari']:.4f}")
    table.add_row(
        "origin accuracy", f"{pipe['origin_accuracy']:.4f}", f"{base['origin_accuracy']:.4f}"
    )
    console.print(table)
    console.print(f"predictions written to {predictions}")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `stories` to the app and `stories` to the eval sub-app."""
    app.command("stories")(stories_command)
    eval_app.command("stories")(eval_stories_command)
