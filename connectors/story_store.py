"""All SQL of story clustering: fingerprints, LSH buckets, verified edges, stories and members.

The LSH index lives in `lsh_buckets` so every worker shares it. Bucket strings carry a time
partition, `"{YYYYMMDD}:{key}"`, the UTC day of the article's publication (or, when undated, of
when it was first seen: a crawler sees an article around its publication); band keys are also
stored once without a day, `"g:{band key}"`, so a near copy republished weeks later is still
found. A lookup probes the article's day +/- `window_days` and the global band keys: the rows read
per lookup grow with how many articles share a few days, not with the size of the archive.

Concurrency: `assignment_lock` takes `pg_advisory_xact_lock` on PostgreSQL, so the
fingerprint-insert / candidate-lookup / verify / story-write step of one article is serialised
across workers and a concurrent copy is always seen by whichever worker comes second. SQLite has
a single writer (its database lock does the same job).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    LargeBinary,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from connectors.store import as_utc, insert_ignore
from schemas import tables as t
from transforms.fingerprints import Fingerprint, TextFeatures, deserialise_features
from transforms.stories import Edge, Member, StoryDecision

ASSIGNMENT_LOCK_KEY = 0x6D6D5354  # "mmST": one advisory lock for story assignment
GLOBAL = "g"
EXACT_LOOKUP_BOUND = 1000


@dataclass(frozen=True, slots=True)
class ArticleText:
    """The current version of an article, with what clustering needs around it."""

    article_id: str
    version_id: str
    outlet_id: str
    outlet_name: str | None
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime | None
    title: str | None
    text: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class StoredFingerprint:
    """A fingerprint row as read back for verification."""

    article_id: str
    version_id: str
    language: str | None
    published_at: datetime | None
    features: TextFeatures
    vector: bytes | None
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CandidateOptions:
    """Bounds of a candidate lookup: the time window, stop-key size and how many to verify.

    Whether two articles are candidates is a property of the pair (shared keys within the
    window); `max_candidates` is a safety bound only. When it binds, which candidates are kept
    depends on what else exists, and a re-run may then find edges the first pass did not.
    """

    window_days: int = 3
    max_bucket_size: int = 200
    max_candidates: int = 100
    min_passage_hits: int = 1


def _insert(conn: Connection, table: Any) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def assignment_lock(conn: Connection) -> None:
    """Serialise story assignment across workers for the current transaction (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ASSIGNMENT_LOCK_KEY})


def day_partition(moment: datetime) -> str:
    """Return the bucket partition of an article: the UTC day of `moment`."""
    value = as_utc(moment)
    assert value is not None
    return value.strftime("%Y%m%d")


# The layout of a stored fingerprint (features JSON, vector rows, bucket keys). 2: sentence
# vectors and per-sentence anchors (issue 14; 1 held paragraph vectors). A fingerprint of another
# format is rebuilt when its article is next assigned, e.g. by a backfill of the cluster stage.
FINGERPRINT_FORMAT = 2


def bucket_rows(
    article_id: str,
    fingerprint: Fingerprint,
    moment: datetime,
    anchor_keys: Sequence[str] = (),
) -> list[dict[str, str]]:
    """Return the lsh_buckets rows of one article (day-partitioned keys plus global bands).

    `moment` is the publication time, or the first-seen time of an undated article;
    `anchor_keys` (cross-language anchor pairs, "x:...") are day-partitioned like passage keys.
    """
    partition = day_partition(moment)
    own = (*fingerprint.band_keys, *fingerprint.passage_keys, *anchor_keys)
    keys = {f"{partition}:{key}" for key in own}
    keys |= {f"{GLOBAL}:{key}" for key in fingerprint.band_keys}
    return [{"bucket": key, "article_id": article_id} for key in sorted(keys)]


def probe_keys(fingerprint: Fingerprint, moment: datetime, window_days: int) -> list[str]:
    """Return the bucket strings a lookup reads: days around `moment`, and the global bands."""
    keys = (*fingerprint.band_keys, *fingerprint.passage_keys)
    value = as_utc(moment)
    assert value is not None
    probes = {f"{GLOBAL}:{key}" for key in fingerprint.band_keys}
    for offset in range(-window_days, window_days + 1):
        day = (value + timedelta(days=offset)).strftime("%Y%m%d")
        probes |= {f"{day}:{key}" for key in keys}
    return sorted(probes)


# A date in the URL path: /2019/11/20/, /20191120/, /2019-11-20- (many outlets put one there).
_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-]?(0[1-9]|1[0-2])[/-]?(0[1-9]|[12]\d|3[01])(?!\d)")


def url_day(url: str) -> datetime | None:
    """Return the UTC day a URL's path names, or None."""
    match = _URL_DATE.search(url)
    if match is None:
        return None
    try:
        return datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    except ValueError:
        return None


def effective_time(article: ArticleText) -> datetime:
    """The time an article is filed under: publication, else its URL's date, else first seen.

    Buckets are partitioned and candidate windows centred on it; it is what
    `fingerprints.published_at` holds.
    """
    moment = article.published_at or url_day(article.url) or article.first_seen_at
    if moment is None:
        raise ValueError(f"article {article.article_id} has neither published_at nor first_seen_at")
    return moment


class WindowVector(NamedTuple):
    """One article of a candidate window: its id, stored vector bytes and language."""

    article_id: str
    vector: bytes
    language: str | None


class StoryStore:
    """Repository over the story tables; every method takes the caller's connection."""

    def load_articles(self, conn: Connection, article_ids: Sequence[str]) -> list[ArticleText]:
        """Return the current version of each existing article among `article_ids`, by id."""
        a, v, o = t.articles.c, t.article_versions.c, t.outlets.c
        rows = conn.execute(
            select(
                a.id,
                a.current_version_id,
                a.outlet_id,
                o.name,
                a.language,
                a.published_at,
                a.first_seen_at,
                v.title,
                v.text,
                a.url,
            )
            .join_from(t.articles, t.article_versions, a.current_version_id == v.id)
            .join(t.outlets, o.id == a.outlet_id, isouter=True)
            .where(a.id.in_(list(article_ids)))
            .order_by(a.id)
        ).all()
        return [
            ArticleText(
                r.id,
                r.current_version_id,
                r.outlet_id,
                r.name,
                r.language,
                as_utc(r.published_at),
                as_utc(r.first_seen_at),
                r.title,
                r.text,
                r.url,
            )
            for r in rows
        ]

    def fingerprint_version(self, conn: Connection, article_id: str) -> str | None:
        """Return the version id the stored fingerprint of an article was made from, or None.

        A fingerprint written by an older format (see `FINGERPRINT_FORMAT`) counts as none, so
        the next assignment rebuilds it from the article's text.
        """
        c = t.fingerprints.c
        row = conn.execute(
            select(c.version_id, c.features).where(c.article_id == article_id)
        ).first()
        if row is None or (row.features or {}).get("format") != FINGERPRINT_FORMAT:
            return None if row is None else f"stale:{row.version_id}"
        return str(row.version_id)

    def save_fingerprint(
        self,
        conn: Connection,
        article: ArticleText,
        fingerprint: Fingerprint,
        features: Mapping[str, Any],
        minhash: bytes,
        vector: bytes | None,
        anchor_keys: Sequence[str] = (),
    ) -> bool:
        """Write the fingerprint and buckets of an article's current version.

        Returns False (writing nothing) when the stored fingerprint is of the same version.
        A new version replaces the row, its buckets and the article's edges.
        """
        c = t.fingerprints.c
        stored = self.fingerprint_version(conn, article.article_id)
        if stored == article.version_id:
            return False
        row = {
            "article_id": article.article_id,
            "version_id": article.version_id,
            "exact_hash": fingerprint.exact_hash,
            "minhash": minhash,
            "shingle_count": fingerprint.shingle_count,
            "language": article.language,
            "published_at": effective_time(article),
            "vector": vector,
            "features": {**features, "format": FINGERPRINT_FORMAT},
        }
        if stored is not None:
            conn.execute(
                delete(t.lsh_buckets).where(t.lsh_buckets.c.article_id == article.article_id)
            )
            e = t.story_edges.c
            conn.execute(
                delete(t.story_edges).where(
                    or_(
                        e.article_id == article.article_id, e.other_article_id == article.article_id
                    )
                )
            )
            conn.execute(
                update(t.fingerprints).where(c.article_id == article.article_id).values(**row)
            )
        else:
            conn.execute(t.fingerprints.insert().values(**row))
        rows = bucket_rows(article.article_id, fingerprint, effective_time(article), anchor_keys)
        if rows:
            conn.execute(_insert(conn, t.lsh_buckets).on_conflict_do_nothing(), rows)
        return True

    def find_candidates(
        self,
        conn: Connection,
        article_id: str,
        fingerprint: Fingerprint,
        moment: datetime,
        options: CandidateOptions,
    ) -> list[str]:
        """Return ids of articles worth verifying against this one, best first, bounded.

        Sources: the same exact hash (at most `max_candidates`, at any time: an identical text
        is a copy whenever it appeared), and LSH band or passage keys shared in the days around
        `moment` (see `probe_keys`). Keys shared by more than `max_bucket_size` articles are
        ignored as boilerplate. An article needs one band key or `min_passage_hits` passage keys.
        """
        f = t.fingerprints.c
        scores: defaultdict[str, float] = defaultdict(float)
        # No ORDER BY ... LIMIT in SQL: PostgreSQL would then walk the primary key in order
        # instead of using the exact_hash index. The bound is generous and the order is ours.
        exact = select(f.article_id).where(
            f.exact_hash == fingerprint.exact_hash, f.article_id != article_id
        )
        same = sorted(str(x) for x in conn.execute(exact.limit(EXACT_LOOKUP_BOUND)).scalars())
        for other in same[: options.max_candidates]:
            scores[str(other)] += 100.0
        probes = probe_keys(fingerprint, moment, options.window_days)
        if probes:
            b = t.lsh_buckets.c
            # Two index-only steps: count the probed buckets, then read the members of those that
            # are not boilerplate, so long bucket lists never travel to Python.
            sizes = conn.execute(
                select(b.bucket)
                .where(b.bucket.in_(bindparam("keys", expanding=True)))
                .group_by(b.bucket)
                .having(func.count() <= options.max_bucket_size + 1),
                {"keys": probes},
            ).scalars()
            kept = sorted(str(key) for key in sizes)
            rows = (
                conn.execute(
                    select(b.bucket, b.article_id).where(
                        b.bucket.in_(bindparam("kept", expanding=True))
                    ),
                    {"kept": kept},
                ).all()
                if kept
                else []
            )
            members: dict[str, list[str]] = {}
            for bucket, other in rows:
                if other != article_id:
                    members.setdefault(str(bucket), []).append(str(other))
            passage_hits: Counter[str] = Counter()
            band_hits: Counter[str] = Counter()
            weights: defaultdict[str, float] = defaultdict(float)
            for bucket, others in members.items():
                if len(others) > options.max_bucket_size:
                    continue
                is_band = bucket.split(":", 1)[1].startswith("b")
                for other in set(others):
                    if is_band:
                        band_hits[other] += 1
                    else:
                        passage_hits[other] += 1
                        weights[other] += 1.0 / math.log2(2 + len(others))
            for other in set(band_hits) | set(passage_hits):
                if band_hits[other] or passage_hits[other] >= options.min_passage_hits:
                    scores[other] += band_hits[other] + weights[other]
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [other for other, _ in ranked[: options.max_candidates]]

    def anchor_candidates(
        self,
        conn: Connection,
        article_id: str,
        keys: Sequence[str],
        moment: datetime,
        options: CandidateOptions,
        min_hits: int = 2,
    ) -> list[tuple[str, str | None]]:
        """Return (id, language) of the articles sharing at least `min_hits` anchor keys in the
        days around `moment`.

        Keys shared by more than `max_bucket_size` articles are ignored (common figures and
        names); best first (most keys shared), then by id, at most `max_candidates`.
        """
        value = as_utc(moment)
        if not keys or value is None:
            return []
        probes = sorted(
            f"{(value + timedelta(days=offset)).strftime('%Y%m%d')}:{key}"
            for offset in range(-options.window_days, options.window_days + 1)
            for key in keys
        )
        b = t.lsh_buckets.c
        kept = [
            str(key)
            for key in conn.execute(
                select(b.bucket)
                .where(b.bucket.in_(bindparam("keys", expanding=True)))
                .group_by(b.bucket)
                .having(func.count() <= options.max_bucket_size + 1),
                {"keys": probes},
            ).scalars()
        ]
        if not kept:
            return []
        hits: Counter[str] = Counter()
        languages: dict[str, str | None] = {}
        f = t.fingerprints.c
        for other, language in conn.execute(
            select(b.article_id, f.language)
            .join(t.fingerprints, f.article_id == b.article_id)
            .where(b.bucket.in_(bindparam("kept", expanding=True))),
            {"kept": kept},
        ):
            if other != article_id:
                hits[str(other)] += 1
                languages[str(other)] = language
        ranked = sorted(
            (other for other, count in hits.items() if count >= min_hits),
            key=lambda other: (-hits[other], other),
        )
        return [(other, languages[other]) for other in ranked[: options.max_candidates]]

    def articles_published_between(
        self, conn: Connection, published_from: datetime | None, published_to: datetime | None
    ) -> list[str]:
        """Ids of the articles published in [published_from, published_to) (None: open end)."""
        c = t.articles.c
        query = select(c.id)
        if published_from is not None:
            query = query.where(c.published_at >= as_utc(published_from))
        if published_to is not None:
            query = query.where(c.published_at < as_utc(published_to))
        return [str(x) for x in conn.execute(query.order_by(c.id)).scalars()]

    def time_window_vectors(
        self,
        conn: Connection,
        article_id: str,
        published_at: datetime | None,
        window_days: int,
        limit: int,
        head_bytes: int | None = None,
    ) -> list[WindowVector]:
        """Return (id, vector, language) of the articles filed within the window.

        The window is in whole UTC days, as the LSH probes: the article's day +/- `window_days`,
        so B is in A's window exactly when A is in B's. Bounded by `limit` (nearest publication
        times first); empty when undated. `head_bytes` reads only the first bytes of each
        vector (the document row, without the unit rows that follow it).
        """
        value = as_utc(published_at)
        if value is None:
            return []
        day = value.replace(hour=0, minute=0, second=0, microsecond=0)
        f = t.fingerprints.c
        vector = (
            f.vector
            if head_bytes is None
            else func.substr(f.vector, 1, head_bytes, type_=LargeBinary).label("vector")
        )
        query = (
            select(f.article_id, vector, f.published_at, f.language)
            .where(
                f.article_id != article_id,
                f.vector.is_not(None),
                f.published_at >= day - timedelta(days=window_days),
                f.published_at < day + timedelta(days=window_days + 1),
            )
            .order_by(f.published_at, f.article_id)
        )
        rows = list(conn.execute(query).all())
        rows.sort(key=lambda r: (abs((as_utc(r.published_at) or value) - value), r.article_id))
        return [WindowVector(str(r.article_id), bytes(r.vector), r.language) for r in rows[:limit]]

    def load_fingerprints(
        self, conn: Connection, article_ids: Iterable[str]
    ) -> dict[str, StoredFingerprint]:
        """Return the stored fingerprints of the given articles, by id."""
        ids = sorted(set(article_ids))
        if not ids:
            return {}
        f = t.fingerprints.c
        rows = conn.execute(select(t.fingerprints).where(f.article_id.in_(ids))).mappings().all()
        result = {}
        for row in rows:
            data = dict(row["features"] or {})
            result[str(row["article_id"])] = StoredFingerprint(
                str(row["article_id"]),
                str(row["version_id"]),
                row["language"],
                as_utc(row["published_at"]),
                deserialise_features(data),
                bytes(row["vector"]) if row["vector"] is not None else None,
                data,
            )
        return result

    def save_edges(
        self,
        conn: Connection,
        edges: Sequence[Edge],
        evidence: Mapping[tuple[str, str], Mapping[str, Any]],
    ) -> int:
        """Upsert verified edges keyed on (a, b); return how many rows were written or changed."""
        e = t.story_edges.c
        written = 0
        for edge in edges:
            proof = dict(evidence.get((edge.a, edge.b), {}))
            if edge.host:
                proof["host"] = edge.host
            row = (
                conn.execute(
                    select(t.story_edges).where(
                        e.article_id == edge.a, e.other_article_id == edge.b
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                conn.execute(
                    t.story_edges.insert().values(
                        article_id=edge.a,
                        other_article_id=edge.b,
                        relation=edge.relation,
                        score=edge.score,
                        evidence=proof,
                    )
                )
                written += 1
            elif (row["relation"], round(row["score"], 6)) != (edge.relation, round(edge.score, 6)):
                conn.execute(
                    update(t.story_edges)
                    .where(e.article_id == edge.a, e.other_article_id == edge.b)
                    .values(relation=edge.relation, score=edge.score, evidence=proof)
                )
                written += 1
        return written

    def edges_of(self, conn: Connection, article_ids: Iterable[str]) -> list[Edge]:
        """Return every stored edge touching one of `article_ids`."""
        ids = sorted(set(article_ids))
        if not ids:
            return []
        e = t.story_edges.c
        rows = (
            conn.execute(
                select(t.story_edges).where(or_(e.article_id.in_(ids), e.other_article_id.in_(ids)))
            )
            .mappings()
            .all()
        )
        return sorted(
            {
                Edge(
                    str(r["article_id"]),
                    str(r["other_article_id"]),
                    str(r["relation"]),
                    float(r["score"]),
                    (r["evidence"] or {}).get("host"),
                )
                for r in rows
            },
            key=lambda edge: (edge.a, edge.b),
        )

    def component_of(
        self, conn: Connection, seeds: Iterable[str], limit: int = 2000
    ) -> tuple[set[str], list[Edge]]:
        """Return the articles connected to `seeds` by edges (breadth first, bounded) and edges."""
        seen = set(seeds)
        frontier = deque(sorted(seen))
        edges: set[Edge] = set()
        while frontier and len(seen) < limit:
            batch = [frontier.popleft() for _ in range(min(len(frontier), 200))]
            for edge in self.edges_of(conn, batch):
                edges.add(edge)
                for node in (edge.a, edge.b):
                    if node not in seen:
                        seen.add(node)
                        frontier.append(node)
        return seen, sorted(edges, key=lambda edge: (edge.a, edge.b))

    def story_mates(self, conn: Connection, article_id: str) -> set[str]:
        """Return the members of the story an article currently belongs to (itself included)."""
        m = t.story_members.c
        story = conn.execute(select(m.story_id).where(m.article_id == article_id)).scalar()
        if story is None:
            return {article_id}
        return {
            str(x) for x in conn.execute(select(m.article_id).where(m.story_id == story)).scalars()
        } | {article_id}

    def load_members(self, conn: Connection, article_ids: Iterable[str]) -> dict[str, Member]:
        """Return the origin-election records of the given articles (fingerprinted ones only)."""
        ids = sorted(set(article_ids))
        a, o, f = t.articles.c, t.outlets.c, t.fingerprints.c
        rows = conn.execute(
            select(
                a.id, a.published_at, a.first_seen_at, a.outlet_id, o.name, o.homepage, f.features
            )
            .join_from(t.articles, t.fingerprints, f.article_id == a.id)
            .join(t.outlets, o.id == a.outlet_id, isouter=True)
            .where(a.id.in_(ids))
        ).all()
        members = {}
        for r in rows:
            names = {str(r.outlet_id).split("-")[0].split(".")[0].casefold()}
            if r.name:
                names.add(str(r.name).split()[0].casefold())
            if r.homepage:
                host = re.sub(r"^(?:https?://)?(?:www\.)?", "", str(r.homepage)).split("/")[0]
                if "." in host:
                    names |= {host.casefold(), host.split(".")[0].casefold()}
            credits = tuple((r.features or {}).get("c", ()))
            members[str(r.id)] = Member(
                str(r.id),
                as_utc(r.published_at),
                as_utc(r.first_seen_at),
                tuple(sorted(names)),
                credits,
            )
        return members

    def write_stories(
        self,
        conn: Connection,
        decisions: Sequence[StoryDecision],
        members: Mapping[str, Member],
        now: datetime,
    ) -> dict[str, int]:
        """Make stories and story_members match `decisions`; bump index versions of what changed.

        Returns counts: stories_written, members_written, stories_deleted, articles_bumped.
        Writes nothing when the stored state already matches.
        """
        s, m = t.stories.c, t.story_members.c
        article_ids = sorted({ms.article_id for d in decisions for ms in d.members})
        current = {
            str(r["article_id"]): r
            for r in conn.execute(select(t.story_members).where(m.article_id.in_(article_ids)))
            .mappings()
            .all()
        }
        old_story_ids = {str(r["story_id"]) for r in current.values()}
        counts = {
            "stories_written": 0,
            "members_written": 0,
            "stories_deleted": 0,
            "articles_bumped": 0,
        }
        bumped: set[str] = set()
        for decision in decisions:
            times = [as_utc(members[x.article_id].published_at) for x in decision.members]
            known = [x for x in times if x is not None]
            values = {
                "origin_article_id": decision.origin_article_id,
                "first_published_at": min(known) if known else None,
                "last_published_at": max(known) if known else None,
                "member_count": len(decision.members),
            }
            row = (
                conn.execute(select(t.stories).where(s.id == decision.story_id)).mappings().first()
            )
            story_written = True
            if row is None:
                # A story id that comes back must not be deleted from the index again.
                conn.execute(
                    delete(t.index_tombstones).where(
                        t.index_tombstones.c.kind == "story",
                        t.index_tombstones.c.doc_id == decision.story_id,
                    )
                )
                conn.execute(
                    t.stories.insert().values(
                        id=decision.story_id,
                        updated_at=now,
                        index_version=1,
                        indexed_version=0,
                        **values,
                    )
                )
                counts["stories_written"] += 1
            else:
                stored = {k: (as_utc(row[k]) if k.endswith("_at") else row[k]) for k in values}
                if stored != values:
                    conn.execute(
                        update(t.stories)
                        .where(s.id == decision.story_id)
                        .values(updated_at=now, index_version=s.index_version + 1, **values)
                    )
                    counts["stories_written"] += 1
                else:
                    story_written = False
            members_changed = False
            for ms in decision.members:
                wanted = {
                    "story_id": ms.story_id,
                    "relation": ms.relation,
                    "score": round(ms.score, 6),
                    "matched_article_id": ms.matched_article_id,
                }
                have = current.get(ms.article_id)
                if have is None:
                    conn.execute(
                        t.story_members.insert().values(
                            article_id=ms.article_id, evidence=dict(ms.evidence), **wanted
                        )
                    )
                elif {
                    k: (round(have[k], 6) if k == "score" else have[k]) for k in wanted
                } != wanted:
                    conn.execute(
                        update(t.story_members)
                        .where(m.article_id == ms.article_id)
                        .values(evidence=dict(ms.evidence), **wanted)
                    )
                else:
                    continue
                counts["members_written"] += 1
                bumped.add(ms.article_id)
                members_changed = True
            if members_changed and not story_written:
                # A copy's relation changed: the story document lists its members, re-send it.
                conn.execute(
                    update(t.stories)
                    .where(s.id == decision.story_id)
                    .values(updated_at=now, index_version=s.index_version + 1)
                )
                counts["stories_written"] += 1
        if bumped:
            conn.execute(
                update(t.articles)
                .where(t.articles.c.id.in_(sorted(bumped)))
                .values(index_version=t.articles.c.index_version + 1)
            )
            counts["articles_bumped"] = len(bumped)
        new_story_ids = {d.story_id for d in decisions}
        for story in sorted(old_story_ids - new_story_ids):
            still = conn.execute(select(m.article_id).where(m.story_id == story).limit(1)).first()
            if still is None:
                conn.execute(delete(t.stories).where(s.id == story))
                # The search index still holds the old story document: leave a tombstone.
                insert_ignore(
                    conn,
                    t.index_tombstones,
                    [{"kind": "story", "doc_id": story, "created_at": now}],
                )
                counts["stories_deleted"] += 1
        return counts


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """One member of a listed story, with its lag behind the origin."""

    article_id: str
    outlet_id: str
    language: str | None
    title: str | None
    url: str
    published_at: datetime | None
    relation: str
    score: float
    matched_article_id: str | None
    lag: timedelta | None


@dataclass(frozen=True, slots=True)
class StoryListing:
    """A story as listed by `mediamon stories`: its origin first, then the copies by time."""

    story_id: str
    origin: StoryCopy
    copies: tuple[StoryCopy, ...]


def list_stories(
    conn: Connection,
    *,
    topic: str | None = None,
    outlet_id: str | None = None,
    published_from: datetime | None = None,
    published_to: datetime | None = None,
    min_members: int = 2,
    limit: int = 50,
) -> list[StoryListing]:
    """Return stories (newest first) with at least `min_members` members, filtered.

    `topic` matches a member's tag or any sub-topic (`syria` matches `syria/idlib`); `outlet_id`
    a member's outlet; the time window applies to the story's first publication.
    """
    s, m, a = t.stories.c, t.story_members.c, t.articles.c
    query = select(s.id).where(s.member_count >= min_members)
    if published_from is not None:
        query = query.where(s.first_published_at >= published_from)
    if published_to is not None:
        query = query.where(s.first_published_at < published_to)
    if outlet_id is not None:
        query = query.where(
            s.id.in_(
                select(m.story_id)
                .join(t.articles, a.id == m.article_id)
                .where(a.outlet_id == outlet_id)
            )
        )
    if topic is not None:
        g = t.article_tags.c
        query = query.where(
            s.id.in_(
                select(m.story_id)
                .join(t.article_tags, g.article_id == m.article_id)
                .where(or_(g.topic == topic, g.topic.like(f"{topic}/%")))
            )
        )
    story_ids = [
        str(x)
        for x in conn.execute(
            query.order_by(s.first_published_at.desc(), s.id).limit(limit)
        ).scalars()
    ]
    if not story_ids:
        return []
    rows = conn.execute(
        select(
            m.story_id,
            m.article_id,
            m.relation,
            m.score,
            m.matched_article_id,
            a.outlet_id,
            a.language,
            a.title,
            a.url,
            a.published_at,
            s.origin_article_id,
        )
        .join(t.articles, a.id == m.article_id)
        .join(t.stories, s.id == m.story_id)
        .where(m.story_id.in_(story_ids))
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(str(row.story_id), []).append(row)
    listings = []
    for story in story_ids:
        members = grouped.get(story, [])
        origin_row = next((r for r in members if r.article_id == r.origin_article_id), None)
        if origin_row is None:
            continue
        origin_time = as_utc(origin_row.published_at)

        def as_copy(row: Any, origin_time: datetime | None = origin_time) -> StoryCopy:
            when = as_utc(row.published_at)
            lag = when - origin_time if when and origin_time else None
            return StoryCopy(
                str(row.article_id),
                str(row.outlet_id),
                row.language,
                row.title,
                str(row.url),
                when,
                str(row.relation),
                float(row.score),
                row.matched_article_id,
                lag,
            )

        far = datetime.max.replace(tzinfo=UTC)
        copies = sorted(
            (as_copy(r) for r in members if r is not origin_row),
            key=lambda c: (c.published_at or far, c.article_id),
        )
        listings.append(StoryListing(story, as_copy(origin_row), tuple(copies)))
    return listings
