"""`mediamon demo`: the whole chain on embedded defaults, from nothing, in one command.

Starts a local Elasticsearch-compatible server with its data under `data/demo/search`, serves the
bundled sample outlets on 127.0.0.1, runs one ingest pass into SQLite, indexes, prints a summary and
stops what it started. Running it again adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from connectors.localsearch import local_search
from connectors.samples import serve_samples
from mediamon.runner import ingest
from mediamon.services import load_outlets, open_services
from mediamon.settings import DEFAULT_DATA_DIR, Settings, load_settings
from mediamon.stages import StageReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSummary:
    """What one demo pass left in the store and the index."""

    data_dir: Path
    database: str
    search_data_dir: Path
    report: StageReport
    store_counts: dict[str, int]
    languages: dict[str, int]
    multi_member_stories: int
    indexed_articles: int
    indexed_stories: int
    article_indices: list[str]


def run_demo(
    data_dir: Path | None = None,
    *,
    database_url: str | None = None,
    samples_base_port: int | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> DemoSummary:
    """Run one demo pass and return its summary (store and index counts)."""
    base = load_settings(data_dir=(data_dir or DEFAULT_DATA_DIR / "demo"))
    search_dir = base.data_dir / "search"
    with (
        local_search(search_dir) as server,
        serve_samples(base_port=samples_base_port or base.samples_base_port) as samples,
    ):
        registry = samples.write_registry(base.data_dir / "outlets.yaml")
        settings: Settings = base.with_overrides(
            search_url=server.url,
            registry_path=registry,
            database_url=database_url or base.database_url,
            # Sample outlets are loopback hosts with no crawl delay to respect.
            requests_per_second=20.0,
        )
        with open_services(settings) as services:
            outlets = load_outlets(settings)
            report = ingest(services, outlets, on_progress=on_progress)
            assert services.search is not None
            services.search.refresh()
            return DemoSummary(
                data_dir=settings.data_dir,
                database=settings.database_display,
                search_data_dir=search_dir,
                report=report,
                store_counts=services.store.counts(),
                languages=services.store.language_counts(),
                multi_member_stories=services.store.multi_member_story_count(),
                indexed_articles=services.search.count_articles(),
                indexed_stories=services.search.count_stories(),
                article_indices=services.search.article_indices(),
            )
