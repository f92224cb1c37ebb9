"""Pipeline stage: fingerprint articles, find and verify their copies, assign them to stories.

`assign_stories(engine, article_ids, now=...)` is idempotent: a second run over the same articles
writes nothing. Per article, one transaction under the assignment lock (PostgreSQL advisory lock):
write the fingerprint and LSH buckets, look up candidates (exact hash, LSH band keys, passage
keys, and for other languages document vectors inside the time window), verify each, write the
verified edges, then recompute the stories of the edge-connected component around the article and
write only what changed (bumping `index_version` of every article and story whose story changed,
so a backfilled earlier copy re-elects the origin and the indexer re-sends the affected rows).

Order independence: whether two articles are candidates is a property of the pair (shared LSH
keys or a document cosine within a symmetric day window), and a pair is verified in article-id
order from the stored form of both sides (features, float16 vectors), each article embedded on
its own. An edge found when the second of two articles arrives is thus exactly the edge a re-run
finds, with the same score; edges only accumulate, and each assignment recomputes the whole
component, so the stories are a function of the articles, not of their arrival order.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine

from connectors.story_store import (
    ArticleText,
    CandidateOptions,
    StoryStore,
    effective_time,
)
from transforms.fingerprints import (
    DEFAULT_OPTIONS,
    Fingerprint,
    FingerprintOptions,
    deserialise_features,
    fingerprint_article,
    serialise_features,
    serialise_minhash,
)
from transforms.stories import (
    DEFAULT_VERIFY,
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
    """Settings of the stage. `crosslingual` turns on the translation path (loads the encoder).

    `crosslingual_limit` (vectors read per window) and `crosslingual_verify` (pairs scored per
    article) are safety bounds: while they do not bind, the edges found are the same whatever
    the arrival order; when they bind, a re-run may find an edge a first pass did not.
    """

    fingerprint: FingerprintOptions = DEFAULT_OPTIONS
    verify: VerifyOptions = DEFAULT_VERIFY
    candidates: CandidateOptions = field(default_factory=CandidateOptions)
    crosslingual: bool = True
    crosslingual_limit: int = 5000
    crosslingual_verify: int = 64
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
    anchor_keys: tuple[str, ...] = ()


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

        # One document per encoder call: the encoder's micro-batches change the last bits of a
        # vector with what it is batched with, and a stored vector must be a function of the
        # text alone (else the same article scores differently in a backfill and one by one).
        signals = [signals_for_documents([(a.title, a.text, a.language)])[0] for a in articles]
    prepared = []
    for article, signal in zip(articles, signals, strict=True):
        fingerprint = fingerprint_article(article.title, article.text, options.fingerprint)
        features = serialise_features(fingerprint.features)
        features["len"] = len(article.text)
        vector = None
        keys: tuple[str, ...] = ()
        if signal is not None:
            from transforms.crosslingual import anchor_keys

            features["x"] = _anchors_to_json(signal.anchors)
            features["sa"] = [sorted(anchors) for anchors in signal.sentence_anchors]
            vector = pack_vectors(signal.vector, getattr(signal, "units", ()))
            keys = anchor_keys(signal.sentence_anchors)
        prepared.append(_Prepared(article, fingerprint, features, vector, signal, keys))
    return prepared


def _stored_signals(vector: bytes, extra: dict[str, Any], language: str | None) -> Any:
    """The DocumentSignals of an article exactly as stored (float16 vectors, JSON anchors).

    Both sides of a pair are scored from this form, so a pair's score does not depend on which
    of the two was being assigned (the fresh float32 vectors of the article at hand would).
    """
    from transforms.crosslingual import DocumentSignals
    from transforms.embeddings import DIMENSIONS

    document, units = unpack_vectors(vector, DIMENSIONS)
    return DocumentSignals(
        vector=tuple(float(x) for x in document),
        anchors=_anchors_from_json(extra["x"]),
        language=language,
        length=int(extra.get("len", 0)),
        # The unit matrix as read (float32): aligning converts nothing per pair.
        units=units,
        sentence_anchors=tuple(frozenset(anchors) for anchors in extra.get("sa", ())),
    )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine in float64, rounded: the same value whichever side is `a`."""
    va, vb = a.astype(np.float64), b.astype(np.float64)
    denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return round(float(va @ vb) / denominator, 6) if denominator else 0.0


def _semantic_edges(
    store: StoryStore,
    conn: Any,
    item: _Prepared,
    known: set[tuple[str, str]],
    options: ClusteringOptions,
) -> tuple[list[Edge], dict[tuple[str, str], dict[str, Any]], int]:
    """Return the sentence-alignment edges of the article, their evidence and pairs verified.

    Candidates: every article of the day window (any language) whose pooled-vector cosine
    reaches the prefilter - a property of the pair alone, so which pairs are looked at does not
    depend on which other articles exist yet - best first, up to `crosslingual_verify` (a safety
    bound). Pairs already linked by a same-language verdict (`known`) are skipped. Each pair is
    aligned in article-id order from the stored signals of both sides: `score_crosslingual`
    across languages, `score_paraphrase` within one.
    """
    from transforms.crosslingual import score_crosslingual, score_paraphrase
    from transforms.embeddings import DIMENSIONS, SUPPORTED_LANGUAGES

    article = item.article
    if item.vector is None or "x" not in item.features:
        return [], {}, 0
    rows = store.time_window_vectors(
        conn,
        article.article_id,
        effective_time(article),
        options.candidates.window_days,
        options.crosslingual_limit,
        head_bytes=DIMENSIONS * 2,  # float16 document row only
    )
    if not rows:
        return [], {}, 0
    own, _ = unpack_vectors(item.vector, DIMENSIONS)
    scored = sorted(
        (
            (_cosine(own, unpack_vectors(row.vector, DIMENSIONS)[0]), row.article_id, row.language)
            for row in rows
        ),
        key=lambda entry: (-entry[0], entry[1]),
    )
    eligible = [
        (other, language)
        for value, other, language in scored
        if value >= options.crosslingual_prefilter
        and tuple(sorted((article.article_id, other))) not in known
    ]
    # The bound applies to each side separately so that same-language reports of the event
    # (closest in pooled cosine) do not crowd out the translations.
    same = [o for o, language in eligible if article.language and language == article.language]
    other_languages = [
        o for o, language in eligible if not (article.language and language == article.language)
    ]
    # Outside the encoder's languages pooled vectors find nothing: candidates there come from
    # shared anchor keys (figures and names that stand together in a sentence).
    by_anchors = store.anchor_candidates(
        conn, article.article_id, item.anchor_keys, effective_time(article), options.candidates
    )
    unencoded = [
        other
        for other, language in by_anchors
        if language != article.language
        and not {article.language, language} <= SUPPORTED_LANGUAGES
        and tuple(sorted((article.article_id, other))) not in known
    ]
    chosen = sorted(
        set(same[: options.crosslingual_verify])
        | set(other_languages[: options.crosslingual_verify])
        | set(unencoded[: options.crosslingual_verify])
    )
    stored = store.load_fingerprints(conn, chosen)
    mine = _stored_signals(item.vector, item.features, article.language)
    edges, evidence = [], {}
    for other_id in chosen:
        other = stored.get(other_id)
        if other is None or other.vector is None or "x" not in other.extra:
            continue
        theirs = _stored_signals(other.vector, other.extra, other.language)
        first, second = (mine, theirs) if article.article_id < other_id else (theirs, mine)
        same_language = article.language is not None and article.language == other.language
        verdict = (score_paraphrase if same_language else score_crosslingual)(first, second)
        if verdict.is_copy and verdict.relation is not None:
            edge = make_edge(article.article_id, other_id, Match(verdict.relation, verdict.score))
            edges.append(edge)
            evidence[(edge.a, edge.b)] = {
                "rule": "sentence-alignment",
                "aligned": verdict.aligned,
                "coverage": round(verdict.alignment, 4),
                "cosine": round(verdict.cosine, 4),
                "evidence": list(verdict.evidence[:16]),
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
            item.anchor_keys,
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
        own = deserialise_features(item.features)
        for other_id in candidates:
            other = stored.get(other_id)
            if other is None:
                continue
            if article.language and other.language and article.language != other.language:
                continue  # word features mean nothing across languages: alignment decides
            result.candidates_verified += 1
            # In article-id order, from the stored features of both sides: the verdict (score,
            # excerpt host) is then the same whichever article of the pair is being assigned.
            if article.article_id < other_id:
                first, second = (article.article_id, own), (other_id, other.features)
            else:
                first, second = (other_id, other.features), (article.article_id, own)
            match = verify_pair(first[1], second[1], options.verify)
            if match.relation is not None:
                edge = make_edge(first[0], second[0], match)
                edges.append(edge)
                evidence[(edge.a, edge.b)] = match.evidence
        if options.crosslingual:
            known = {(e.a, e.b) for e in edges}
            more, proof, verified = _semantic_edges(store, conn, item, known, options)
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
    with engine.connect() as conn:
        ids = StoryStore().articles_published_between(conn, published_from, published_to)
    return assign_stories(engine, ids, now=now, options=options)
