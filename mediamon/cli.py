"""The `mediamon` command line. Settings come from `MEDIAMON_*` variables (see README)."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from schemas.errors import MediamonError

app = typer.Typer(
    help="mediamon: media-monitoring ingestion pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(
    help="Evaluate a stage of the pipeline on a labelled set.", no_args_is_help=True
)
db_app = typer.Typer(help="The SQL store.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(db_app, name="db")

console = Console()

# Sub-command modules; each exposes register(app, eval_app).
COMMAND_MODULES = (
    "mediamon.commands.extraction",
    "mediamon.commands.fetch",
    "mediamon.commands.topics",
    "mediamon.commands.stories",
    "mediamon.commands.report",
    "mediamon.commands.backfill",
    "mediamon.commands.crosslingual",
    "mediamon.commands.article",
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every step.")] = False,
) -> None:
    """Configure logging for every command."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo keeps its data.")] = None,
) -> None:
    """Run the whole chain on the bundled sample outlets (local search server, SQLite)."""
    from mediamon.demo import run_demo

    with _progress() as progress:
        task = progress.add_task("fetch + extract + tag", total=None)

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        console.print(
            "[bold]mediamon demo[/]: starting the local search server and the "
            "sample outlets on 127.0.0.1 ..."
        )
        summary = run_demo(data_dir, on_progress=on_progress)
    counts = summary.store_counts
    table = Table(title="mediamon demo: one ingest pass", show_header=False)
    table.add_row("outlets", str(counts["outlets"]))
    table.add_row(
        "links discovered (new this run)",
        f"{counts['discovered_urls']} ({summary.report.counts.get('links_new', 0)})",
    )
    table.add_row(
        "articles stored (new this run)",
        f"{counts['articles']} ({summary.report.counts.get('articles_new', 0)})",
    )
    table.add_row("article versions", str(counts["article_versions"]))
    table.add_row(
        "languages",
        ", ".join(f"{k} {v}" for k, v in sorted(summary.languages.items(), key=lambda kv: -kv[1])),
    )
    table.add_row("topic tags", str(counts["article_tags"]))
    table.add_row("stories (with copies)", f"{counts['stories']} ({summary.multi_member_stories})")
    table.add_row(
        "indexed articles / stories", f"{summary.indexed_articles} / {summary.indexed_stories}"
    )
    table.add_row("article indices", ", ".join(summary.article_indices))
    table.add_row("errors recorded this run", str(len(summary.report.errors)))
    console.print(table)
    console.print(f"SQL store: {summary.database}")
    console.print(f"Raw archive (WARC): {summary.data_dir / 'archive'}")
    console.print(
        f"Search data: {summary.search_data_dir}  (serve it again with "
        f"`make search-up`, then query http://127.0.0.1:9200/mediamon-articles/_search)"
    )
    console.print(f"Stories: `uv run mediamon stories --database-url '{summary.database}'`")


@app.command()
def run(
    outlet: Annotated[list[str] | None, typer.Option(help="Only these outlet ids.")] = None,
) -> None:
    """One live pass over the registry: discover, fetch (extract, tag, store), cluster, index."""
    from mediamon.runner import ingest
    from mediamon.services import load_outlets, open_services
    from mediamon.settings import load_settings

    settings = load_settings()
    with open_services(settings) as services, _progress() as progress:
        task = progress.add_task("fetch + extract + tag", total=None)
        report = ingest(
            services,
            load_outlets(settings, outlet),
            on_progress=lambda _s, done, total: progress.update(task, completed=done, total=total),
        )
    _print_report(report.counts, len(report.errors))


@app.command()
def index(
    full: Annotated[
        bool, typer.Option(help="Re-send every article, not only pending ones.")
    ] = False,
    reconcile: Annotated[
        bool,
        typer.Option(
            help="First check by id that the index still holds what the store "
            "recorded as indexed, and re-queue what it lost."
        ),
    ] = False,
) -> None:
    """Send what the search index is missing (or everything with --full) from the store."""
    from mediamon.reindex import catch_up
    from mediamon.services import open_services
    from mediamon.settings import load_settings
    from mediamon.stages import index_pending

    settings = load_settings()
    if not settings.search_url:
        raise MediamonError("MEDIAMON_ES_URL is not set: no search cluster to index into")
    with open_services(settings) as services:
        if full:
            services.store.reset_index_state()
        report = catch_up(services) if reconcile else index_pending(services)
    _print_report(report.counts, len(report.errors))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the SQL store to the newest schema."""
    from mediamon.services import open_services
    from mediamon.settings import load_settings

    settings = load_settings()
    with open_services(settings, with_search=False):
        pass  # opening migrates the store
    console.print(f"store at {settings.database_display} is up to date")


@app.command()
def outlets() -> None:
    """Show each outlet source's health: last success, consecutive failures, last error."""
    from mediamon.services import open_services
    from mediamon.settings import load_settings

    with open_services(load_settings(), with_search=False) as services:
        health = services.store.outlet_health()
    table = Table(title="outlet sources")
    for column in ("outlet", "kind", "url", "last success", "failures", "last error"):
        table.add_column(column)
    for row in health:
        error = f"{row.last_error_kind}: {row.last_error_message}" if row.last_error_kind else ""
        # Text, never markup: a URL or error message from the network may hold "[/]".
        table.add_row(
            *(
                Text(value)
                for value in (
                    row.outlet_id,
                    row.kind,
                    row.url,
                    str(row.last_success_at or "never"),
                    str(row.consecutive_failures),
                    error[:80],
                )
            )
        )
    console.print(table)


@app.command()
def explain(article_id: str) -> None:
    """Print why an article got each of its topic tags (terms, field, position, weight)."""
    from mediamon.services import open_services
    from mediamon.settings import load_settings
    from transforms.topics import format_tag_explanation

    # An existing store is read as it is: explaining never migrates it.
    with open_services(load_settings(), with_search=False, migrate=False) as services:
        store = services.store
        summary = store.article_summary(article_id)
        # Titles, URLs and ids come from the network or the command line: Text, never markup.
        if summary is None:
            console.print(Text(f"no article with id {article_id}", style="red"))
            raise typer.Exit(1)
        console.print(Text(summary.title or "(no title)", style="bold"))
        console.print(Text(f"{summary.outlet_id}  {summary.canonical_url}"))
        console.print(
            Text(
                f"language: {summary.language} (confidence {summary.language_confidence or 0:.2f})"
            )
        )
        console.print(format_tag_explanation(store.article_tags(article_id)), markup=False)


def _print_report(counts: dict[str, int], errors: int) -> None:
    table = Table(show_header=False)
    for key, value in sorted(counts.items()):
        table.add_row(key, str(value))
    table.add_row("errors recorded", str(errors))
    console.print(table)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app, eval_app)


_register_commands()


def entrypoint() -> None:
    """Run the app, turning pipeline errors into a one-line message and exit code 1."""
    try:
        app()
    except MediamonError as error:
        # The message may quote a URL or a server's answer: Text, never markup.
        console.print(Text.assemble(("error", "red"), f" ({error.kind}): {error.message}"))
        raise SystemExit(1) from error
