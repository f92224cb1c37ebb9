"""`mediamon extract` and `mediamon eval extraction`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mediamon.evaluation.extraction import (
    evaluate_extraction,
    fixture_page,
    format_report,
    predict_pipeline,
    reports_as_json,
)


def extract_manifest(manifest: Path, out: Path, *, now: datetime) -> tuple[int, int]:
    """Extract every page listed in `manifest`; write one JSON line per page to `out`.

    Returns (pages written, pages whose extraction failed). A failed page still gets a line, with
    empty text and an `error` field naming the kind and reason.
    """
    root = manifest.parent
    rows = json.loads(manifest.read_text(encoding="utf-8"))
    written = failed = 0
    with out.open("w", encoding="utf-8") as stream:
        for row in rows:
            if row.get("kind", "page") != "page":
                continue
            page = fixture_page(root, row["file"], row.get("url"), now=now)
            prediction = predict_pipeline(page, row["file"])
            stream.write(json.dumps(prediction.as_json(), ensure_ascii=False) + "\n")
            written += 1
            failed += prediction.error is not None
    return written, failed


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `extract` to `app` and `extraction` to `eval_app`."""

    @app.command("extract")
    def extract_command(
        manifest: Annotated[Path, typer.Option(help="manifest.json of a fixture set")],
        out: Annotated[Path, typer.Option(help="JSON-lines file to write the predictions to")],
    ) -> None:
        """Run the pipeline's extraction on every page of a manifest; write JSON lines."""
        # trafilatura logs every discarded page at WARNING; the command reports failures itself.
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        written, failed = extract_manifest(manifest, out, now=datetime.now(UTC))
        typer.echo(f"{written} pages written to {out} ({failed} failed extraction)")

    @eval_app.command("extraction")
    def eval_extraction_command(
        directory: Annotated[Path, typer.Argument(help="fixture set: manifest.json + expected/")],
        as_json: Annotated[
            bool, typer.Option("--json", help="print JSON instead of a table")
        ] = False,
    ) -> None:
        """Score our extraction and bare trafilatura (same run) against the fixture ground truth."""
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        logging.getLogger("htmldate").setLevel(logging.ERROR)
        reports = evaluate_extraction(directory)
        if as_json:
            typer.echo(json.dumps(reports_as_json(reports), indent=1))
        else:
            typer.echo(format_report(reports))
