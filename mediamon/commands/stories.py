"""`mediamon stories` (list), `mediamon story ID` (audit one) and `mediamon eval stories`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from rich.text import Text

from mediamon.lags import format_lag
from mediamon.plans import parse_moment, parse_window_end

if TYPE_CHECKING:
    from connectors.store import Store
    from connectors.story_audit import AuditMember, StoryAudit
    from mediamon.evaluation.stories import FalseMerge

# Edges across gold stories printed per merge; --json carries all of them.
EDGES_SHOWN = 8


def _console() -> Console:
    # Created per call so the width follows the terminal (or COLUMNS) of this invocation.
    return Console()


@contextmanager
def _read_store(database_url: str | None) -> Iterator[Store]:
    """The store of the settings (or of `--database-url`), opened through the services, as is."""
    from mediamon.services import open_services
    from mediamon.settings import load_settings

    settings = load_settings()
    if database_url is not None:
        settings = replace(settings, database_url=database_url)
    with open_services(settings, with_search=False, migrate=False) as services:
        yield services.store


def _show_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "undated"


def stories_command(
    topic: Annotated[str | None, typer.Option(help="Only stories with a member tagged so.")] = None,
    outlet: Annotated[
        str | None, typer.Option(help="Only stories with a member of this outlet.")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="First publication on or after this day or ISO time."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Last day included (YYYY-MM-DD), or an exclusive ISO time."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many stories.")] = 50,
    include_singletons: Annotated[
        bool, typer.Option(help="Also list one-article stories.")
    ] = False,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
) -> None:
    """List stories: the origin, every copy with its lag behind the origin, relation and score."""
    from connectors.story_store import list_stories

    with _read_store(database_url) as store, store.engine.connect() as conn:
        listings = list_stories(
            conn,
            topic=topic,
            outlet_id=outlet,
            published_from=parse_moment(from_) if from_ else None,
            published_to=parse_window_end(to) if to else None,
            min_members=1 if include_singletons else 2,
            limit=limit,
        )
    console = _console()
    if not listings:
        console.print("no stories match")
        return
    for listing in listings:
        origin = listing.origin
        when = _show_time(origin.published_at)
        # Titles and URLs come from the network: Text, never markup ("[/]" in a title).
        table = Table(
            title=Text(f"story {listing.story_id[:12]} — {origin.title or '(no title)'}"),
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
            Text(origin.language or ""),
            when,
            "",
            "origin",
            "",
            "",
            Text(origin.url),
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
                Text(copy.url),
            )
        console.print(table)


def _elide(value: str, width: int) -> str:
    """Fold `value` to one line and cut it to `width` characters, marking a cut with `…`."""
    value = " ".join(value.split())
    return value if len(value) <= width else value[: max(width - 1, 0)] + "…"


def _cut(line: str, width: int) -> str:
    """Cut an already laid-out line to `width` characters (its spacing kept)."""
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def _field(value: str, width: int) -> str:
    return f"{_elide(value, width):<{width}}"


def _json_line(evidence: dict[str, Any], width: int) -> str:
    return _elide(json.dumps(evidence, ensure_ascii=False, sort_keys=True), width)


# Relation names cut to the 7-character column (translation is the only longer one).
SHORT_RELATION = {"translation": "transl."}


def format_worst_merges(merges: Sequence[FalseMerge], total: int, width: int = 80) -> list[str]:
    """Render false merges as plain lines of at most `width` characters, worst first.

    Per merge: its members (doc id, outlet, language, gold story, relation, score, the member
    it was matched to) and the stored edges inside it that join different gold stories, with
    their evidence JSON cut to one line.
    """
    if not merges:
        return ["no false merges: no predicted story joins different gold stories"]
    lines = [
        _elide(
            f"worst false merges: {len(merges)} of {total} predicted stories that join "
            "different gold stories",
            width,
        )
    ]
    for rank, merge in enumerate(merges, 1):
        negatives = f" + {merge.negatives} negatives" if merge.negatives else ""
        lines.append("")
        lines.append(
            _elide(
                f"#{rank} story {merge.story_id[:12]}: {merge.false_pairs} false pairs; "
                f"{len(merge.members)} members of {merge.gold_stories} gold stories{negatives}",
                width,
            )
        )
        lines.append(
            _cut(
                f"  {'doc':<17} {'outlet':<13} {'lng':<3} {'gold story':<12} {'rel':<7} "
                f"{'scr':>4} matched to",
                width,
            )
        )
        for member in merge.members:
            gold = member.gold_story if member.gold_story is not None else "(negative)"
            relation = "origin" if member.is_origin else member.relation
            score = "" if member.is_origin else f"{member.score:.2f}"
            lines.append(
                _cut(
                    f"  {_field(member.doc_id, 17)} {_field(member.outlet, 13)} "
                    f"{_field(member.language or '?', 3)} {_field(gold, 12)} "
                    f"{_field(SHORT_RELATION.get(relation, relation), 7)} {score:>4} "
                    f"{_elide(member.matched_doc_id or '', 16)}",
                    width,
                ).rstrip()
            )
        false_edges = [edge for edge in merge.edges if edge.false]
        lines.append(
            "  "
            + _elide(
                f"stored edges joining different gold stories: {len(false_edges)} of "
                f"{len(merge.edges)} inside the story",
                width - 2,
            )
        )
        for edge in false_edges[:EDGES_SHOWN]:
            tag = " (a member's match)" if edge.matched else ""
            lines.append(
                "  "
                + _elide(
                    f"{edge.doc_id} ~ {edge.other_doc_id}: {edge.relation} {edge.score:.3f}{tag}",
                    width - 2,
                )
            )
            lines.append("    " + _json_line(edge.evidence, width - 4))
        if len(false_edges) > EDGES_SHOWN:
            lines.append(f"  … {len(false_edges) - EDGES_SHOWN} more (all of them in --json)")
    return lines


def _progress_bar() -> Progress:
    # On stderr, so --json output on stdout stays machine-readable.
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


PROGRESS_LABELS = {
    "save": "save articles",
    "cluster": "assign stories",
    "baseline": "MinHash baseline",
}


def eval_stories_command(
    gold: Annotated[Path, typer.Argument(help="Labelled JSON Lines (syndication format).")],
    predictions: Annotated[Path, typer.Option(help="Where to write {id, cluster, origin} lines.")],
    database_url: Annotated[
        str | None,
        typer.Option(help="Store to cluster through (default: a fresh temporary SQLite file)."),
    ] = None,
    score_script: Annotated[
        Path | None,
        typer.Option(
            help="score.py of the set (default: beside GOLD, else the syndication-real one, "
            "else the syndication one)."
        ),
    ] = None,
    one_day: Annotated[
        bool,
        typer.Option(
            "--one-day",
            help="Put every article on one day: no publication time, no URL date (the "
            "requested URL is a synthetic .invalid one, the canonical URL stays real), all "
            "first seen at the same moment. In production an undated article is filed under "
            "its first-seen time, so a busy day lands in one window: the worst case for "
            "precision. The baseline gets no dates either.",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the whole evaluation (metrics, worst merges) as JSON."),
    ] = False,
    crosslingual: Annotated[
        bool, typer.Option(help="Match translations with the multilingual encoder.")
    ] = True,
) -> None:
    """Cluster GOLD's documents through the store; print score.py's metrics next to the baseline.

    Then the ten worst false merges (predicted stories joining different gold stories), with
    their members and the stored edges that joined them, for audit. url, title and published_at
    may be null in GOLD; a null url gets a synthetic one from outlet and id.
    """
    from mediamon.clustering import ClusteringOptions
    from mediamon.evaluation.stories import evaluate_stories, find_score_script

    script = find_score_script(gold, score_script)
    with _progress_bar() as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(PROGRESS_LABELS.get(stage, stage), total=total)
            progress.update(tasks[stage], completed=done, total=total)

        report = evaluate_stories(
            gold,
            predictions,
            database_url=database_url,
            score_script=script,
            options=ClusteringOptions(crosslingual=crosslingual),
            one_day=one_day,
            on_progress=on_progress,
        )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
        return
    console = _console()
    pipe, base = report.pipeline, report.baseline
    console.print(
        f"stories on {gold.name}: {pipe['n_docs']} documents"
        f"{', all on one day' if report.one_day else ''}; {report.seconds:.1f} s; "
        f"scored by {report.score_script}",
        markup=False,
    )
    table = Table()
    table.add_column("metric")
    table.add_column("pipeline", justify="right")
    table.add_column("MinHash baseline", justify="right")

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    for key in ("precision", "recall", "f1"):
        table.add_row(
            f"pairwise {key}", number(pipe["pairwise"][key]), number(base["pairwise"][key])
        )
    for relation in sorted(pipe["pairwise_by_relation"]):
        ours = pipe["pairwise_by_relation"][relation]
        theirs = base["pairwise_by_relation"].get(relation, {})
        table.add_row(
            f"{relation} recall ({ours['gold_pairs']} pairs)",
            number(ours["recall"]),
            number(theirs.get("recall")),
        )
        if "precision" in ours:
            table.add_row(
                f"{relation} precision", number(ours["precision"]), number(theirs.get("precision"))
            )
    table.add_row(
        "false pairs touching unrelated",
        str(pipe["false_pairs_touching_unrelated"]),
        str(base["false_pairs_touching_unrelated"]),
    )
    for key in ("precision", "recall", "f1"):
        table.add_row(f"B-cubed {key}", number(pipe["bcubed"][key]), number(base["bcubed"][key]))
    table.add_row("ARI", number(pipe["ari"]), number(base["ari"]))
    table.add_row(
        f"origin accuracy ({pipe.get('n_origin_stories', '?')} stories)",
        number(pipe["origin_accuracy"]),
        number(base["origin_accuracy"]),
    )
    console.print(table)
    for line in format_worst_merges(report.worst_merges, report.false_merge_count):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"predictions written to {predictions}", markup=False)


def story_command(
    reference: Annotated[
        str, typer.Argument(metavar="ID", help="A story id, or any member's article id.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the story as JSON.")] = False,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
) -> None:
    """Audit one story: the origin, then every member with its lag, match and admitting edge.

    ID may be a story id, a member's article id, or a unique prefix of either (6+ characters,
    as `mediamon stories` shows them). Lags are against the origin's publication time (first
    seen when undated). An unknown id prints one line and exits with 1.
    """
    from connectors.story_audit import AmbiguousReference, audit_story, resolve_story_id

    console = _console()
    with _read_store(database_url) as store, store.engine.connect() as conn:
        try:
            story_id = resolve_story_id(conn, reference)
        except AmbiguousReference as error:
            console.print(f"error: {error}", markup=False)
            raise typer.Exit(1) from error
        audit = audit_story(conn, story_id) if story_id is not None else None
    if audit is None:
        console.print(f"error: no story or article with id {reference}", markup=False)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(story_as_dict(audit), ensure_ascii=False, indent=1))
        return
    for line in format_story(audit):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _member_as_dict(member: AuditMember) -> dict[str, Any]:
    data = asdict(member)
    for key in ("published_at", "first_seen_at"):
        data[key] = data[key].isoformat() if data[key] else None
    data["lag_seconds"] = member.lag.total_seconds() if member.lag is not None else None
    data["lag"] = format_lag(member.lag) if member.lag is not None else None
    return data


def story_as_dict(audit: StoryAudit) -> dict[str, Any]:
    """The audit view as JSON-able data: story id, origin, members (with edges), all edges."""
    return {
        "story_id": audit.story_id,
        "origin": _member_as_dict(audit.origin),
        "members": [_member_as_dict(m) for m in audit.members],
        "edges": [asdict(e) for e in audit.edges],
    }


def format_story(audit: StoryAudit, width: int = 80) -> list[str]:
    """Render the audit view as plain lines of at most `width` characters.

    The origin first, then each member: outlet, language, time (published, or `seen` when only
    the first-seen time is known), lag, relation, score, the member it was matched to, and the
    evidence of the stored edge that admitted it.
    """
    origin = audit.origin
    short = {m.article_id: m.article_id[:10] for m in (origin, *audit.members)}

    def when(member: AuditMember) -> str:
        shown = _show_time(member.filed_at)
        return shown if member.dated else f"{shown} seen"

    lines = [
        _elide(f"story {audit.story_id}: {1 + len(audit.members)} members", width),
        _elide(
            f"origin {origin.article_id[:10]}  {origin.outlet_id}  {origin.language or '?'}  "
            f"{when(origin)}",
            width,
        ),
        "  " + _elide(origin.title or "(no title)", width - 2),
        "  " + _elide(origin.url, width - 2),
    ]
    for member in audit.members:
        matched = member.matched_article_id
        named = "-" if matched is None else short.get(matched, matched[:10])
        if matched == origin.article_id:
            named += " (origin)"
        lines.append("")
        lines.append(
            _elide(
                f"{member.article_id[:10]}  {member.outlet_id}  {member.language or '?'}  "
                f"{when(member)}  lag {format_lag(member.lag)}",
                width,
            )
        )
        lines.append(
            "  " + _elide(f"{member.relation} {member.score:.3f}, matched to {named}", width - 2)
        )
        lines.append("  " + _elide(member.title or "(no title)", width - 2))
        lines.append("  " + _elide(member.url, width - 2))
        if member.edge is not None:
            head = f"edge {member.edge.relation} {member.edge.score:.3f}: "
            lines.append("  " + head + _json_line(member.edge.evidence, width - 2 - len(head)))
        else:
            head = "no stored edge to it; membership evidence: "
            lines.append("  " + head + _json_line(member.evidence, width - 2 - len(head)))
    return lines


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `stories` and `story` to the app and `stories` to the eval sub-app."""
    app.command("stories")(stories_command)
    app.command("story")(story_command)
    eval_app.command("stories")(eval_stories_command)
