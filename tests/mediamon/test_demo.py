"""End to end: the demo path against real local services, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.samples import SAMPLES_DIR, free_port_range, load_sample_outlets
from mediamon.demo import run_demo

pytestmark = pytest.mark.slow


def _sample_page_count() -> int:
    return sum(len(outlet.pages) for outlet in load_sample_outlets(SAMPLES_DIR))


def test_demo_ingests_every_sample_and_a_second_run_writes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    ports = free_port_range(len(load_sample_outlets(SAMPLES_DIR)))
    first = run_demo(tmp_path / "demo", database_url=database_url, samples_base_port=ports)
    pages = _sample_page_count()
    counts = first.store_counts
    assert counts["outlets"] == len(load_sample_outlets(SAMPLES_DIR))
    assert counts["discovered_urls"] == pages
    # Every sample page becomes an article, except pages whose text cannot be extracted, which
    # are recorded as failed links with a reason.
    failed = [e for e in first.report.errors if e.kind.startswith(("not-an-article", "empty"))]
    assert counts["articles"] == pages - len(failed)
    assert counts["articles"] >= pages - 2
    assert counts["article_versions"] == counts["articles"]
    assert first.indexed_articles == counts["articles"]
    assert first.indexed_stories == counts["stories"]
    assert first.multi_member_stories >= 5  # the syndication set holds 12 multi-member stories
    assert {"fr", "ru", "ar", "de", "en"} <= set(first.languages)
    assert first.article_indices  # monthly indices behind the alias

    second = run_demo(tmp_path / "demo", database_url=database_url, samples_base_port=ports)
    assert second.store_counts == counts
    assert second.report.counts.get("links_new", 0) == 0
    assert second.report.counts.get("articles_new", 0) == 0
    assert second.report.counts.get("articles_indexed", 0) == 0
    assert second.indexed_articles == first.indexed_articles
    assert second.indexed_stories == first.indexed_stories


def test_samples_readme_names_every_real_capture() -> None:
    readme = (SAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    for row in json.loads((SAMPLES_DIR / "captures.json").read_text(encoding="utf-8")):
        assert row["file"] in readme
        assert (SAMPLES_DIR / "captures" / row["file"]).exists()
