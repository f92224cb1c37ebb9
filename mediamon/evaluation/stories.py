"""Evaluate story clustering on a labelled syndication file, through the real store.

Each document becomes an article of its outlet via `Store.save_article`; `assign_stories` clusters
them; predictions `{"id", "cluster", "origin"}` are read back from `story_members`. The metrics
are those of the set's own `score.py`, run as a subprocess on the written files (exactly the
official numbers). The baseline named in the issue (MinHash over word 2-grams, 256 permutations,
LSH threshold 0.45, connected components, earliest publication as origin) is measured in the
same run on the same documents. Only id, outlet, language, published_at, url, title and text are
read from the file; the label fields are never looked at except by `score.py`.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connectors.store import Store
from mediamon.clustering import ClusteringOptions, ClusteringResult, assign_stories
from schemas import tables as t
from schemas.records import ExtractedArticle, LanguageGuess, Outlet

INPUT_FIELDS = ("id", "outlet", "language", "published_at", "url", "title", "text")
DEFAULT_SCORE_SCRIPT = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "syndication" / "score.py"
)


@dataclass(frozen=True, slots=True)
class StoriesEvaluation:
    """Metrics of the pipeline and of the baseline on one labelled file."""

    pipeline: dict[str, Any]
    baseline: dict[str, Any]
    counts: dict[str, int]
    seconds: float
    database_url: str


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file keeping only the input fields tools may use."""
    documents = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                documents.append({k: record.get(k) for k in INPUT_FIELDS})
    return documents


def parse_time(value: str | None) -> datetime | None:
    """Parse ISO 8601 (`Z` accepted; a bare date means midnight UTC, i.e. day-only)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _outlet_for(slug: str, url: str | None) -> Outlet:
    host = url.split("/")[2] if url and "://" in url else f"{slug}.invalid"
    return Outlet(id=slug, name=slug, homepage=f"https://{host}/")


def save_documents(
    store: Store, documents: Sequence[dict[str, Any]], *, now: datetime
) -> dict[str, str]:
    """Save labelled-set documents as articles of their outlets through the store's own writes.

    Only the input fields are read (id, outlet, language, published_at, url, title, text).
    Returns {document id: article id}.
    """
    for slug in sorted({d["outlet"] for d in documents}):
        url = next(d["url"] for d in documents if d["outlet"] == slug)
        store.upsert_outlet(_outlet_for(slug, url), now)
    article_of: dict[str, str] = {}
    for document in documents:
        article = ExtractedArticle(
            url=document["url"],
            canonical_url=document["url"],
            title=document["title"],
            text=document["text"],
            published_at=parse_time(document["published_at"]),
        )
        language = LanguageGuess(document["language"], 1.0) if document["language"] else None
        saved = store.save_article(
            document["outlet"], article, capture_id=None, now=now, language=language
        )
        article_of[document["id"]] = saved.article_id
    return article_of


def cluster_documents(
    store: Store,
    documents: Sequence[dict[str, Any]],
    now: datetime,
    options: ClusteringOptions | None = None,
) -> tuple[list[dict[str, Any]], ClusteringResult]:
    """Save documents as articles, assign stories, return predictions in file order."""
    article_of = save_documents(store, documents, now=now)
    result = assign_stories(
        store.engine, sorted(set(article_of.values())), now=now, options=options
    )
    m, s = t.story_members.c, t.stories.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(m.article_id, m.story_id, m.relation, s.member_count).join(
                t.stories, s.id == m.story_id
            )
        ).all()
    by_article = {r.article_id: r for r in rows}
    predictions = []
    for document in documents:
        row = by_article.get(article_of[document["id"]])
        if row is None:
            predictions.append({"id": document["id"], "cluster": None, "origin": False})
            continue
        predictions.append(
            {
                "id": document["id"],
                "cluster": row.story_id,
                "origin": row.relation == "origin" and row.member_count > 1,
            }
        )
    return predictions, result


def baseline_predictions(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """MinHash baseline: word 2-grams, 256 perms, LSH 0.45, components, earliest is origin."""
    import re

    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.45, num_perm=256)
    sketches = {}
    for document in documents:
        words = re.findall(r"\w+", f"{document['title'] or ''} {document['text']}".lower())
        grams = {f"{a} {b}".encode() for a, b in itertools.pairwise(words)}
        sketch = MinHash(num_perm=256, seed=1)
        sketch.update_batch(list(grams))
        sketches[document["id"]] = sketch
        lsh.insert(document["id"], sketch)
    parent = {d["id"]: d["id"] for d in documents}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for doc_id, sketch in sketches.items():
        for other in lsh.query(sketch):
            ra, rb = find(doc_id), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        groups.setdefault(find(document["id"]), []).append(document)
    far = "9999"
    predictions = []
    for root, members in groups.items():
        earliest = min(members, key=lambda d: (d["published_at"] or far, d["id"]))["id"]
        for document in members:
            predictions.append(
                {
                    "id": document["id"],
                    "cluster": root,
                    "origin": len(members) > 1 and document["id"] == earliest,
                }
            )
    return predictions


def run_score(score_script: Path, gold: Path, predictions: Path) -> dict[str, Any]:
    """Run the set's score.py on (gold, predictions) and return its JSON output."""
    completed = subprocess.run(
        [sys.executable, str(score_script), str(gold), str(predictions)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def evaluate_stories(
    gold: Path,
    predictions_path: Path,
    *,
    database_url: str | None = None,
    score_script: Path | None = None,
    now: datetime | None = None,
    options: ClusteringOptions | None = None,
) -> StoriesEvaluation:
    """Cluster `gold`'s documents through a store, write predictions, score them and the baseline.

    `database_url` None uses a fresh temporary SQLite file, removed afterwards.
    """
    script = (
        score_script
        or (
            gold.parent / "score.py"
            if (gold.parent / "score.py").exists()
            else DEFAULT_SCORE_SCRIPT
        )
    ).resolve()
    documents = load_documents(gold)
    moment = now or datetime(2026, 11, 25, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="mediamon-eval-stories-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'stories.db'}"
        store = Store.open(url)
        try:
            store.migrate()
            started = time.perf_counter()
            predictions, result = cluster_documents(store, documents, moment, options)
            seconds = time.perf_counter() - started
        finally:
            store.dispose()
        _write_jsonl(predictions_path, predictions)
        baseline_path = Path(tmp) / "baseline.jsonl"
        _write_jsonl(baseline_path, baseline_predictions(documents))
        return StoriesEvaluation(
            pipeline=run_score(script, gold, predictions_path),
            baseline=run_score(script, gold, baseline_path),
            counts=result.as_dict(),
            seconds=seconds,
            database_url=store.url,
        )
