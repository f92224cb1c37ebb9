"""Extraction quality against captured fixtures, next to bare trafilatura measured in the same run.

Input: a fixture set laid out like `/work/shared/data`: `manifest.json` (rows with `file`, `kind`,
`repo`, `url`, `expected`) and the ground-truth files it names under `expected/`.

Ground truth per page (the first file that provides the field wins):
- body text: fundus `body` (summary, sub-headlines and paragraphs), article-extraction-benchmark
  `articleBody`, Readability's expected HTML (its text content), newspaper4k's expected text.
  goose3's `cleaned_text` is only a prefix of the article, so it is not used for body scores.
- snippets: trafilatura's `with` (must occur in the text) and `without` (must not occur).
- date: htmldate `date`, trafilatura `date`, fundus `publishing_date`, Readability `publishedTime`,
  goose3 `publish_date`, newspaper4k `publish_date` (`nan`/empty = no reliable date, not scored).
- title: fundus, trafilatura, Readability, goose3, newspaper4k `title`.

Metrics (each page scored on the fields it has ground truth for; a failed extraction scores as
empty text / no title / no date):
- Tokens: text is NFKC-normalised and case-folded; a token is one Han/Kana/Thai/Lao/Khmer/Myanmar
  character (scripts written without spaces), or else a maximal run of letters and digits.
- Body precision / recall / F1: bag-of-tokens overlap (sum of per-token minimum counts) divided by
  the predicted / reference token count; F1 their harmonic mean. Averaged over pages (macro).
- Snippet accuracy: a `with` snippet passes when it occurs in the predicted text, a `without`
  snippet when it does not (both whitespace-collapsed, NFKC, exact case); passed / all snippets,
  pooled over pages (micro).
- Date day-accuracy: the predicted day equals the expected day, both as the publisher's calendar day
  written in the page. When the expected value has a time and a UTC offset and the prediction has
  an instant (ours has; bare trafilatura only gives a day), the instant's day in that offset is
  compared instead. Pages without an expected date are not scored; no prediction counts as wrong.
- Title match: the normalised titles (NFKC, case-folded, punctuation and spacing removed) are equal
  or one contains the other. Strict equality is reported beside it (`title_exact`).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import trafilatura
from lxml import html as lxml_html

from schemas.errors import PermanentError
from schemas.records import DateSource, RawPage
from transforms.dates import parse_datetime
from transforms.extraction import extract_page


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What the fixture set says about one page."""

    file: str
    repo: str
    url: str | None
    body: str | None = None
    with_snippets: tuple[str, ...] = ()
    without_snippets: tuple[str, ...] = ()
    date: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    """One extractor's answer for one page (the line format of `mediamon extract`)."""

    file: str
    text: str
    title: str | None
    date: str | None
    author: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    published_at: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the JSON-line form: file, text, title, date, author, language, canonical_url."""
        row: dict[str, Any] = {
            "file": self.file,
            "text": self.text,
            "title": self.title,
            "date": self.date,
            "author": self.author,
            "language": self.language,
            "canonical_url": self.canonical_url,
        }
        if self.published_at is not None:
            row["published_at"] = self.published_at
        if self.error is not None:
            row["error"] = self.error
        return row


@dataclass(slots=True)
class Scores:
    """Sums from which the reported figures are computed."""

    body_pages: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    snippets: int = 0
    snippets_passed: int = 0
    date_pages: int = 0
    date_correct: int = 0
    title_pages: int = 0
    title_match: int = 0
    title_exact: int = 0
    failures: int = 0

    def summary(self) -> dict[str, float | int | None]:
        """Return the figures: macro body P/R/F1, snippet accuracy, date and title accuracy."""

        def ratio(numerator: float, denominator: int) -> float | None:
            return round(numerator / denominator, 4) if denominator else None

        return {
            "body_pages": self.body_pages,
            "body_precision": ratio(self.precision, self.body_pages),
            "body_recall": ratio(self.recall, self.body_pages),
            "body_f1": ratio(self.f1, self.body_pages),
            "snippets": self.snippets,
            "snippet_accuracy": ratio(self.snippets_passed, self.snippets),
            "date_pages": self.date_pages,
            "date_accuracy": ratio(self.date_correct, self.date_pages),
            "title_pages": self.title_pages,
            "title_match": ratio(self.title_match, self.title_pages),
            "title_exact": ratio(self.title_exact, self.title_pages),
            "failures": self.failures,
        }


@dataclass(slots=True)
class Report:
    """Scores of one extractor, overall and per source repository."""

    overall: Scores = field(default_factory=Scores)
    by_repo: dict[str, Scores] = field(default_factory=lambda: defaultdict(Scores))


# ---------------------------------------------------------------- ground truth


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _first_value(data: dict[str, Any]) -> dict[str, Any]:
    value: Any = next(iter(data.values()), {})
    return value if isinstance(value, dict) else {}


def _usable_date(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and value.lower() not in {"nan", "none", "null"} else None


def _fundus_body(body: dict[str, Any]) -> str:
    parts: list[str] = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        parts.extend(section.get("headline") or [])
        parts.extend(section.get("paragraphs") or [])
    return "\n".join(str(part) for part in parts)


def _html_text(markup: str) -> str:
    if not markup.strip():
        return ""
    tree = lxml_html.fromstring(markup)
    for block in tree.iter("p", "div", "li", "h1", "h2", "h3", "h4", "br", "tr", "blockquote"):
        block.tail = "\n" + (block.tail or "")
    return str(tree.text_content())


def load_ground_truth(root: Path) -> list[GroundTruth]:
    """Read `manifest.json` and the expected files of every page that has any ground truth."""
    manifest = _read_json(root / "manifest.json")
    truths: list[GroundTruth] = []
    for row in manifest:
        if row.get("kind") != "page" or not row.get("expected"):
            continue
        fields: dict[str, Any] = {}
        with_snippets: list[str] = []
        without_snippets: list[str] = []
        dates: dict[str, str | None] = {}
        titles: dict[str, str | None] = {}
        bodies: dict[str, str | None] = {}
        for relative in row["expected"]:
            path = root / relative
            name = path.name
            if name.endswith(".fundus.json"):
                entry = _first_value(_read_json(path))
                bodies["fundus"] = _fundus_body(entry.get("body") or {})
                dates["fundus"] = _usable_date(entry.get("publishing_date"))
                titles["fundus"] = entry.get("title")
            elif name.endswith(".aeb.json"):
                bodies["aeb"] = _first_value(_read_json(path)).get("articleBody")
            elif name.endswith(".htmldate.json"):
                dates["htmldate"] = _usable_date(_first_value(_read_json(path)).get("date"))
            elif name.endswith(".trafilatura.json"):
                entry = _first_value(_read_json(path))
                with_snippets.extend(entry.get("with") or [])
                without_snippets.extend(entry.get("without") or [])
                dates["trafilatura"] = _usable_date(entry.get("date"))
                titles["trafilatura"] = entry.get("title")
            elif name.endswith(".goose3.json"):
                expected = _read_json(path).get("expected") or {}
                dates["goose3"] = _usable_date(expected.get("publish_date"))
                titles["goose3"] = expected.get("title")
            elif name.endswith(".readability-expected.html"):
                bodies["readability"] = _html_text(path.read_text(encoding="utf-8"))
            elif name.endswith(".readability-metadata.json"):
                entry = _read_json(path)
                dates["readability"] = _usable_date(entry.get("publishedTime"))
                titles["readability"] = entry.get("title")
            elif name.endswith(".newspaper4k-metadata.json"):
                entry = _read_json(path)
                dates["newspaper4k"] = _usable_date(entry.get("publish_date"))
                titles["newspaper4k"] = entry.get("title")
            elif name.endswith(".newspaper4k-txt.txt"):
                bodies["newspaper4k"] = path.read_text(encoding="utf-8")
        fields["body"] = _pick(bodies, ("fundus", "aeb", "readability", "newspaper4k"))
        fields["date"] = _pick(
            dates, ("htmldate", "trafilatura", "fundus", "readability", "goose3", "newspaper4k")
        )
        fields["title"] = _pick(
            titles, ("fundus", "trafilatura", "readability", "goose3", "newspaper4k")
        )
        truths.append(
            GroundTruth(
                file=row["file"],
                repo=row.get("repo") or "unknown",
                url=row.get("url"),
                with_snippets=tuple(with_snippets),
                without_snippets=tuple(without_snippets),
                **fields,
            )
        )
    return truths


def _pick(values: dict[str, str | None], order: Iterable[str]) -> str | None:
    for key in order:
        value = values.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


# ---------------------------------------------------------------- metrics

_NO_SPACE_SCRIPTS = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
)
_TOKEN = re.compile(rf"[{_NO_SPACE_SCRIPTS}]|[^\W_{_NO_SPACE_SCRIPTS}]+")


def tokenize(text: str) -> list[str]:
    """Split text into comparison tokens (character tokens for scripts written without spaces)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def score_body(predicted: str, reference: str) -> tuple[float, float, float]:
    """Return bag-of-tokens (precision, recall, F1) of `predicted` against `reference`."""
    predicted_counts = Counter(tokenize(predicted))
    reference_counts = Counter(tokenize(reference))
    overlap = sum((predicted_counts & reference_counts).values())
    predicted_total = sum(predicted_counts.values())
    reference_total = sum(reference_counts.values())
    precision = overlap / predicted_total if predicted_total else 0.0
    recall = overlap / reference_total if reference_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def score_snippets(predicted: str, with_: Iterable[str], without: Iterable[str]) -> tuple[int, int]:
    """Return (passed, total) snippet checks: `with_` must occur in the text, `without` must not."""
    text = _collapse(predicted)
    passed = total = 0
    for snippet in with_:
        total += 1
        passed += _collapse(snippet) in text
    for snippet in without:
        total += 1
        passed += _collapse(snippet) not in text
    return passed, total


def normalize_title(title: str) -> str:
    """Return the title NFKC-normalised, case-folded, without punctuation, symbols or spaces."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in {"L", "N"})


def titles_match(predicted: str | None, expected: str) -> tuple[bool, bool]:
    """Return (match, exact): normalised equality or containment either way; exact equality."""
    if not predicted:
        return False, False
    left, right = normalize_title(predicted), normalize_title(expected)
    if not left or not right:
        return False, False
    return (left == right or left in right or right in left), left == right


def _expected_day(expected: str, predicted_day: str | None, published_at: str | None) -> bool:
    parsed = parse_datetime(expected, DateSource.TEXT)
    if parsed is None or predicted_day is None:
        return False
    offset = re.search(r"(Z|[+-]\d{2}:?\d{2})$", expected.strip())
    if parsed.has_time and offset and published_at is not None:
        # The expected value fixes a zone: compare our instant's calendar day in that zone.
        instant = datetime.fromisoformat(published_at)
        zone = timezone(parsed_offset(offset.group(1)))
        return instant.astimezone(zone).date() == parsed.value.astimezone(zone).date()
    return predicted_day == parsed.day.isoformat()


def parsed_offset(text: str) -> timedelta:
    """Return the UTC offset written as "Z", "+0100" or "-05:00"."""
    if text.upper() == "Z":
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))


def score_predictions(truths: list[GroundTruth], predictions: dict[str, Prediction]) -> Report:
    """Score predictions (keyed by manifest file) against the ground truth; missing = failure."""
    report = Report()
    for truth in truths:
        prediction = predictions.get(truth.file) or Prediction(
            truth.file, "", None, None, error="missing"
        )
        for scores in (report.overall, report.by_repo[truth.repo]):
            _add_page(scores, truth, prediction)
    return report


def _add_page(scores: Scores, truth: GroundTruth, prediction: Prediction) -> None:
    scores.failures += prediction.error is not None
    if truth.body:
        precision, recall, f1 = score_body(prediction.text, truth.body)
        scores.body_pages += 1
        scores.precision += precision
        scores.recall += recall
        scores.f1 += f1
    if truth.with_snippets or truth.without_snippets:
        passed, total = score_snippets(prediction.text, truth.with_snippets, truth.without_snippets)
        scores.snippets += total
        scores.snippets_passed += passed
    if truth.date:
        scores.date_pages += 1
        scores.date_correct += _expected_day(truth.date, prediction.date, prediction.published_at)
    if truth.title:
        match, exact = titles_match(prediction.title, truth.title)
        scores.title_pages += 1
        scores.title_match += match
        scores.title_exact += exact


# ---------------------------------------------------------------- extractors


def fixture_page(root: Path, file: str, url: str | None, *, now: datetime) -> RawPage:
    """Return a fixture file as the `RawPage` a fetch would have produced (no HTTP charset)."""
    address = url or f"https://fixture.invalid/{file}"
    return RawPage(
        requested_url=address,
        final_url=address,
        status=200,
        headers=(("content-type", "text/html"),),
        body=(root / file).read_bytes(),
        fetched_at=now,
    )


def predict_pipeline(page: RawPage, file: str) -> Prediction:
    """Run the pipeline's extraction (`transforms.extraction.extract_page`) on one page."""
    try:
        result = extract_page(page, None, now=page.fetched_at)
    except PermanentError as error:
        return Prediction(file, "", None, None, error=f"{error.kind}: {error.message}")
    article = result.article
    return Prediction(
        file=file,
        text=article.text,
        title=article.title,
        date=result.published_day.isoformat() if result.published_day else None,
        author="; ".join(article.authors) or None,
        language=article.language_hint,
        canonical_url=article.canonical_url,
        published_at=article.published_at.isoformat() if article.published_at else None,
    )


def predict_bare_trafilatura(page: RawPage, file: str) -> Prediction:
    """Run trafilatura.extract with default options plus its metadata on the raw bytes."""
    output = trafilatura.extract(
        page.body, url=page.final_url, output_format="json", with_metadata=True
    )
    if not output:
        return Prediction(file, "", None, None, error="empty-text: trafilatura returned nothing")
    data = json.loads(output)
    return Prediction(
        file=file,
        text=data.get("text") or "",
        title=data.get("title"),
        date=data.get("date"),
        author=data.get("author"),
        language=data.get("language"),
        canonical_url=data.get("source"),
    )


Extractor = Callable[[RawPage, str], Prediction]


def run_extractor(
    root: Path, truths: list[GroundTruth], extractor: Extractor, *, now: datetime
) -> dict[str, Prediction]:
    """Run one extractor over every page with ground truth; return predictions by file."""
    return {
        truth.file: extractor(fixture_page(root, truth.file, truth.url, now=now), truth.file)
        for truth in truths
    }


def evaluate_extraction(root: Path, *, now: datetime | None = None) -> dict[str, Report]:
    """Evaluate our extraction and bare trafilatura on the fixture set at `root`, same run."""
    moment = now or datetime.now(UTC)
    truths = load_ground_truth(root)
    return {
        "mediamon": score_predictions(
            truths, run_extractor(root, truths, predict_pipeline, now=moment)
        ),
        "trafilatura": score_predictions(
            truths, run_extractor(root, truths, predict_bare_trafilatura, now=moment)
        ),
    }


_COLUMNS = (
    ("body_f1", "F1"),
    ("body_precision", "P"),
    ("body_recall", "R"),
    ("snippet_accuracy", "snip"),
    ("date_accuracy", "date"),
    ("title_match", "title"),
    ("title_exact", "t=="),
)


def format_report(reports: dict[str, Report]) -> str:
    """Return a plain-text table: one row per group, ours/bare for each figure."""
    ours, bare = reports["mediamon"], reports["trafilatura"]
    groups = [("ALL", ours.overall, bare.overall)] + [
        (repo, ours.by_repo[repo], bare.by_repo[repo]) for repo in sorted(ours.by_repo)
    ]
    header = f"{'group':42} {'pages':>5} " + " ".join(f"{label:>13}" for _, label in _COLUMNS)
    lines = [
        "ours/bare-trafilatura per cell; body P/R/F1 macro over pages, snippets micro, "
        "date and title per page",
        header,
    ]
    for name, mine, theirs in groups:
        a, b = mine.summary(), theirs.summary()
        pages = max(mine.body_pages, mine.date_pages, mine.title_pages)
        cells = " ".join(f"{_cell(a[key])}/{_cell(b[key])}".rjust(13) for key, _ in _COLUMNS)
        lines.append(f"{name[:42]:42} {pages:>5} {cells}")
    return "\n".join(lines)


def _cell(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "  -  "
    return f"{value:.3f}"


def reports_as_json(reports: dict[str, Report]) -> dict[str, Any]:
    """Return every figure as nested plain data (overall and per repository, per extractor)."""
    return {
        name: {
            "overall": report.overall.summary(),
            "by_repo": {repo: scores.summary() for repo, scores in sorted(report.by_repo.items())},
        }
        for name, report in reports.items()
    }
