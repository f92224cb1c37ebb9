"""`mediamon eval crosslingual`: cross-language copy scoring on a labelled syndication set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `crosslingual` to `eval_app` (`mediamon eval crosslingual`)."""
    del app  # evaluation only

    @eval_app.command("crosslingual")
    def eval_crosslingual_command(
        gold: Annotated[Path, typer.Argument(help="syndication JSON Lines (labels for scoring)")],
        topics: Annotated[
            Path | None,
            typer.Option(help="topic-set JSON Lines whose written documents join as negatives"),
        ] = None,
        pages: Annotated[
            Path | None,
            typer.Option(help="expected/ folder whose *.fundus.json articles join as negatives"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the full JSON report")] = False,
    ) -> None:
        """Score every cross-language pair of GOLD; report recall, false pairs and margins."""
        from mediamon.evaluation.crosslingual import evaluate_crosslingual

        report = evaluate_crosslingual(gold, topics, pages)
        if as_json:
            typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
            return
        typer.echo(format_report(report))


def format_report(report: dict[str, Any]) -> str:
    """Return a short plain-text summary of an `evaluate_crosslingual` report."""
    totals = report["totals"]
    lines = [
        f"documents {report['documents']}, signals in {report['signal_seconds']} s",
        "thresholds " + ", ".join(f"{k}={v}" for k, v in report["thresholds"].items()),
        f"{'class':<30}{'pairs':>7}{'copy':>6}{'cos>=.77':>9}  alignment min/med/max",
    ]
    for name, row in report["classes"].items():
        alignment = row["alignment"] or {}
        lines.append(
            f"{name:<30}{row['pairs']:>7}{row['accepted']:>6}{row['accepted_cosine_baseline']:>9}"
            f"  {alignment.get('min')}/{alignment.get('median')}/{alignment.get('max')}"
        )
    lines.append(
        f"translation recall: source pairs {totals['translation_source_recall']}, "
        f"all {totals['translation_all_recall']} (baseline cosine>=0.77: "
        f"{totals['baseline_cosine_recall']}, MinHash: {totals['baseline_minhash_recall']})"
    )
    lines.append(
        f"false pairs: cross-language {totals['false_pairs_cross_language']}, "
        f"same-event {totals['false_pairs_same_event']}"
    )
    lines.append("margins " + json.dumps(report["margins"]))
    return "\n".join(lines)
