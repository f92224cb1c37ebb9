"""Story decisions: is this pair a copy, which articles form a story, which one is the origin.

Pure functions over `transforms.fingerprints.TextFeatures` and plain member records.

**Only copies.** An article belongs to a story when it derives from the story's source text,
shown by several of its sentences. Two independent reports of one event share names, places,
numbers, dates and often one quotation of a minister or a spokesman; that alone is never a copy.
`verify_pair` (same language) therefore accepts:
* `exact` / `near`: resemblance (Jaccard) or containment of content-word 3-gram sets;
* `rewrite` / `excerpt`: at least `min_shared_sentences` sentences of one side found in the
  other in the same wording (most of a sentence's content 2-grams). A single shared sentence - a
  quotation - is not enough. `rewrite` when the shared sentences cover most of the shorter
  side, `excerpt` (hosted by the longer side) otherwise.
Paraphrases within a language and translations are decided by sentence alignment
(`transforms.crosslingual`).

**No chaining.** `cluster_articles` grows a story only by evidence against the story itself:
two groups merge when the verified edges between them are at least `MERGE_DENSITY` of all
possible pairs between them, and at least two edges when both groups have several members; a
lone article joins the same way or through one edge to the story's core (its origin, or a
member linked to most of the others). One edge from a member of one story to a member of
another never merges them. Edges are visited best-supported first (most shared neighbours),
so stories form before any bridge between them is looked at. The result is a function of the
edge set and the member records only, whatever the arrival order.

Origin election (`elect_origin`): earliest `published_at`; a date known only to the day
(midnight UTC) competes with every time of that day; an unknown date competes only when nothing
dated exists or when another member credits its outlet. Among competitors: most credited by the
other members ("(AFP)", "a annoncé à l'agence Sputnik", a "Read more:" link to its site), then
the earliest time (a day-only date counting from the start of its day), then precise before
day-only, then first seen, then smallest id.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from transforms.fingerprints import TextFeatures

EXACT = "exact"
NEAR = "near"
REWRITE = "rewrite"
EXCERPT = "excerpt"
TRANSLATION = "translation"
ORIGIN = "origin"

_RELATION_RANK = {EXACT: 0, NEAR: 1, REWRITE: 2, TRANSLATION: 3, EXCERPT: 4}
# Share of the possible pairs between two groups that verified edges must cover for the groups to
# merge (a lone article also joins on one edge to the story's origin or core). Douma, one day,
# edges as stored: connected components gave pairwise precision 0.84; 0.25 gave 0.94 / recall
# 0.42; 0.34 gave 0.98 / 0.40; 0.5 the same as 0.34.
MERGE_DENSITY = 0.34


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """Thresholds of `verify_pair` (see the module docstring; chosen on the Douma set)."""

    exact_resemblance: float = 0.9
    near_resemblance: float = 0.5
    near_containment: float = 0.8
    min_near_shingles: int = 10
    min_exact_words: int = 20
    sentence_min_bigrams: int = 4
    sentence_found: float = 0.6
    min_shared_sentences: int = 2
    rewrite_coverage: float = 0.5


DEFAULT_VERIFY = VerifyOptions()


@dataclass(frozen=True, slots=True)
class Match:
    """The verdict on a pair: `relation` is None when the pair is not a copy.

    `host` names the side ("a" or "b") holding an excerpt passage; `evidence` is JSON-able.
    """

    relation: str | None
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    host: str | None = None


@dataclass(frozen=True, slots=True)
class _Profile:
    """Derived sets of one article, computed once per article however many pairs it is in."""

    bigrams: frozenset[tuple[int, int]]
    trigrams: frozenset[tuple[int, int, int]]
    sentence_bigrams: tuple[frozenset[tuple[int, int]], ...]


@functools.lru_cache(maxsize=512)
def _profile(features: TextFeatures) -> _Profile:
    content = features.content
    return _Profile(
        frozenset(itertools.pairwise(content)),
        frozenset(zip(content, content[1:], content[2:], strict=False)),
        tuple(frozenset(itertools.pairwise(sentence)) for sentence in features.sentences),
    )


def resemblance_and_containment(a: TextFeatures, b: TextFeatures) -> tuple[float, float, int]:
    """Return (Jaccard, containment of the smaller set, smaller set size) of content 3-grams."""
    sa, sb = _profile(a).trigrams, _profile(b).trigrams
    if not sa or not sb:
        return 0.0, 0.0, 0
    shared = len(sa & sb)
    smaller = min(len(sa), len(sb))
    return shared / (len(sa) + len(sb) - shared), shared / smaller, smaller


def shared_sentences(
    holder: TextFeatures, other: TextFeatures, options: VerifyOptions = DEFAULT_VERIFY
) -> tuple[list[int], int]:
    """Return (indexes of `holder`'s sentences found in `other`, sentences long enough to count).

    A sentence counts when it has at least `sentence_min_bigrams` content 2-grams; it is found
    when at least `sentence_found` of them occur in `other` (the same wording, give or take an
    edit).
    """
    theirs = _profile(other).bigrams
    found: list[int] = []
    eligible = 0
    for index, grams in enumerate(_profile(holder).sentence_bigrams):
        if len(grams) < options.sentence_min_bigrams:
            continue
        eligible += 1
        if len(grams & theirs) >= options.sentence_found * len(grams):
            found.append(index)
    return found, eligible


def verify_pair(a: TextFeatures, b: TextFeatures, options: VerifyOptions = DEFAULT_VERIFY) -> Match:
    """Decide whether `a` and `b` (same language) are copies of one story, and how.

    Returns Match(relation in exact/near/rewrite/excerpt, score in [0, 1], evidence) or
    Match(None, ...) when the evidence is not strong enough. Symmetric except for `host`.
    """
    words = min(a.word_count, b.word_count)
    if a.exact_hash == b.exact_hash and words >= options.min_exact_words:
        return Match(EXACT, 1.0, {"exact_hash": True, "words": words})
    resemblance, containment, smaller = resemblance_and_containment(a, b)
    evidence: dict[str, Any] = {
        "resemblance": round(resemblance, 4),
        "containment": round(containment, 4),
    }
    if smaller >= options.min_near_shingles:
        if resemblance >= options.exact_resemblance:
            return Match(EXACT, round(resemblance, 4), evidence)
        if resemblance >= options.near_resemblance or containment >= options.near_containment:
            return Match(NEAR, round(max(resemblance, containment), 4), evidence)
    in_b, eligible_a = shared_sentences(a, b, options)
    in_a, eligible_b = shared_sentences(b, a, options)
    # Several sentences of one side found in the other (one long sentence may be split in two
    # there, so the count is taken on the side that has more): a single shared sentence - a
    # quotation - is not enough.
    shared = max(len(in_b), len(in_a))
    coverage_a = len(in_b) / eligible_a if eligible_a else 0.0
    coverage_b = len(in_a) / eligible_b if eligible_b else 0.0
    evidence["shared_sentences"] = {
        "a": in_b[:12],
        "b": in_a[:12],
        "a_sentences": eligible_a,
        "b_sentences": eligible_b,
    }
    if shared < options.min_shared_sentences:
        return Match(None, round(resemblance, 4), evidence)
    # Coverage of the shorter side (the copy is usually the shorter one and keeps the wording).
    shorter = coverage_a if eligible_a <= eligible_b else coverage_b
    score = round(min(1.0, 0.5 + 0.5 * shorter), 4)
    if shorter >= options.rewrite_coverage:
        return Match(REWRITE, score, evidence)
    host = "a" if eligible_a > eligible_b else "b"  # the longer text holds the excerpt
    return Match(EXCERPT, round(0.5 * score, 4), evidence, host=host)


# --- clustering ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Edge:
    """A verified pair: `a` < `b` by id; `host` is the article holding an excerpt passage."""

    a: str
    b: str
    relation: str
    score: float
    host: str | None = None

    def other(self, article_id: str) -> str:
        """The endpoint that is not `article_id`."""
        return self.b if article_id == self.a else self.a


def make_edge(first: str, second: str, match: Match) -> Edge:
    """Return the canonical Edge (ids ordered) for a verified Match between first and second."""
    if match.relation is None:
        raise ValueError("only a verified match makes an edge")
    host = None
    if match.relation == EXCERPT:
        host = first if match.host == "a" else second
    a, b = sorted((first, second))
    return Edge(a, b, match.relation, match.score, host)


@dataclass(frozen=True, slots=True)
class Member:
    """What origin election needs to know of one article.

    `outlet_names` are casefolded names of the article's outlet (slug stem, display name);
    `credits` the names its text credits as a source.
    """

    article_id: str
    published_at: datetime | None
    first_seen_at: datetime | None = None
    outlet_names: tuple[str, ...] = ()
    credits: tuple[str, ...] = ()


def is_day_only(moment: datetime | None) -> bool:
    """True when a timestamp looks like a date known only to the day (exactly midnight UTC)."""
    if moment is None:
        return False
    value = moment.astimezone(UTC) if moment.tzinfo else moment
    return (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _credit_count(member: Member, members: Sequence[Member]) -> int:
    names = {name for name in member.outlet_names if len(name) >= 2}
    if not names:
        return 0
    return sum(
        1
        for other in members
        if other.article_id != member.article_id
        and not names & set(other.outlet_names)
        and names & set(other.credits)
    )


def elect_origin(members: Sequence[Member]) -> str:
    """Return the article id of the story's origin (see the module docstring for the rule)."""
    if not members:
        raise ValueError("a story has at least one member")
    dated = [m for m in members if m.published_at is not None]
    credits = {m.article_id: _credit_count(m, members) for m in members}
    if dated:

        def bounds(m: Member) -> tuple[datetime, datetime]:
            assert m.published_at is not None
            low = _as_utc(m.published_at)
            return (low, low + timedelta(days=1)) if is_day_only(low) else (low, low)

        earliest_high = min(bounds(m)[1] for m in dated)
        contenders = [m for m in dated if bounds(m)[0] <= earliest_high]
        contenders += [m for m in members if m.published_at is None and credits[m.article_id]]
    else:
        contenders = list(members)

    far = datetime.max.replace(tzinfo=UTC)

    def rank(m: Member) -> tuple[int, datetime, int, datetime, str]:
        seen = _as_utc(m.first_seen_at) if m.first_seen_at else far
        if m.published_at is None:
            # Only reached when credited, or when nothing in the story is dated.
            return (-credits[m.article_id], seen if not dated else far, 2, seen, m.article_id)
        precision = 1 if is_day_only(m.published_at) else 0
        # A day-only date counts from the start of its day, as a date string sorts before any
        # time of that day.
        return (-credits[m.article_id], _as_utc(m.published_at), precision, seen, m.article_id)

    return min(contenders, key=rank).article_id


class _Components:
    """Union-find over article ids with deterministic representatives."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.parent = {i: i for i in ids}
        self.members = {i: {i} for i in self.parent}

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            self.parent[high] = low
            self.members[low] |= self.members.pop(high)

    def group(self, item: str) -> set[str]:
        return self.members[self.find(item)]

    def groups(self) -> dict[str, set[str]]:
        return {root: set(items) for root, items in self.members.items()}


def cluster_articles(
    members: Mapping[str, Member], edges: Iterable[Edge], density: float = MERGE_DENSITY
) -> list[frozenset[str]]:
    """Partition `members` into stories using verified `edges` (see the module docstring).

    Two groups merge when the edges between them number at least `density` times the pairs
    between them, and at least 2 when both groups have two or more members. Edges touching an
    id outside `members` are ignored. The result is sorted by smallest id.
    """
    components = _Components(sorted(members))
    unique = {(e.a, e.b): e for e in edges if e.a in members and e.b in members}
    neighbours: dict[str, set[str]] = {}
    for edge in unique.values():
        neighbours.setdefault(edge.a, set()).add(edge.b)
        neighbours.setdefault(edge.b, set()).add(edge.a)
    # Edges inside a story share neighbours; a bridge between two stories shares none. Visiting
    # the best-supported edges first lets each story form before any bridge is looked at, so a
    # strong edge between two copies cannot pull two stories together while they are still
    # single articles.
    usable = sorted(
        unique.values(),
        key=lambda e: (
            -len(neighbours[e.a] & neighbours[e.b]),
            _RELATION_RANK.get(e.relation, 9),
            -e.score,
            e.a,
            e.b,
        ),
    )
    for edge in usable:
        if components.find(edge.a) == components.find(edge.b):
            continue
        group_a, group_b = components.group(edge.a), components.group(edge.b)
        small, large = (group_a, group_b) if len(group_a) <= len(group_b) else (group_b, group_a)
        links = sum(len(neighbours.get(item, set()) & large) for item in small)
        needed = density * len(small) * len(large)
        if len(small) >= 2:
            needed = max(needed, 2)
        elif links < needed:
            # A lone article also joins on an edge to the story's core: its origin (the text
            # every member derives from) or a member linked to most of the others.
            (alone,) = small
            degree = {item: len(neighbours.get(item, set()) & large) for item in large}
            core = {item for item, value in degree.items() if value == max(degree.values())}
            core.add(elect_origin([members[i] for i in sorted(large)]))
            needed = 1 if core & neighbours.get(alone, set()) else needed
        if links >= needed:
            components.union(edge.a, edge.b)
    return sorted((frozenset(g) for g in components.groups().values()), key=min)


def story_id_for(origin_article_id: str) -> str:
    """Return the story id: a digest of its origin's article id (re-elected origin, new id)."""
    return hashlib.sha256(f"story:{origin_article_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Membership:
    """One article's place in its story: the relation to the member it was matched to."""

    article_id: str
    story_id: str
    relation: str
    score: float
    matched_article_id: str | None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """A story: its id, origin, and every member's membership."""

    story_id: str
    origin_article_id: str
    members: tuple[Membership, ...]


def decide_stories(members: Mapping[str, Member], edges: Sequence[Edge]) -> list[StoryDecision]:
    """Cluster `members`, elect each story's origin and say how each copy relates to the story.

    A copy's relation is that of its edge to the origin when there is one, else that of its
    strongest edge to a member of the story (shortest path is not needed: the edge names the
    member it was matched to).
    """
    by_article: dict[str, list[Edge]] = {}
    for edge in edges:
        by_article.setdefault(edge.a, []).append(edge)
        by_article.setdefault(edge.b, []).append(edge)
    decisions = []
    for group in cluster_articles(members, edges):
        origin = elect_origin([members[i] for i in sorted(group)])
        story = story_id_for(origin)
        memberships = []
        for article in sorted(group):
            if article == origin:
                memberships.append(Membership(article, story, ORIGIN, 1.0, None))
                continue
            inside = [e for e in by_article.get(article, []) if e.other(article) in group]
            direct = [e for e in inside if e.other(article) == origin]
            chosen = min(
                direct or inside,
                key=lambda e: (_RELATION_RANK.get(e.relation, 9), -e.score, e.other(article)),
            )
            memberships.append(
                Membership(article, story, chosen.relation, chosen.score, chosen.other(article))
            )
        decisions.append(StoryDecision(story, origin, tuple(memberships)))
    return decisions
