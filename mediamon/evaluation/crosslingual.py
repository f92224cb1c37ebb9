"""Measure cross-language copy scoring on the labelled syndication set.

Every pair of documents in different languages is scored with `transforms.crosslingual`. Labels
(`story`, `relation`, `source_id`, `near_story`) are read only to name each pair's truth, never
passed to the scorer, which sees `title`, `text` and `language` only.

Pair classes:
- `translation-source`: a translation and the document its label says it was made from;
- `translation-member`: a translation and any other member of its story in another language
  (what transitive clustering also needs); rewrites and excerpts apart;
- `rewrite-translation`: a rewrite (same language as the origin) and a translation of the same
  origin: the two copies share facts but not wording or structure;
- `rewrite`: cross-language pairs of one story where one side is a rewrite and neither a
  translation (none in dev);
- `excerpt`: cross-language pairs of one story involving an excerpt (reported, not required: the
  excerpt's host text is another article; it joins its story through the monolingual step);
- `hard-negative`: different stories about the same event (`near_story` names the other's story,
  or two unrelated documents share a `near_story`);
- `negative`: every other different-story pair.
Same-language same-event negatives are scored too (`same-language-hard-negative`): the scorer is
language-independent, so they probe the rule where dev has few cross-language hard negatives.

Dev has only two cross-language same-event negatives, so a second pool is added when given: the
documents written for the topic-tagging set (`shared/data/topics/dev.jsonl`, `made_by` written,
text inline), independent short news items in 13 languages, many about the same Idlib events as
each other (UN aid through Bab al-Hawa in en/ar/zh, Russian-Turkish patrols in ru/pt, ...).
Every cross-language pair among them and with the syndication documents is a different-story
pair (`topic-negative`, or `topic-hard-negative` when both carry the `syria/idlib` label or one is
from the Idlib story of the syndication set).

A third pool widens the tail of the negative distribution: the real articles whose fundus
parser output ships in `shared/data/expected/<lang>/*.fundus.json` (70 articles in 21 languages,
titles and body paragraphs as the publisher wrote them; Ukraine-war and election coverage recurs
across languages). Their pairs are `page-negative`.

The baseline in the same run is the cosine-only rule (cosine >= BASELINE_COSINE, the level that
STACK-NOTES measured for faithful translations) and MinHash Jaccard (word 2-grams, 256
permutations) >= 0.5, the monolingual near-duplicate rule.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transforms import crosslingual
from transforms.crosslingual import CrossLingualMatch, score_crosslingual, signals_for_documents
from transforms.embeddings import SUPPORTED_LANGUAGES

BASELINE_COSINE = 0.77
MINHASH_THRESHOLD = 0.5
POSITIVE_CLASSES = ("translation-source", "translation-member", "rewrite-translation", "rewrite")


@dataclass(frozen=True, slots=True)
class ScoredPair:
    """One scored pair with its label-derived class."""

    left: str
    right: str
    languages: str
    pair_class: str
    match: CrossLingualMatch
    minhash_jaccard: float


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Return the JSON Lines documents of a syndication file, in file order."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_topic_documents(path: Path) -> list[dict[str, Any]]:
    """Return the written documents of a topic-tagging file as syndication-shaped negatives.

    Each becomes its own story (`story` None) with a `topic_labels` entry for classification.
    """
    documents = []
    for row in load_documents(path):
        if row.get("made_by") != "written" or not row.get("text"):
            continue
        documents.append(
            {
                "id": row["id"],
                "language": row["language"],
                "title": row.get("title"),
                "text": row["text"],
                "story": None,
                "relation": "unrelated",
                "topic_labels": tuple(row.get("labels") or ()),
            }
        )
    return documents


def load_page_documents(expected: Path) -> list[dict[str, Any]]:
    """Return the fundus-parsed real articles under `expected/<lang>/` as negatives.

    Text is the summary and the section paragraphs, paragraphs separated by a blank line; each
    article is its own story.
    """
    documents = []
    for path in sorted(expected.glob("*/*.fundus.json")):
        with path.open(encoding="utf-8") as handle:
            parsed = next(iter(json.load(handle).values()))
        body = parsed.get("body") or {}
        paragraphs = list(body.get("summary") or [])
        for section in body.get("sections") or []:
            paragraphs.extend(section.get("headline") or [])
            paragraphs.extend(section.get("paragraphs") or [])
        text = "\n\n".join(p.strip() for p in paragraphs if p and p.strip())
        if not text:
            continue
        documents.append(
            {
                "id": f"page:{path.stem.removesuffix('.fundus')}",
                "language": path.parent.name,
                "title": parsed.get("title"),
                "text": text,
                "story": None,
                "relation": "unrelated",
                "page": True,
            }
        )
    return documents


def classify_pair(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Return the evaluation class of a pair from its labels (see module docstring)."""
    if a.get("page") or b.get("page"):
        return "page-negative"
    if "topic_labels" in a or "topic_labels" in b:
        return "topic-hard-negative" if _about_idlib(a) and _about_idlib(b) else "topic-negative"
    same_story = a["story"] is not None and a["story"] == b["story"]
    if same_story:
        relations = {a["relation"], b["relation"]}
        if "excerpt" in relations:
            return "excerpt"
        if "translation" in relations:
            if a.get("source_id") == b["id"] or b.get("source_id") == a["id"]:
                return "translation-source"
            if "rewrite" in relations:
                return "rewrite-translation"
            return "translation-member"
        if "rewrite" in relations:
            return "rewrite"
        return "other-copy"
    near_a, near_b = a.get("near_story"), b.get("near_story")
    if (near_a and near_a == b["story"]) or (near_b and near_b == a["story"]):
        return "hard-negative"
    if near_a and near_a == near_b:
        return "hard-negative"
    return "negative"


def _about_idlib(document: dict[str, Any]) -> bool:
    if "topic_labels" in document:
        return "syria/idlib" in document["topic_labels"]
    return bool(document.get("story") and "idlib" in str(document["story"]))


def _minhash_jaccard(texts: Sequence[str]) -> list[Any]:
    from datasketch import MinHash

    sketches = []
    for text in texts:
        words = text.lower().split()
        sketch = MinHash(num_perm=256, seed=1)
        sketch.update_batch(
            [f"{left} {right}".encode() for left, right in itertools.pairwise(words)]
        )
        sketches.append(sketch)
    return sketches


def score_pairs(documents: Sequence[dict[str, Any]]) -> tuple[list[ScoredPair], float]:
    """Score every pair of documents; return the pairs and the seconds spent on signals."""
    started = time.perf_counter()
    signals = signals_for_documents(
        [(doc.get("title"), doc["text"], doc.get("language")) for doc in documents]
    )
    elapsed = time.perf_counter() - started
    sketches = _minhash_jaccard([doc["text"] for doc in documents])
    pairs: list[ScoredPair] = []
    for i, j in itertools.combinations(range(len(documents)), 2):
        a, b = documents[i], documents[j]
        pair_class = classify_pair(a, b)
        if a["language"] == b["language"]:
            if pair_class != "hard-negative":
                continue
            pair_class = "same-language-hard-negative"
        pairs.append(
            ScoredPair(
                left=a["id"],
                right=b["id"],
                languages=f"{a['language']}-{b['language']}",
                pair_class=pair_class,
                match=score_crosslingual(signals[i], signals[j]),
                minhash_jaccard=float(sketches[i].jaccard(sketches[j])),
            )
        )
    return pairs, elapsed


def _summary(values: Iterable[float]) -> dict[str, float] | None:
    data = sorted(values)
    if not data:
        return None
    return {
        "min": round(data[0], 3),
        "median": round(statistics.median(data), 3),
        "max": round(data[-1], 3),
    }


def summarise(pairs: Sequence[ScoredPair]) -> dict[str, Any]:
    """Return per-class distributions, recall / false pairs of the rule and baselines, margins."""
    classes: dict[str, list[ScoredPair]] = {}
    for pair in pairs:
        classes.setdefault(pair.pair_class, []).append(pair)
    report: dict[str, Any] = {
        "thresholds": {
            "translation_sentence_cosine": crosslingual.TRANSLATION_SENTENCE_COSINE,
            "translation_min_sentences": crosslingual.TRANSLATION_MIN_SENTENCES,
            "rewrite_sentence_cosine": crosslingual.REWRITE_SENTENCE_COSINE,
            "rewrite_min_sentences": crosslingual.REWRITE_MIN_SENTENCES,
        },
        "classes": {},
    }
    for name, members in sorted(classes.items()):
        accepted = sum(pair.match.is_copy for pair in members)
        report["classes"][name] = {
            "pairs": len(members),
            "accepted": accepted,
            "accepted_cosine_baseline": sum(
                pair.match.cosine >= BASELINE_COSINE for pair in members
            ),
            "accepted_minhash_baseline": sum(
                pair.minhash_jaccard >= MINHASH_THRESHOLD for pair in members
            ),
            "cosine": _summary(pair.match.cosine for pair in members),
            "alignment": _summary(pair.match.alignment for pair in members),
            "anchor_overlap": _summary(pair.match.anchor_overlap for pair in members),
        }
    positives = [p for p in pairs if p.pair_class in POSITIVE_CLASSES]
    negatives = [p for p in pairs if "negative" in p.pair_class]
    cross_negatives = [p for p in negatives if p.pair_class != "same-language-hard-negative"]
    report["totals"] = {
        "translation_source_recall": _recall(classes.get("translation-source", [])),
        "translation_all_recall": _recall(positives),
        "false_pairs_cross_language": sum(p.match.is_copy for p in cross_negatives),
        "false_pairs_same_event": sum(p.match.is_copy for p in negatives if "hard" in p.pair_class),
        "baseline_cosine_recall": _ratio(
            sum(p.match.cosine >= BASELINE_COSINE for p in positives), len(positives)
        ),
        "baseline_cosine_false_pairs": sum(
            p.match.cosine >= BASELINE_COSINE for p in cross_negatives
        ),
        "baseline_minhash_recall": _ratio(
            sum(p.minhash_jaccard >= MINHASH_THRESHOLD for p in positives), len(positives)
        ),
    }
    report["margins"] = _margins(positives, negatives)
    report["misses"] = [_describe(p) for p in positives if not p.match.is_copy]
    report["false_pairs"] = [_describe(p) for p in negatives if p.match.is_copy]
    report["closest_negatives"] = [
        _describe(p) for p in sorted(negatives, key=lambda p: -p.match.score)[:5]
    ]
    return report


def _margins(positives: Sequence[ScoredPair], negatives: Sequence[ScoredPair]) -> dict[str, Any]:
    """Nearest labelled pairs to the thresholds, for pairs in the encoder's languages.

    Vetoed negatives (facts disagree) are listed apart: the alignment threshold only has to
    separate the positives from the negatives that the veto lets through.
    """

    def extreme(pairs: Iterable[ScoredPair], key: str, pick: Any) -> float | None:
        values = [float(getattr(p.match, key)) for p in pairs]
        return round(pick(values), 3) if values else None

    encoded = [p for p in negatives if _encoded(p)]
    return {
        "lowest_positive_aligned": extreme(positives, "aligned", min),
        "highest_negative_aligned": extreme(encoded, "aligned", max),
        "lowest_positive_coverage": extreme(positives, "alignment", min),
        "highest_negative_coverage": extreme(encoded, "alignment", max),
        "lowest_positive_cosine": extreme(positives, "cosine", min),
        "highest_negative_cosine": extreme(encoded, "cosine", max),
        "min_sentences_minus_highest_negative_aligned": _difference(
            crosslingual.TRANSLATION_MIN_SENTENCES, extreme(encoded, "aligned", max)
        ),
    }


def _encoded(pair: ScoredPair) -> bool:
    return all(code in SUPPORTED_LANGUAGES for code in pair.languages.split("-"))


def _difference(left: float | None, right: float | None) -> float | None:
    return round(left - right, 3) if left is not None and right is not None else None


def _recall(pairs: Sequence[ScoredPair]) -> float | None:
    return _ratio(sum(p.match.is_copy for p in pairs), len(pairs))


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def _describe(pair: ScoredPair) -> dict[str, Any]:
    return {
        "pair": f"{pair.left}~{pair.right}",
        "class": pair.pair_class,
        "languages": pair.languages,
        "cosine": round(pair.match.cosine, 3),
        "alignment": round(pair.match.alignment, 3),
        "anchor_overlap": round(pair.match.anchor_overlap, 3),
        "evidence": list(pair.match.evidence[:8]),
    }


def evaluate_crosslingual(
    path: Path, topics_path: Path | None = None, pages_path: Path | None = None
) -> dict[str, Any]:
    """Score every cross-language pair of a syndication file and return the report.

    With `topics_path`, the written documents of that topic-tagging file join as negatives;
    with `pages_path` (an `expected/` folder), the fundus-parsed real articles under it.
    """
    documents = load_documents(path)
    if topics_path is not None:
        documents += load_topic_documents(topics_path)
    if pages_path is not None:
        documents += load_page_documents(pages_path)
    pairs, elapsed = score_pairs(documents)
    report = summarise(pairs)
    report["documents"] = len(documents)
    report["signal_seconds"] = round(elapsed, 2)
    return report


def main() -> None:
    """Print the report as JSON: syndication dev set and topic negatives, or the paths given."""
    import sys

    data = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else data / "syndication" / "dev.jsonl"
    topics = Path(sys.argv[2]) if len(sys.argv) > 2 else data / "topics" / "dev.jsonl"
    pages = Path(sys.argv[3]) if len(sys.argv) > 3 else data / "expected"
    print(json.dumps(evaluate_crosslingual(path, topics, pages), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
