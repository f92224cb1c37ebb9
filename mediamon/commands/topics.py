"""`mediamon tag` (tag one text, explain why) and `mediamon eval topics` (quality on a gold set)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mediamon.evaluation.topics import evaluate_topics, format_topic_report, write_predictions
from mediamon.taxonomy_file import DEFAULT_TAXONOMY_PATH, load_compiled_taxonomy
from transforms.language import identify_language
from transforms.topics import format_tag_explanation, tag_topics


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `tag` to `app` and `topics` to `eval_app` (`mediamon eval topics`)."""

    @app.command("tag")
    def tag_command(
        text_file: Annotated[
            Path | None, typer.Argument(help="file with the article text ('-' or none: --text)")
        ] = None,
        title: Annotated[str | None, typer.Option(help="the headline")] = None,
        text: Annotated[
            str, typer.Option(help="the article text, paragraphs split by blank lines")
        ] = "",
        hint: Annotated[str | None, typer.Option(help="the page's declared language")] = None,
        taxonomy: Annotated[Path, typer.Option(help="taxonomy YAML")] = DEFAULT_TAXONOMY_PATH,
    ) -> None:
        """Identify the language of a text, tag its topics and print the words behind each tag."""
        if text_file is not None:
            text = text_file.read_text(encoding="utf-8")
        guess = identify_language(f"{title or ''}\n{text}".strip(), hint=hint)
        tags = tag_topics(
            load_compiled_taxonomy(taxonomy), title=title, text=text, language=guess.language
        )
        typer.echo(f"language: {guess.language} (confidence {guess.confidence:.3f})")
        typer.echo(format_tag_explanation(tags))

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
