"""Topic-tagging and language-identification quality on a labelled set (`mediamon eval topics`).

Input: the gold JSON Lines format of `/work/shared/data/topics/README.md`. Each line names
its document by `ref`: a captured page (`{"file": ...}`, relative to the dataset folder holding
`manifest.json`), a document of the syndication set (`{"syndication_id": ...}`), or `null` with
the text inline. Pages go through the pipeline's own extraction
(`transforms.extraction.extract_article`) and then, like in the pipeline, language identification
on title + text with the page's declared language as hint, and topic tagging.

The tagger sees only `ref`, `id`, `title` and `text`. `labels` and `language` are the gold;
`made_by` is read only to split the report; `note` is never read.

Reported beside the pipeline, measured in the same run: a naive "any mention" matcher (Syria / Idlib
stems in twelve scripts anywhere in title or text), the baseline the tagger has to beat.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.errors import MediamonError
from schemas.records import RawPage
from transforms.language import identify_language
from transforms.topics import CompiledTaxonomy, fold_text, tag_topics

logger = logging.getLogger(__name__)

#: The labels the gold set scores, parent first.
SCORED_LABELS = ("syria", "syria/idlib")

# The naive baseline: any occurrence of a Syria or Idlib stem, in 12 scripts/languages, anywhere.
_NAIVE_PATTERNS = {
    "syria": re.compile(
        "|".join(
            [
                r"syri",  # en de fr nl pl sv da (Syria, Syrien, Syrie, syrisch)
                r"siri[ao]",  # es it pt ro (Siria, Síria, sirio after folding)
                r"suriye",  # tr
                r"сири",  # ru bg
                r"сирі",  # uk
                r"سوري",  # ar fa (سوريا, سوریه after folding)
                r"叙利亚|敘利亞",  # zh
                r"シリア",  # ja
                r"시리아",  # ko
                r"סוריה",  # he
                r"συρ",  # el
                r"सीरिया",  # hi
            ]
        )
    ),
    "syria/idlib": re.compile(
        r"idl[ie]b|idleb|idlep|идлиб|ідліб|ادلب|伊德利卜|伊德利布|イドリブ|이들리브|אידליב"
    ),
}


@dataclass(frozen=True, slots=True)
class GoldDocument:
    """One labelled line: the input reference and the gold answers (never the note)."""

    id: str
    ref_kind: str  # "page", "syndication" or "written"
    ref_value: str | None
    title: str | None
    text: str | None
    labels: frozenset[str]
    language: str
    made_by: str


@dataclass(frozen=True, slots=True)
class DocumentInput:
    """What the tagger is given for one document, after extraction."""

    id: str
    title: str | None
    text: str
    hint: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentPrediction:
    """The pipeline's and the baseline's answers for one document."""

    id: str
    labels: tuple[str, ...]
    language: str
    title_language: str | None
    title_language_hinted: str | None
    baseline_labels: tuple[str, ...]
    answerable: bool
    baseline_language: str | None = None
    baseline_title_language: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The prediction line of the README: id, the gold set's labels we predicted, language."""
        labels = [label for label in self.labels if label in SCORED_LABELS]
        return {"id": self.id, "labels": labels, "language": self.language}


@dataclass(slots=True)
class LabelScore:
    """Precision, recall and F1 of one label over documents, with their counts."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_json(self) -> dict[str, float | int]:
        """Counts and rounded scores."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass(slots=True)
class Accuracy:
    """Share of correct answers."""

    correct: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        """Count one answer."""
        self.total += 1
        self.correct += ok

    @property
    def value(self) -> float:
        """correct / total (1.0 on an empty set)."""
        return self.correct / self.total if self.total else 1.0

    def as_json(self) -> dict[str, float | int]:
        """Counts and the rounded accuracy."""
        return {"correct": self.correct, "total": self.total, "accuracy": round(self.value, 4)}


@dataclass(slots=True)
class TopicReport:
    """Everything `mediamon eval topics` prints."""

    documents: int
    labels: dict[str, dict[str, dict[str, LabelScore]]] = field(default_factory=dict)
    language: dict[str, Accuracy] = field(default_factory=dict)
    language_by_gold: dict[str, Accuracy] = field(default_factory=dict)
    language_errors: list[tuple[str, str, str]] = field(default_factory=list)
    extraction_failures: int = 0

    def as_json(self) -> dict[str, Any]:
        """A JSON-serialisable form of the report."""
        return {
            "documents": self.documents,
            "extraction_failures": self.extraction_failures,
            "labels": {
                system: {
                    split: {label: score.as_json() for label, score in scores.items()}
                    for split, scores in splits.items()
                }
                for system, splits in self.labels.items()
            },
            "language": {name: acc.as_json() for name, acc in self.language.items()},
            "language_by_gold": {
                name: acc.as_json() for name, acc in sorted(self.language_by_gold.items())
            },
            "language_errors": [list(e) for e in self.language_errors],
        }


def read_gold(path: Path) -> list[GoldDocument]:
    """Read the gold JSON Lines at `path` (README format). `note` is never read."""
    documents: list[GoldDocument] = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            ref = row.get("ref")
            if ref is None:
                kind, value = "written", None
            elif "file" in ref:
                kind, value = "page", str(ref["file"])
            elif "syndication_id" in ref:
                kind, value = "syndication", str(ref["syndication_id"])
            else:
                raise ValueError(f"{path}:{number}: unknown ref {ref!r}")
            labels = set(row.get("labels") or ())
            # The README's implication: a document labelled syria/idlib is a syria document.
            if "syria/idlib" in labels:
                labels.add("syria")
            documents.append(
                GoldDocument(
                    id=str(row["id"]),
                    ref_kind=kind,
                    ref_value=value,
                    title=row.get("title"),
                    text=row.get("text"),
                    labels=frozenset(labels),
                    language=str(row.get("language") or ""),
                    made_by=str(row.get("made_by") or "unknown"),
                )
            )
    return documents


def read_syndication(path: Path) -> dict[str, tuple[str | None, str]]:
    """Index a syndication JSON Lines file by id: (title, text)."""
    index: dict[str, tuple[str | None, str]] = {}
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                row = json.loads(line)
                index[str(row["id"])] = (row.get("title"), row.get("text") or "")
    return index


def page_from_file(dataset: Path, file: str, *, now: datetime) -> RawPage:
    """A captured page file as the `RawPage` a fetch would give (text/html, no charset)."""
    address = f"https://fixture.invalid/{file}"
    return RawPage(
        requested_url=address,
        final_url=address,
        status=200,
        headers=(("content-type", "text/html"),),
        body=(dataset / file).read_bytes(),
        fetched_at=now,
    )


def _manifest_urls(dataset: Path) -> dict[str, str]:
    manifest = dataset / "manifest.json"
    if not manifest.exists():
        return {}
    rows = json.loads(manifest.read_text(encoding="utf-8"))
    return {str(r["file"]): str(r["url"]) for r in rows if r.get("file") and r.get("url")}


def resolve_inputs(
    gold: Sequence[GoldDocument],
    *,
    dataset: Path,
    syndication: Mapping[str, tuple[str | None, str]],
    now: datetime,
) -> list[DocumentInput]:
    """Obtain the text of every gold document: extract pages, look up syndication ids, or inline.

    A page whose extraction fails (PermanentError) gets empty text and its error; it stays in the
    evaluation (the README counts it as unanswerable for language, as a negative prediction for
    labels).
    """
    from transforms.extraction import extract_article

    urls = _manifest_urls(dataset)
    inputs: list[DocumentInput] = []
    for doc in gold:
        if doc.ref_kind == "page" and doc.ref_value is not None:
            page = page_from_file(dataset, doc.ref_value, now=now)
            if doc.ref_value in urls:
                address = urls[doc.ref_value]
                page = RawPage(address, address, 200, page.headers, page.body, now)
            try:
                article = extract_article(page, None, now=now)
            except MediamonError as error:
                inputs.append(DocumentInput(doc.id, None, "", error=f"{error.kind}: {error}"))
                continue
            inputs.append(DocumentInput(doc.id, article.title, article.text, article.language_hint))
        elif doc.ref_kind == "syndication" and doc.ref_value is not None:
            if doc.ref_value not in syndication:
                raise KeyError(f"syndication id {doc.ref_value!r} of {doc.id} not found")
            title, text = syndication[doc.ref_value]
            inputs.append(DocumentInput(doc.id, title, text))
        else:
            inputs.append(DocumentInput(doc.id, doc.title, doc.text or ""))
    return inputs


def tag_naive(title: str | None, text: str) -> tuple[str, ...]:
    """The baseline: every label whose stem occurs anywhere in title or text (folded)."""
    folded = fold_text(f"{title or ''}\n{text}")
    labels = [label for label, pattern in _NAIVE_PATTERNS.items() if pattern.search(folded)]
    if "syria/idlib" in labels and "syria" not in labels:
        labels.insert(0, "syria")
    return tuple(labels)


def identify_language_raw(text: str) -> str:
    """The language baseline: bare py3langid (all its classes, no hint, no prior) on `text`."""
    from transforms.language import _load_identifier

    return str(_load_identifier().classify(text)[0]) if text.strip() else "und"


def predict_document(doc: DocumentInput, compiled: CompiledTaxonomy) -> DocumentPrediction:
    """Run language identification and tagging on one document, as the pipeline does."""
    combined = f"{doc.title or ''}\n{doc.text}".strip()
    guess = identify_language(combined, hint=doc.hint)
    tags = tag_topics(compiled, title=doc.title, text=doc.text, language=guess.language)
    title_language = identify_language(doc.title).language if doc.title else None
    title_hinted = identify_language(doc.title, hint=doc.hint).language if doc.title else None
    return DocumentPrediction(
        id=doc.id,
        labels=tuple(tag.topic for tag in tags),
        language=guess.language,
        title_language=title_language,
        title_language_hinted=title_hinted,
        baseline_labels=tag_naive(doc.title, doc.text),
        answerable=bool(combined),
        baseline_language=identify_language_raw(combined),
        baseline_title_language=identify_language_raw(doc.title) if doc.title else None,
    )


def _score_labels(
    gold: Iterable[GoldDocument],
    predicted: Mapping[str, Iterable[str]],
    split: Mapping[str, str],
) -> dict[str, dict[str, LabelScore]]:
    scores: dict[str, dict[str, LabelScore]] = defaultdict(
        lambda: {label: LabelScore() for label in SCORED_LABELS}
    )
    for doc in gold:
        guess = set(predicted.get(doc.id, ()))
        if "syria/idlib" in guess:
            guess.add("syria")
        for label in SCORED_LABELS:
            for name in ("all", f"{split.get(doc.id, '?')}"):
                score = scores[name][label]
                if label in guess and label in doc.labels:
                    score.tp += 1
                elif label in guess:
                    score.fp += 1
                elif label in doc.labels:
                    score.fn += 1
    return dict(scores)


def score_predictions(
    gold: Sequence[GoldDocument], predictions: Sequence[DocumentPrediction]
) -> TopicReport:
    """Score predictions against the gold: labels overall and by made_by, language accuracy.

    A gold document without a prediction counts as `labels: []` and a wrong language.
    """
    by_id = {p.id: p for p in predictions}
    split = {doc.id: f"made_by={doc.made_by}" for doc in gold}
    report = TopicReport(documents=len(gold))
    report.labels["pipeline"] = _score_labels(gold, {p.id: p.labels for p in predictions}, split)
    report.labels["naive baseline"] = _score_labels(
        gold, {p.id: p.baseline_labels for p in predictions}, split
    )
    names = (
        "text",
        "text (answerable only)",
        "title alone",
        "title alone + page hint",
        "baseline: bare py3langid, text",
        "baseline: bare py3langid, title alone",
    )
    report.language = {name: Accuracy() for name in names}
    for doc in gold:
        pred = by_id.get(doc.id)
        ok = pred is not None and pred.language == doc.language
        report.language["text"].add(ok)
        report.language_by_gold.setdefault(doc.language, Accuracy()).add(ok)
        if pred is None or pred.answerable:
            report.language["text (answerable only)"].add(ok)
        if pred is not None and not pred.answerable:
            report.extraction_failures += 1
        if pred is not None and not ok:
            report.language_errors.append((doc.id, doc.language, pred.language))
        base_ok = pred is not None and pred.baseline_language == doc.language
        report.language["baseline: bare py3langid, text"].add(base_ok)
        if pred is not None and pred.baseline_title_language is not None:
            report.language["baseline: bare py3langid, title alone"].add(
                pred.baseline_title_language == doc.language
            )
        if pred is not None and pred.title_language is not None:
            report.language["title alone"].add(pred.title_language == doc.language)
            report.language["title alone + page hint"].add(
                pred.title_language_hinted == doc.language
            )
    return report


def evaluate_topics(
    gold_path: Path,
    *,
    dataset: Path,
    syndication_path: Path | None,
    compiled: CompiledTaxonomy,
    now: datetime,
) -> tuple[TopicReport, list[DocumentPrediction]]:
    """Run the whole evaluation: read the gold, obtain texts, predict, score."""
    gold = read_gold(gold_path)
    syndication = read_syndication(syndication_path) if syndication_path else {}
    inputs = resolve_inputs(gold, dataset=dataset, syndication=syndication, now=now)
    predictions = [predict_document(doc, compiled) for doc in inputs]
    return score_predictions(gold, predictions), predictions


def format_topic_report(report: TopicReport) -> str:
    """Render the report as plain-text tables (pipeline and naive baseline side by side)."""
    lines = [f"documents: {report.documents} (extraction failures: {report.extraction_failures})"]
    lines.append("")
    header = f"{'system':<16} {'split':<22} {'label':<12} {'P':>6} {'R':>6} {'F1':>6}"
    lines.append(header + f" {'TP':>4} {'FP':>4} {'FN':>4}")
    for system, splits in report.labels.items():
        for split in sorted(splits, key=lambda s: (s != "all", s)):
            for label, s in splits[split].items():
                lines.append(
                    f"{system:<16} {split:<22} {label:<12} {s.precision:6.3f} {s.recall:6.3f}"
                    f" {s.f1:6.3f} {s.tp:4d} {s.fp:4d} {s.fn:4d}"
                )
    lines.append("")
    lines.append("language accuracy")
    for name, acc in report.language.items():
        lines.append(f"  {name:<40} {acc.value:6.4f}  ({acc.correct}/{acc.total})")
    lines.append(
        "  per gold language: "
        + ", ".join(
            f"{lang} {acc.value:.3f} ({acc.correct}/{acc.total})"
            for lang, acc in sorted(report.language_by_gold.items(), key=lambda kv: -kv[1].total)
        )
    )
    if report.language_errors:
        lines.append("  errors (id gold -> predicted):")
        for doc_id, gold_language, predicted in report.language_errors:
            lines.append(f"    {doc_id} {gold_language} -> {predicted}")
    return "\n".join(lines)


def write_predictions(path: Path, predictions: Iterable[DocumentPrediction]) -> int:
    """Write one JSON line per document ({"id", "labels", "language"}); returns the line count."""
    count = 0
    with path.open("w", encoding="utf-8") as stream:
        for prediction in predictions:
            stream.write(json.dumps(prediction.as_json(), ensure_ascii=False) + "\n")
            count += 1
    return count
