"""Story decisions: is this pair a copy, which articles form a story, which one is the origin.

Pure functions over `transforms.fingerprints.TextFeatures` and plain member records.

Verification (`verify_pair`) looks at three kinds of evidence:
* resemblance (Jaccard) and containment of content-word 3-gram sets -> `exact` / `near`;
* passage density: the best window of 1-3 consecutive sentences of one article whose content
  2-grams are found in the other. A rewrite that keeps the wire's facts and quotes, or a 2-4
  sentence excerpt inside an article about something else, has one dense window even when its
  whole-document similarity is low; two different articles on the same event share names
  (single 2-grams here and there) but not a dense window. On the labelled set copies score
  density >= 0.53 with >= 9 shared 2-grams, the closest negative 0.25 with 2.
* `rewrite` versus `excerpt` versus neither: a rewrite has one side with >= 0.28 of its 2-grams
  found in the other (dev rewrite 0.41; real same-event articles sharing a quote 0.15-0.21); an
  excerpt's host is, outside the passage, about something else (<= 0.33 of its words found in
  the source: dev excerpts 0.11-0.18, same-event articles 0.43-0.60). A dense shared passage in
  an article on the same event is neither: rejected.

Clustering (`cluster_articles`) guards against chaining unrelated articles into a topical blob:
strong edges (exact, near) join components freely; weak edges (rewrite, translation) join two
components only when one is a singleton or the edge touches the origin of one of them; an excerpt
edge only attaches its host article when that host is still alone, and never bridges two stories.
The result is a function of the edge set and the member records only, whatever the arrival order.

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

STRONG_RELATIONS = frozenset({EXACT, NEAR})
WEAK_RELATIONS = frozenset({REWRITE, TRANSLATION})
_RELATION_RANK = {EXACT: 0, NEAR: 1, REWRITE: 2, TRANSLATION: 3, EXCERPT: 4}


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """Thresholds of `verify_pair` (measured on the labelled dev set; see the module docstring)."""

    exact_resemblance: float = 0.9
    near_resemblance: float = 0.5
    near_containment: float = 0.8
    min_near_shingles: int = 10
    min_exact_words: int = 20
    passage_density: float = 0.35
    passage_shared: int = 5
    passage_min_bigrams: int = 8
    passage_max_sentences: int = 3
    rewrite_coverage: float = 0.28
    excerpt_outside_overlap: float = 0.33


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
class Passage:
    """The densest window of one article against another article's content 2-grams."""

    start: int
    sentences: int
    shared: int
    bigrams: int
    coverage: float
    outside_overlap: float = 0.0

    @property
    def density(self) -> float:
        """Shared over total 2-grams of the window."""
        return self.shared / self.bigrams if self.bigrams else 0.0


@dataclass(frozen=True, slots=True)
class _Profile:
    """Derived sets of one article, computed once per article however many pairs it is in."""

    content: tuple[int, ...]
    words: frozenset[int]
    bigrams: frozenset[tuple[int, int]]
    trigrams: frozenset[tuple[int, int, int]]
    offsets: tuple[int, ...]  # token offset where each sentence starts, plus the total


@functools.lru_cache(maxsize=512)
def _profile(features: TextFeatures) -> _Profile:
    content = features.content
    offsets = [0]
    for sentence in features.sentences:
        offsets.append(offsets[-1] + len(sentence))
    return _Profile(
        content,
        frozenset(content),
        frozenset(itertools.pairwise(content)),
        frozenset(zip(content, content[1:], content[2:], strict=False)),
        tuple(offsets),
    )


def resemblance_and_containment(a: TextFeatures, b: TextFeatures) -> tuple[float, float, int]:
    """Return (Jaccard, containment of the smaller set, smaller set size) of content 3-grams."""
    sa, sb = _profile(a).trigrams, _profile(b).trigrams
    if not sa or not sb:
        return 0.0, 0.0, 0
    shared = len(sa & sb)
    smaller = min(len(sa), len(sb))
    return shared / (len(sa) + len(sb) - shared), shared / smaller, smaller


def densest_passage(
    holder: TextFeatures, other: TextFeatures, max_sentences: int = 3, min_bigrams: int = 8
) -> Passage | None:
    """Return the window of 1..max_sentences sentences of `holder` densest in `other`'s 2-grams.

    A window's 2-grams are those of its sentences' content words read in a row. Ties prefer more
    shared 2-grams, then the earliest window. None when no window is long enough.
    """
    mine, theirs = _profile(holder), _profile(other)
    if not theirs.bigrams or len(mine.content) < 2:
        return None
    # prefix[i] = shared 2-grams among the first i 2-grams of the holder's content.
    prefix = [0]
    for gram in itertools.pairwise(mine.content):
        prefix.append(prefix[-1] + (gram in theirs.bigrams))
    total = len(prefix) - 1
    coverage = prefix[-1] / total if total else 0.0
    best: Passage | None = None
    offsets = mine.offsets
    count = len(offsets) - 1
    for width in range(1, max_sentences + 1):
        for start in range(0, max(count - width + 1, 0)):
            low, high = offsets[start], offsets[start + width]
            grams = high - low - 1
            if grams < min_bigrams:
                continue
            shared = prefix[high - 1] - prefix[low]
            if best is None or (shared / grams, shared) > (best.density, best.shared):
                best = Passage(start, width, shared, grams, coverage)
    if best is None:
        return None
    # How much of the holder outside the window speaks of the other article's words: low for an
    # excerpt inside an article about something else, high for a same-event article.
    low, high = offsets[best.start], offsets[best.start + best.sentences]
    outside = mine.content[:low] + mine.content[high:]
    overlap = (
        sum(1 for token in outside if token in theirs.words) / len(outside) if outside else 0.0
    )
    return Passage(best.start, best.sentences, best.shared, best.bigrams, coverage, overlap)


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
    if len(_profile(a).bigrams & _profile(b).bigrams) < options.passage_shared:
        return Match(None, round(resemblance, 4), evidence)
    passages = [
        (
            side,
            densest_passage(
                holder, other, options.passage_max_sentences, options.passage_min_bigrams
            ),
        )
        for side, holder, other in (("a", a, b), ("b", b, a))
    ]
    found = [(side, p) for side, p in passages if p is not None]
    if not found:
        return Match(None, round(resemblance, 4), evidence)
    side, best = max(found, key=lambda item: (item[1].density, item[1].shared, item[0] == "a"))
    evidence["passage"] = {
        "side": side,
        "start": best.start,
        "sentences": best.sentences,
        "shared": best.shared,
        "bigrams": best.bigrams,
        "density": round(best.density, 4),
        "coverage": round(best.coverage, 4),
        "outside_overlap": round(best.outside_overlap, 4),
    }
    if best.density < options.passage_density or best.shared < options.passage_shared:
        return Match(None, round(best.density * 0.5, 4), evidence)
    # Coverage of the article most covered by the other (a rewrite is the shorter one and keeps
    # the facts; an article on the same event shares names and a quote, not its phrasing).
    coverage = max(p.coverage for _, p in found)
    evidence["coverage"] = round(coverage, 4)
    score = round(min(1.0, 0.5 * best.density + 0.5 * min(1.0, coverage * 2)), 4)
    if coverage >= options.rewrite_coverage:
        return Match(REWRITE, score, evidence)
    if best.outside_overlap > options.excerpt_outside_overlap:
        # A dense shared passage (a quote) inside an article on the same event: not a copy.
        return Match(None, round(best.density * 0.5, 4), evidence)
    return Match(EXCERPT, round(best.density * 0.6, 4), evidence, host=side)


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


def cluster_articles(members: Mapping[str, Member], edges: Iterable[Edge]) -> list[frozenset[str]]:
    """Partition `members` into stories using verified `edges` (see the module docstring).

    Edges touching an id outside `members` are ignored. The result is sorted by smallest id.
    """
    components = _Components(sorted(members))
    usable = sorted(
        (e for e in edges if e.a in members and e.b in members),
        key=lambda e: (_RELATION_RANK.get(e.relation, 9), -e.score, e.a, e.b),
    )
    for edge in usable:
        if edge.relation in STRONG_RELATIONS:
            components.union(edge.a, edge.b)
    for edge in usable:
        if edge.relation not in WEAK_RELATIONS:
            continue
        if components.find(edge.a) == components.find(edge.b):
            continue
        group_a = components.group(edge.a)
        group_b = components.group(edge.b)
        if len(group_a) == 1 or len(group_b) == 1:
            components.union(edge.a, edge.b)
            continue
        origin_a = elect_origin([members[i] for i in sorted(group_a)])
        origin_b = elect_origin([members[i] for i in sorted(group_b)])
        if edge.a in (origin_a, origin_b) or edge.b in (origin_a, origin_b):
            components.union(edge.a, edge.b)
    for edge in usable:
        if edge.relation != EXCERPT or edge.host is None:
            continue
        source = edge.other(edge.host)
        if len(components.group(edge.host)) == 1 and components.find(source) != components.find(
            edge.host
        ):
            components.union(edge.host, source)
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
