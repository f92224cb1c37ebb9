"""`mediamon eval topics`: topic-tagging and language-identification quality on a labelled set."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mediamon.evaluation.topics import evaluate_topics, format_topic_report, write_predictions
from mediamon.taxonomy_file import DEFAULT_TAXONOMY_PATH, load_compiled_taxonomy


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `topics` to `eval_app` (`mediamon eval topics`)."""
    del app  # no top-level command: `mediamon explain` needs the store and is wired by the CLI

    @eval_app.command("topics")
    def eval_topics_command(
        gold: Annotated[Path, typer.Argument(help="gold JSON Lines (topics/README.md format)")],
        dataset: Annotated[
            Path, typer.Option(help="folder holding manifest.json and the pages/ it lists")
        ],
        syndication: Annotated[
            Path | None, typer.Option(help="syndication JSON Lines that syndication_id refers to")
        ] = None,
        predictions: Annotated[
            Path | None, typer.Option(help="write {id, labels, language} lines here")
        ] = None,
        taxonomy: Annotated[
            Path, typer.Option(help="taxonomy YAML to tag with")
        ] = DEFAULT_TAXONOMY_PATH,
        as_json: Annotated[
            bool, typer.Option("--json", help="print JSON instead of tables")
        ] = False,
    ) -> None:
        """Score the pipeline's language id and topic tags (and the naive baseline) on GOLD."""
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        logging.getLogger("htmldate").setLevel(logging.ERROR)
        compiled = load_compiled_taxonomy(taxonomy)
        report, predicted = evaluate_topics(
            gold,
            dataset=dataset,
            syndication_path=syndication,
            compiled=compiled,
            now=datetime.now(UTC),
        )
        if predictions is not None:
            count = write_predictions(predictions, predicted)
            if not as_json:
                typer.echo(f"{count} predictions written to {predictions}")
        if as_json:
            typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=1))
        else:
            typer.echo(format_topic_report(report))
