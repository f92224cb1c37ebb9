"""Versions of one article: whether a new extraction is an edit, what changed, a readable diff.

Pure functions. An edit is a change of what the extractor keeps of the article — title, text
paragraphs, authors, publication date — after whitespace and Unicode compatibility forms are
folded; the page around it (ads, "updated 3 min ago" banners, rotating related links) never reaches
the extracted text, so it never makes a version.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class VersionContent:
    """The fields of an extracted article that a version compares."""

    title: str | None
    text: str
    authors: tuple[str, ...] | None = None  # None: not recorded (versions from before revisits)
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VersionChange:
    """What changed from one version to the next (stored as JSON beside the new version)."""

    title_changed: bool
    authors_changed: bool
    date_changed: bool
    paragraphs_added: int
    paragraphs_removed: int
    paragraphs_altered: int
    chars_before: int
    chars_after: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in `article_versions.changes`."""
        return {
            "title_changed": self.title_changed,
            "authors_changed": self.authors_changed,
            "date_changed": self.date_changed,
            "paragraphs_added": self.paragraphs_added,
            "paragraphs_removed": self.paragraphs_removed,
            "paragraphs_altered": self.paragraphs_altered,
            "chars_before": self.chars_before,
            "chars_after": self.chars_after,
        }

    def describe(self) -> str:
        """One line for people: `title changed; 1 paragraph altered; 2,310 -> 2,402 chars`."""
        parts = []
        if self.title_changed:
            parts.append("title changed")
        if self.authors_changed:
            parts.append("authors changed")
        if self.date_changed:
            parts.append("date changed")
        for count, verb in (
            (self.paragraphs_added, "added"),
            (self.paragraphs_removed, "removed"),
            (self.paragraphs_altered, "altered"),
        ):
            if count:
                parts.append(f"{count} paragraph{'s' if count > 1 else ''} {verb}")
        parts.append(f"{self.chars_before:,} -> {self.chars_after:,} chars")
        return "; ".join(parts)


def _fold(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


def paragraphs(text: str) -> list[str]:
    """The text's non-empty paragraphs (one per line, as the extractor writes them), folded."""
    return [folded for line in text.splitlines() if (folded := _fold(line))]


def _authors(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(sorted(_fold(a).casefold() for a in value if a))


def is_edit(old: VersionContent, new: VersionContent) -> bool:
    """True when `new` differs from `old` in title, text, authors or date.

    A field the old version did not record (None) is not compared, so versions stored before
    these fields existed do not all look edited once.
    """
    return compare_versions(old, new) is not None


def compare_versions(old: VersionContent, new: VersionContent) -> VersionChange | None:
    """What changed from `old` to `new`, or None when nothing an edit is made of changed."""
    title_changed = _fold(old.title or "") != _fold(new.title or "")
    old_authors, new_authors = _authors(old.authors), _authors(new.authors)
    authors_changed = (
        old_authors is not None and new_authors is not None and old_authors != new_authors
    )
    date_changed = (
        old.published_at is not None
        and new.published_at is not None
        and old.published_at != new.published_at
    )
    before, after = paragraphs(old.text), paragraphs(new.text)
    added = removed = altered = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after).get_opcodes():
        if tag == "insert":
            added += j2 - j1
        elif tag == "delete":
            removed += i2 - i1
        elif tag == "replace":
            common = min(i2 - i1, j2 - j1)
            altered += common
            added += (j2 - j1) - common
            removed += (i2 - i1) - common
    if not (title_changed or authors_changed or date_changed or added or removed or altered):
        return None
    return VersionChange(
        title_changed=title_changed,
        authors_changed=authors_changed,
        date_changed=date_changed,
        paragraphs_added=added,
        paragraphs_removed=removed,
        paragraphs_altered=altered,
        chars_before=len(old.text),
        chars_after=len(new.text),
    )


def diff_lines(
    old: VersionContent, new: VersionContent, *, old_label: str, new_label: str
) -> list[str]:
    """A unified diff of title and text paragraphs (difflib), ready to print line by line."""
    lines: list[str] = []
    if _fold(old.title or "") != _fold(new.title or ""):
        lines.append(f"- title: {old.title or ''}")
        lines.append(f"+ title: {new.title or ''}")
    lines.extend(
        line.rstrip("\n")
        for line in difflib.unified_diff(
            paragraphs(old.text),
            paragraphs(new.text),
            fromfile=old_label,
            tofile=new_label,
            n=1,
            lineterm="",
        )
    )
    return lines


def changes_summary(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Totals over stored `changes` dicts (for reports): edits, title edits, paragraph counts."""
    totals = {"edits": 0, "title_changed": 0, "paragraphs_changed": 0}
    for row in rows:
        totals["edits"] += 1
        totals["title_changed"] += int(bool(row.get("title_changed")))
        totals["paragraphs_changed"] += sum(
            int(row.get(key, 0))
            for key in ("paragraphs_added", "paragraphs_removed", "paragraphs_altered")
        )
    return totals
