"""What counts as an edit and how a change is described (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from transforms.versions import VersionContent, compare_versions, diff_lines

TEXT = "First paragraph about Idlib.\nSecond paragraph quoting the Pentagon.\nThird one."


def test_whitespace_and_compatibility_forms_are_not_an_edit() -> None:
    old = VersionContent("Idlib", TEXT, ("A. Writer",))
    new = VersionContent(" Idlib ", TEXT.replace(" about", "  about") + "\n\n", ("a. writer",))
    assert compare_versions(old, new) is None


def test_an_altered_added_and_removed_paragraph_are_counted_apart() -> None:
    old = VersionContent("Idlib", TEXT)
    new = VersionContent(
        "Idlib: update",
        "First paragraph about Idlib and Hama.\nSecond paragraph quoting the Pentagon.\nNew.\n",
    )
    change = compare_versions(old, new)
    assert change is not None
    assert change.title_changed
    assert (change.paragraphs_added, change.paragraphs_removed, change.paragraphs_altered) == (
        0,
        0,
        2,
    )
    assert "title changed" in change.describe()


def test_a_paragraph_added_at_the_end_is_an_addition() -> None:
    change = compare_versions(
        VersionContent("t", TEXT), VersionContent("t", TEXT + "\nCorrection: a date was wrong.")
    )
    assert change is not None
    assert change.paragraphs_added == 1
    assert change.paragraphs_altered == 0


def test_unrecorded_authors_or_dates_are_not_compared_but_recorded_ones_are() -> None:
    day = datetime(2018, 9, 8, tzinfo=UTC)
    assert (
        compare_versions(VersionContent("t", TEXT), VersionContent("t", TEXT, ("X",), day)) is None
    )
    change = compare_versions(
        VersionContent("t", TEXT, ("X",), day), VersionContent("t", TEXT, ("Y",), day)
    )
    assert change is not None
    assert change.authors_changed


def test_the_diff_shows_the_title_and_the_changed_paragraph() -> None:
    lines = diff_lines(
        VersionContent("Old", TEXT),
        VersionContent("New", TEXT.replace("Pentagon", "US Department of Defense")),
        old_label="v1",
        new_label="v2",
    )
    assert lines[:2] == ["- title: Old", "+ title: New"]
    assert "-Second paragraph quoting the Pentagon." in lines
    assert "+Second paragraph quoting the US Department of Defense." in lines
