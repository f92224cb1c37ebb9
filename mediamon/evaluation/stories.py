"""Evaluate story clustering on a labelled syndication file, through the real store.

Each document becomes an article of its outlet via `Store.save_article`; `assign_stories` clusters
them; predictions `{"id", "cluster", "origin"}` are read back from `story_members`. The metrics
are those of the set's own `score.py`, run as a subprocess on the written files (exactly the
official numbers). The baseline named in the issue (MinHash over word 2-grams, 256 permutations,
LSH threshold 0.45, connected components, earliest publication as origin) is measured in the
same run on the same documents.

Prediction reads only id, outlet, language, published_at, url, title and text (any of url, title
and published_at may be null). The label fields (`story`, `relation`) are read once the
predictions are written, by `score.py` and by the worst-merge report (`worst_merges`), never
before: nothing they contain can reach the store.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connectors.store import Store
from connectors.story_audit import StoredEdge, edges_among, memberships
from mediamon.clustering import ClusteringOptions, ClusteringResult, assign_stories
from mediamon.services import open_services
from mediamon.settings import load_settings
from schemas.errors import ConfigError, MediamonError
from schemas.records import ExtractedArticle, LanguageGuess, Outlet

INPUT_FIELDS = ("id", "outlet", "language", "published_at", "url", "title", "text")
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
# Tried in order when the labelled file has no score.py beside it (the translations sets have
# none); syndication-real's accepts null dates, the older syndication one does not.
FALLBACK_SCORE_SCRIPTS = (
    SHARED_DATA / "syndication-real" / "score.py",
    SHARED_DATA / "syndication" / "score.py",
)
# RFC 2606 reserves `.invalid`: a synthetic URL on it can never be fetched or collide with a
# real outlet's URL.
SYNTHETIC_TLD = "invalid"
WORST_MERGES = 10

Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total) while an evaluation runs; stages: save, cluster, baseline."""


@dataclass(frozen=True, slots=True)
class MergeMember:
    """A member of a falsely merged predicted story, with its gold label (read for reporting)."""

    doc_id: str
    outlet: str
    language: str | None
    gold_story: str | None
    gold_relation: str | None
    relation: str
    score: float
    matched_doc_id: str | None
    is_origin: bool


@dataclass(frozen=True, slots=True)
class MergeEdge:
    """A stored edge inside a falsely merged story; `false` when it joins two gold stories."""

    doc_id: str
    other_doc_id: str
    relation: str
    score: float
    evidence: dict[str, Any]
    false: bool
    matched: bool
    """Whether a membership names this edge's pair as (member, matched article)."""


@dataclass(frozen=True, slots=True)
class FalseMerge:
    """A predicted story that joins documents of different gold stories (or a gold negative).

    `false_pairs` counts the predicted pairs inside it that are not gold pairs (as score.py
    counts them); `gold_stories` the distinct gold stories among its members, `negatives` the
    members labelled `story: null`.
    """

    story_id: str
    false_pairs: int
    gold_stories: int
    negatives: int
    members: tuple[MergeMember, ...]
    edges: tuple[MergeEdge, ...]


@dataclass(frozen=True, slots=True)
class StoriesEvaluation:
    """Metrics of the pipeline and of the baseline on one labelled file, and the worst merges."""

    pipeline: dict[str, Any]
    baseline: dict[str, Any]
    counts: dict[str, int]
    seconds: float
    database_url: str
    score_script: Path
    one_day: bool = False
    worst_merges: tuple[FalseMerge, ...] = field(default=())
    false_merge_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The whole evaluation as JSON-able data (metrics, counts and worst merges)."""
        return {
            "pipeline": self.pipeline,
            "baseline": self.baseline,
            "counts": self.counts,
            "seconds": round(self.seconds, 3),
            "one_day": self.one_day,
            "score_script": str(self.score_script),
            "false_merge_count": self.false_merge_count,
            "worst_merges": [asdict(merge) for merge in self.worst_merges],
        }


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


def synthetic_url(outlet: str, doc_id: str) -> str:
    """Return a stable URL for a document that has none, from its outlet and id only.

    Guarantees: the same (outlet, id) always gives the same URL; different ids of one outlet give
    different URLs (and so different article ids); the host ends in `.invalid`. No label field is
    read.
    """
    host = re.sub(r"[^a-z0-9.-]+", "-", outlet.lower()).strip(".-") or "outlet"
    return f"https://{host}.{SYNTHETIC_TLD}/eval/{quote(doc_id, safe='')}"


def _outlet_for(slug: str, url: str | None) -> Outlet:
    host = url.split("/")[2] if url and "://" in url else f"{slug}.{SYNTHETIC_TLD}"
    return Outlet(id=slug, name=slug, homepage=f"https://{host}/")


def _article_of(document: Mapping[str, Any], *, one_day: bool) -> ExtractedArticle:
    """The article a document is saved as; with `one_day` it carries no date of any kind.

    `effective_time` files an undated article under the date in its URL's path before its
    first-seen time, so on one day the requested URL is the synthetic one (no path date) while
    the canonical URL, which names the article and is shown, stays the real one.
    """
    synthetic = synthetic_url(document["outlet"], document["id"])
    canonical = document["url"] or synthetic
    return ExtractedArticle(
        url=synthetic if one_day else canonical,
        canonical_url=canonical,
        title=document["title"],
        text=document["text"] or "",
        published_at=None if one_day else parse_time(document["published_at"]),
    )


def save_documents(
    store: Store,
    documents: Sequence[dict[str, Any]],
    *,
    now: datetime,
    one_day: bool = False,
    on_progress: Progress | None = None,
) -> dict[str, str]:
    """Save labelled-set documents as articles of their outlets through the store's own writes.

    Only the input fields are read (id, outlet, language, published_at, url, title, text); a
    null url becomes `synthetic_url(outlet, id)`. Every article is first seen at `now`; with
    `one_day` none has a publication time or URL date, so all are filed under `now`'s day.
    Returns {document id: article id}.
    """
    for slug in sorted({d["outlet"] for d in documents}):
        url = next((d["url"] for d in documents if d["outlet"] == slug and d["url"]), None)
        store.upsert_outlet(_outlet_for(slug, url), now)
    article_of: dict[str, str] = {}
    for done, document in enumerate(documents, 1):
        language = LanguageGuess(document["language"], 1.0) if document["language"] else None
        saved = store.save_article(
            document["outlet"],
            _article_of(document, one_day=one_day),
            capture_id=None,
            now=now,
            language=language,
        )
        article_of[document["id"]] = saved.article_id
        if on_progress is not None:
            on_progress("save", done, len(documents))
    return article_of


def cluster_documents(
    store: Store,
    documents: Sequence[dict[str, Any]],
    now: datetime,
    options: ClusteringOptions | None = None,
    *,
    one_day: bool = False,
    on_progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], ClusteringResult, dict[str, str]]:
    """Save documents as articles, assign stories, return predictions in file order.

    Articles are assigned one call per article in id order, which is the order (and the
    transactions) `assign_stories` uses for a batch, so the result is the same; the single
    calls only let progress be reported. Also returns {document id: article id}.
    """
    article_of = save_documents(store, documents, now=now, one_day=one_day, on_progress=on_progress)
    result = ClusteringResult()
    article_ids = sorted(set(article_of.values()))
    for done, article_id in enumerate(article_ids, 1):
        step = assign_stories(store.engine, [article_id], now=now, options=options)
        for name, value in step.as_dict().items():
            setattr(result, name, getattr(result, name) + value)
        if on_progress is not None:
            on_progress("cluster", done, len(article_ids))
    with store.engine.connect() as conn:
        membership = memberships(conn, article_ids)
    predictions = []
    for document in documents:
        row = membership.get(article_of[document["id"]])
        predictions.append(
            {
                "id": document["id"],
                "cluster": row.story_id if row else None,
                "origin": bool(row and row.is_origin and row.member_count > 1),
            }
        )
    return predictions, result, article_of


def load_labels(path: Path) -> dict[str, tuple[str | None, str | None]]:
    """Return {id: (story, relation)} of a labelled file: for reporting after prediction only."""
    labels = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                labels[record["id"]] = (record.get("story"), record.get("relation"))
    return labels


def worst_merges(
    store: Store,
    documents: Sequence[dict[str, Any]],
    article_of: Mapping[str, str],
    labels: Mapping[str, tuple[str | None, str | None]],
    limit: int = WORST_MERGES,
) -> tuple[list[FalseMerge], int]:
    """Return the `limit` predicted stories with the most false pairs, and how many have any.

    A false pair is two documents predicted together whose gold stories differ, or of which one
    is a gold negative (`story: null`, a singleton in gold), exactly as score.py counts them.
    Ties break on story size, then story id. Each merge carries its members and every stored
    edge inside it, those joining different gold stories flagged `false`.
    """
    with store.engine.connect() as conn:
        membership = memberships(conn, article_of.values())
        by_story: dict[str, list[str]] = {}
        for document in documents:
            row = membership.get(article_of[document["id"]])
            if row is not None:
                by_story.setdefault(row.story_id, []).append(document["id"])

        def gold_group(doc_id: str) -> str:
            story = labels.get(doc_id, (None, None))[0]
            return f"story:{story}" if story is not None else f"single:{doc_id}"

        scored = []
        for story_id, doc_ids in by_story.items():
            false_pairs = sum(
                1 for x, y in itertools.combinations(doc_ids, 2) if gold_group(x) != gold_group(y)
            )
            if false_pairs:
                scored.append((false_pairs, len(doc_ids), story_id))
        scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
        documents_by_id = {d["id"]: d for d in documents}
        doc_of: dict[str, str] = {}
        for doc_id, article_id in article_of.items():
            doc_of.setdefault(article_id, doc_id)
        merges = []
        for false_pairs, _size, story_id in scored[:limit]:
            doc_ids = by_story[story_id]
            members = []
            matched_pairs = set()
            for doc_id in doc_ids:
                row = membership[article_of[doc_id]]
                matched = doc_of.get(row.matched_article_id) if row.matched_article_id else None
                if matched is not None:
                    matched_pairs.add(frozenset((doc_id, matched)))
                story, relation = labels.get(doc_id, (None, None))
                members.append(
                    MergeMember(
                        doc_id,
                        str(documents_by_id[doc_id]["outlet"]),
                        documents_by_id[doc_id]["language"],
                        story,
                        relation,
                        row.relation,
                        row.score,
                        matched,
                        row.is_origin,
                    )
                )
            edges = [
                _merge_edge(edge, doc_of, gold_group, matched_pairs)
                for edge in edges_among(conn, [article_of[d] for d in doc_ids])
            ]
            stories = Counter(labels.get(d, (None, None))[0] for d in doc_ids)
            # Members grouped by gold story (negatives last), in file order inside a group.
            order = {doc_id: index for index, doc_id in enumerate(doc_ids)}
            members.sort(key=lambda x: (x.gold_story is None, x.gold_story or "", order[x.doc_id]))
            merges.append(
                FalseMerge(
                    story_id,
                    false_pairs,
                    len([s for s in stories if s is not None]),
                    stories.get(None, 0),
                    tuple(members),
                    tuple(sorted(edges, key=lambda e: (not e.false, -e.score, e.doc_id))),
                )
            )
    return merges, len(scored)


def _merge_edge(
    edge: StoredEdge,
    doc_of: Mapping[str, str],
    gold_group: Callable[[str], str],
    matched_pairs: set[frozenset[str]],
) -> MergeEdge:
    a, b = doc_of[edge.article_id], doc_of[edge.other_article_id]
    return MergeEdge(
        a,
        b,
        edge.relation,
        edge.score,
        edge.evidence,
        gold_group(a) != gold_group(b),
        frozenset((a, b)) in matched_pairs,
    )


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
    """Run the set's score.py on (gold, predictions) and return its JSON output.

    Raises MediamonError naming the script and its last line of stderr when it fails (the
    syndication scorer, for one, does not accept null dates).
    """
    completed = subprocess.run(
        [sys.executable, str(score_script), str(gold), str(predictions)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        reason = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        raise MediamonError(f"{score_script} failed on {gold}: {reason}", kind="score")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def find_score_script(gold: Path, explicit: Path | None = None) -> Path:
    """Return the score.py to use: `explicit`, else the one beside `gold`, else a shared one.

    Raises ConfigError (one line, naming where it looked) when none exists.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"score script {explicit} does not exist")
        return explicit.resolve()
    tried = (gold.parent / "score.py", *FALLBACK_SCORE_SCRIPTS)
    for candidate in tried:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"no score.py beside {gold} nor in {', '.join(str(p.parent) for p in tried[1:])}; "
        "pass --score-script"
    )


def crawl_moment(documents: Sequence[Mapping[str, Any]]) -> datetime:
    """When the evaluation's crawler first sees every document: the median publication time.

    In production an undated article is first seen when it is published, so it is filed in the
    days of the dated reports around it. A fixed date far from the set's (as before) filed
    every undated document in one window of its own, apart from the dated ones. Sets with no
    dates at all are first seen on a fixed day.
    """
    dated = sorted(
        moment for moment in (parse_time(d.get("published_at")) for d in documents) if moment
    )
    return dated[len(dated) // 2] if dated else datetime(2026, 11, 25, tzinfo=UTC)


def evaluate_stories(
    gold: Path,
    predictions_path: Path,
    *,
    database_url: str | None = None,
    score_script: Path | None = None,
    now: datetime | None = None,
    options: ClusteringOptions | None = None,
    one_day: bool = False,
    on_progress: Progress | None = None,
) -> StoriesEvaluation:
    """Cluster `gold`'s documents through a store, write predictions, score them and the baseline.

    `database_url` None uses a fresh temporary SQLite file, removed afterwards. Articles are first
    seen at `now`, by default `crawl_moment(documents)`. `one_day` saves
    every article undated and first seen at the same moment (`now`), the worst case for
    precision (see `save_documents`); the baseline then has no dates either. The score script is
    found before any work (`find_score_script`).
    """
    script = find_score_script(gold, score_script)
    documents = load_documents(gold)
    if one_day:
        documents = [{**d, "published_at": None} for d in documents]
    moment = now or crawl_moment(documents)
    with tempfile.TemporaryDirectory(prefix="mediamon-eval-stories-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'stories.db'}"
        settings = replace(load_settings(), database_url=url)
        with open_services(settings, with_search=False) as services:
            store = services.store
            started = time.perf_counter()
            predictions, result, article_of = cluster_documents(
                store, documents, moment, options, one_day=one_day, on_progress=on_progress
            )
            seconds = time.perf_counter() - started
            _write_jsonl(predictions_path, predictions)
            # Labels are read only now, with the predictions written: for the report alone.
            merges, merge_count = worst_merges(store, documents, article_of, load_labels(gold))
        baseline_path = Path(tmp) / "baseline.jsonl"
        _write_jsonl(baseline_path, baseline_predictions(documents))
        if on_progress is not None:
            on_progress("baseline", 1, 1)
        return StoriesEvaluation(
            pipeline=run_score(script, gold, predictions_path),
            baseline=run_score(script, gold, baseline_path),
            counts=result.as_dict(),
            seconds=seconds,
            database_url=store.url,
            score_script=script,
            one_day=one_day,
            worst_merges=tuple(merges),
            false_merge_count=merge_count,
        )
