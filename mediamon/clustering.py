"""Pipeline stage: fingerprint articles, find and verify their copies, assign them to stories.

`assign_stories(engine, article_ids, now=...)` is idempotent: a second run over the same articles
writes nothing. Per article, one transaction under the assignment lock (PostgreSQL advisory lock):
write the fingerprint and LSH buckets, look up candidates (exact hash, LSH band keys, passage
keys, and for other languages document vectors inside the time window), verify each, write the
verified edges, then recompute the stories of the edge-connected component around the article and
write only what changed (bumping `index_version` of every article and story whose story changed,
so a backfilled earlier copy re-elects the origin and the indexer re-sends the affected rows).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from connectors.story_store import (
    ArticleText,
    CandidateOptions,
    StoryStore,
    effective_time,
    utc,
)
from schemas import tables as t
from transforms.fingerprints import (
    DEFAULT_OPTIONS,
    Fingerprint,
    FingerprintOptions,
    fingerprint_article,
    serialise_features,
    serialise_minhash,
)
from transforms.stories import (
    DEFAULT_VERIFY,
    TRANSLATION,
    Edge,
    Match,
    VerifyOptions,
    decide_stories,
    make_edge,
    verify_pair,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClusteringOptions:
    """Settings of the stage. `crosslingual` turns on the translation path (loads the encoder)."""

    fingerprint: FingerprintOptions = DEFAULT_OPTIONS
    verify: VerifyOptions = DEFAULT_VERIFY
    candidates: CandidateOptions = field(default_factory=CandidateOptions)
    crosslingual: bool = True
    crosslingual_limit: int = 300
    crosslingual_verify: int = 8
    crosslingual_prefilter: float = 0.3


@dataclass(slots=True)
class ClusteringResult:
    """Counts of one run: what was looked at and what was written."""

    articles: int = 0
    missing: int = 0
    fingerprints_written: int = 0
    candidates_verified: int = 0
    edges_written: int = 0
    stories_written: int = 0
    members_written: int = 0
    stories_deleted: int = 0
    articles_bumped: int = 0

    @property
    def writes(self) -> int:
        """Rows written or changed (0 on a run that changed nothing)."""
        return (
            self.fingerprints_written
            + self.edges_written
            + self.stories_written
            + self.members_written
            + self.stories_deleted
        )

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for logs and run records)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class _Prepared:
    article: ArticleText
    fingerprint: Fingerprint
    features: dict[str, Any]
    vector: bytes | None
    signals: Any


def _anchors_to_json(anchors: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(anchors):
        value = getattr(anchors, f.name)
        out[f.name] = sorted(value) if isinstance(value, frozenset) else list(value)
    return out


def _anchors_from_json(data: dict[str, Any]) -> Any:
    from transforms.crosslingual import Anchors

    values: dict[str, Any] = {}
    for f in dataclasses.fields(Anchors):
        if f.name not in data:
            continue
        default = f.default if f.default is not dataclasses.MISSING else ()
        values[f.name] = (
            frozenset(data[f.name]) if isinstance(default, frozenset) else tuple(data[f.name])
        )
    return Anchors(**values)


def pack_vectors(vector: Sequence[float], units: Sequence[Sequence[float]]) -> bytes:
    """Pack a document vector and its unit vectors as float16 rows (1 KB per 512-dim row)."""
    rows = [list(vector), *[list(u) for u in units]]
    return np.asarray(rows, dtype="<f2").tobytes()


def unpack_vectors(value: bytes, dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `pack_vectors`: (document vector, unit matrix) as float32."""
    matrix = np.frombuffer(value, dtype="<f2").astype(np.float32).reshape(-1, dimensions)
    return matrix[0], matrix[1:]


def _prepare(articles: Sequence[ArticleText], options: ClusteringOptions) -> list[_Prepared]:
    """Fingerprint (and embed, when cross-lingual) outside any transaction: pure CPU work."""
    signals: list[Any] = [None] * len(articles)
    if options.crosslingual and articles:
        from transforms.crosslingual import signals_for_documents

        signals = signals_for_documents([(a.title, a.text, a.language) for a in articles])
    prepared = []
    for article, signal in zip(articles, signals, strict=True):
        fingerprint = fingerprint_article(article.title, article.text, options.fingerprint)
        features = serialise_features(fingerprint.features)
        features["len"] = len(article.text)
        vector = None
        if signal is not None:
            features["x"] = _anchors_to_json(signal.anchors)
            vector = pack_vectors(signal.vector, getattr(signal, "units", ()))
        prepared.append(_Prepared(article, fingerprint, features, vector, signal))
    return prepared


def _crosslingual_edges(
    store: StoryStore, conn: Any, item: _Prepared, options: ClusteringOptions
) -> tuple[list[Edge], dict[tuple[str, str], dict[str, Any]], int]:
    from transforms.crosslingual import DocumentSignals, score_crosslingual
    from transforms.embeddings import DIMENSIONS

    article = item.article
    if item.vector is None:
        return [], {}, 0
    rows = store.time_window_vectors(
        conn,
        article.article_id,
        article.language,
        effective_time(article),
        options.candidates.window_days,
        options.crosslingual_limit,
    )
    if not rows:
        return [], {}, 0
    own, _ = unpack_vectors(item.vector, DIMENSIONS)
    matrix = np.stack([unpack_vectors(v, DIMENSIONS)[0] for _, v in rows])
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(own) or 1.0)
    cosines = matrix @ own / np.where(norms == 0, 1.0, norms)
    order = sorted(range(len(rows)), key=lambda i: (-float(cosines[i]), rows[i][0]))
    chosen = [
        rows[i][0]
        for i in order[: options.crosslingual_verify]
        if float(cosines[i]) >= options.crosslingual_prefilter
    ]
    stored = store.load_fingerprints(conn, chosen)
    edges, evidence = [], {}
    for other_id in chosen:
        other = stored.get(other_id)
        if other is None or other.vector is None or "x" not in other.extra:
            continue
        vector, units = unpack_vectors(other.vector, DIMENSIONS)
        fields = {f.name for f in dataclasses.fields(DocumentSignals)}
        extra: dict[str, Any] = {}
        if "units" in fields:
            extra["units"] = tuple(tuple(float(x) for x in row) for row in units)
        theirs = DocumentSignals(
            vector=tuple(float(x) for x in vector),
            anchors=_anchors_from_json(other.extra["x"]),
            language=other.language,
            length=int(other.extra.get("len", 0)),
            **extra,
        )
        verdict = score_crosslingual(item.signals, theirs)
        if verdict.is_copy:
            edge = make_edge(article.article_id, other_id, Match(TRANSLATION, verdict.score))
            edges.append(edge)
            evidence[(edge.a, edge.b)] = {
                "cosine": round(verdict.cosine, 4),
                "anchors": round(verdict.anchor_overlap, 4),
                "evidence": list(verdict.evidence[:12]),
            }
    return edges, evidence, len(chosen)


def _assign_one(
    engine: Engine,
    store: StoryStore,
    item: _Prepared,
    now: datetime,
    options: ClusteringOptions,
    result: ClusteringResult,
) -> None:
    from connectors.story_store import assignment_lock

    article = item.article
    with engine.begin() as conn:
        assignment_lock(conn)
        written = store.save_fingerprint(
            conn,
            article,
            item.fingerprint,
            item.features,
            serialise_minhash(item.fingerprint.minhash),
            item.vector,
        )
        result.fingerprints_written += int(written)
        edges: list[Edge] = []
        evidence: dict[tuple[str, str], dict[str, Any]] = {}
        candidates = store.find_candidates(
            conn,
            article.article_id,
            item.fingerprint,
            effective_time(article),
            options.candidates,
        )
        stored = store.load_fingerprints(conn, candidates)
        for other_id in candidates:
            other = stored.get(other_id)
            if other is None:
                continue
            if article.language and other.language and article.language != other.language:
                continue
            result.candidates_verified += 1
            match = verify_pair(item.fingerprint.features, other.features, options.verify)
            if match.relation is not None:
                edge = make_edge(article.article_id, other_id, match)
                edges.append(edge)
                evidence[(edge.a, edge.b)] = match.evidence
        if options.crosslingual:
            more, proof, verified = _crosslingual_edges(store, conn, item, options)
            known = {(e.a, e.b) for e in edges}
            edges += [e for e in more if (e.a, e.b) not in known]
            evidence.update({k: v for k, v in proof.items() if k not in evidence})
            result.candidates_verified += verified
        result.edges_written += store.save_edges(conn, edges, evidence)
        seeds = store.story_mates(conn, article.article_id)
        component, all_edges = store.component_of(conn, seeds)
        for mate in sorted(seeds - {article.article_id}):
            more_nodes, more_edges = store.component_of(conn, {mate})
            component |= more_nodes
            all_edges = sorted(set(all_edges) | set(more_edges), key=lambda e: (e.a, e.b))
        members = store.load_members(conn, component)
        decisions = decide_stories(
            members, [e for e in all_edges if e.a in members and e.b in members]
        )
        counts = store.write_stories(conn, decisions, members, now)
        for key, value in counts.items():
            setattr(result, key, getattr(result, key) + value)


def assign_stories(
    engine: Engine,
    article_ids: Sequence[str],
    *,
    now: datetime,
    options: ClusteringOptions | None = None,
) -> ClusteringResult:
    """Fingerprint the given articles, link them to their copies and (re)assign their stories.

    Articles are processed in id order, each in its own transaction under the assignment lock;
    ids that do not exist are counted as `missing`. Running it twice writes nothing new.
    """
    settings = options or ClusteringOptions()
    store = StoryStore()
    result = ClusteringResult()
    ids = sorted(set(article_ids))
    batch_size = 64
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        with engine.connect() as conn:
            articles = store.load_articles(conn, batch)
        result.missing += len(batch) - len(articles)
        for item in _prepare(articles, settings):
            _assign_one(engine, store, item, now, settings, result)
            result.articles += 1
    log.info("stories assigned", extra={"counts": result.as_dict()})
    return result


def assign_stories_between(
    engine: Engine,
    published_from: datetime | None,
    published_to: datetime | None,
    *,
    now: datetime,
    options: ClusteringOptions | None = None,
) -> ClusteringResult:
    """Re-cluster the articles published in [published_from, published_to) (None = open end)."""
    c = t.articles.c
    query = select(c.id)
    if published_from is not None:
        query = query.where(c.published_at >= utc(published_from))
    if published_to is not None:
        query = query.where(c.published_at < utc(published_to))
    with engine.connect() as conn:
        ids = [str(x) for x in conn.execute(query.order_by(c.id)).scalars()]
    return assign_stories(engine, ids, now=now, options=options)
