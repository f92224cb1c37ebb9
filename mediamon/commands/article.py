"""`mediamon article ID [--versions] [--json]`: one article's versions, what changed, removals."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from connectors.store import ArticleHistory
from transforms.versions import VersionChange, diff_lines

console = Console(highlight=False, soft_wrap=True)


def history_document(history: ArticleHistory) -> dict[str, Any]:
    """The JSON form of an article's history: every version with its diff to the previous one."""
    versions: list[dict[str, Any]] = []
    previous = None
    for number, version in enumerate(history.versions, start=1):
        versions.append(
            {
                "number": number,
                "id": version.id,
                "extracted_at": version.extracted_at.isoformat(),
                "current": version.id == history.current_version_id,
                "title": version.content.title,
                "chars": len(version.content.text),
                "changes": version.changes,
                "diff": (
                    diff_lines(
                        previous.content,
                        version.content,
                        old_label=f"v{number - 1}",
                        new_label=f"v{number}",
                    )
                    if previous is not None
                    else []
                ),
            }
        )
        previous = version
    return {
        "article_id": history.article_id,
        "outlet_id": history.outlet_id,
        "canonical_url": history.canonical_url,
        "first_seen_at": history.first_seen_at.isoformat(),
        "version_count": len(history.versions),
        "removed_at": history.removed_at.isoformat() if history.removed_at else None,
        "versions": versions,
        "events": [
            {"kind": kind, "at": at.isoformat(), "status": status}
            for kind, at, status in history.events
        ],
    }


def _describe(changes: dict[str, Any] | None, chars: int) -> str:
    if changes is None:
        return f"first version, {chars:,} chars"
    return VersionChange(**changes).describe()


def print_history(document: dict[str, Any], *, with_versions: bool) -> None:
    """Print a history document for people (network text as Text, never markup)."""
    current = next((v for v in document["versions"] if v["current"]), None)
    console.print(Text((current or {}).get("title") or "(no title)", style="bold"))
    console.print(Text(f"{document['outlet_id']}  {document['canonical_url']}"))
    console.print(
        Text(
            f"id {document['article_id']}  first seen {document['first_seen_at']}  "
            f"versions {document['version_count']}"
            + (f"  removed {document['removed_at']}" if document["removed_at"] else "")
        )
    )
    if not with_versions:
        return
    for version in document["versions"]:
        console.print(
            Text.assemble(
                (f"v{version['number']}  {version['extracted_at']}", "bold"),
                "  " + _describe(version["changes"], version["chars"]),
            )
        )
        for line in version["diff"]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(Text("    " + line, style=style))
    for event in document["events"]:
        status = f" (HTTP {event['status']})" if event["status"] else ""
        console.print(Text(f"{event['kind']}  {event['at']}{status}", style="yellow"))


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `article` to `app` (no evaluation command)."""

    @app.command("article")
    def article_command(
        article_id: Annotated[str, typer.Argument(help="article id (or a unique prefix of it)")],
        versions: Annotated[
            bool, typer.Option("--versions", help="every version with a diff of title and text")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON for tools")] = False,
    ) -> None:
        """Print an article's versions over time, what changed in each, and its removal."""
        from mediamon.services import open_services
        from mediamon.settings import load_settings

        with open_services(load_settings(), with_search=False, migrate=False) as services:
            resolved = services.store.resolve_article_id(article_id)
            history = services.store.article_history(resolved) if resolved else None
        if history is None:
            console.print(Text(f"no article with id {article_id}", style="red"))
            raise typer.Exit(1)
        document = history_document(history)
        if as_json:
            typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
            return
        print_history(document, with_versions=versions)
