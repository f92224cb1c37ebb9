"""Pipeline stages on real local services: bad outlets are recorded, search outages caught up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from connectors.localsearch import LocalSearchServer, free_port
from connectors.samples import RunningSamples, load_sample_outlets, serve_samples
from mediamon.runner import ingest
from mediamon.services import load_outlets, open_services
from mediamon.settings import Settings, load_settings
from mediamon.stages import index_pending
from tests.localserver import LocalServer, serve_bytes

SAMPLE_IDS = ("sputnik-fr", "ria-ru", "afp-fr", "lefigaro-fr")


@pytest.fixture
def samples() -> Iterator[RunningSamples]:
    chosen = [o for o in load_sample_outlets() if o.id in SAMPLE_IDS]
    with serve_samples(chosen) as running:
        yield running


def _settings(
    tmp_path: Path, database_url: str, registry: dict[str, object], search_url: str | None
) -> Settings:
    path = tmp_path / "outlets.yaml"
    path.write_text(yaml.safe_dump(registry), encoding="utf-8")
    return load_settings({}, data_dir=tmp_path / "data").with_overrides(
        database_url=database_url,
        registry_path=path,
        search_url=search_url,
        requests_per_second=50.0,
    )


def test_a_broken_feed_is_that_outlets_error_and_the_others_are_ingested(
    tmp_path: Path,
    database_url: str,
    shared_data: Path,
    samples: RunningSamples,
    search_server: LocalSearchServer,
    search_prefix: str,
) -> None:
    not_a_feed = (shared_data / "feeds" / "example-com__node-feedparser-notafeed.html").read_bytes()
    invalid = (shared_data / "feeds" / "reuters-com__feed-rs-rss_2.0_invalid_1.xml").read_bytes()
    with LocalServer(
        {
            "/feed.xml": serve_bytes(not_a_feed, "text/html"),
            "/broken.xml": serve_bytes(invalid, "application/rss+xml"),
        }
    ) as broken:
        registry = samples.registry_document()
        registry["outlets"].append(
            {
                "id": "broken-example",
                "homepage": broken.url("/"),
                "feeds": ["/feed.xml", "/broken.xml"],
                "allow_private": True,
            }
        )
        settings = _settings(tmp_path, database_url, registry, search_server.url)
        settings = settings.with_overrides(search_prefix=search_prefix)
        with open_services(settings) as services:
            report = ingest(services, load_outlets(settings))
            health = {row.url: row for row in services.store.outlet_health()}
            counts = services.store.counts()
            assert services.search is not None
            services.search.refresh()
            indexed = services.search.count_articles()
    expected_articles = sum(len(o.pages) for o in samples.outlets)
    assert counts["articles"] == expected_articles
    assert indexed == expected_articles
    failed = {url: row for url, row in health.items() if row.last_error_kind}
    assert set(failed) == {broken.url("/feed.xml"), broken.url("/broken.xml")}
    assert all(row.consecutive_failures == 1 for row in failed.values())
    assert {error.where.split()[0] for error in report.errors} == {"broken-example"}


def test_a_search_outage_never_blocks_ingestion_and_the_next_run_catches_up(
    tmp_path: Path,
    database_url: str,
    samples: RunningSamples,
    search_server: LocalSearchServer,
    search_prefix: str,
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    settings = _settings(tmp_path, database_url, samples.registry_document(), down)
    with open_services(settings.with_overrides(search_prefix=search_prefix)) as services:
        report = ingest(services, load_outlets(settings))
        stored = services.store.counts()["articles"]
        pending = len(services.store.pending_article_ids())
    assert stored == sum(len(o.pages) for o in samples.outlets)
    assert report.counts.get("index_unavailable") == 1
    assert pending == stored

    up = settings.with_overrides(search_url=search_server.url, search_prefix=search_prefix)
    with open_services(up) as services:
        caught_up = index_pending(services)
        again = index_pending(services)
        assert services.search is not None
        services.search.refresh()
        assert services.search.count_articles() == stored
        assert services.store.pending_article_ids() == []
        assert services.search.count_stories() == services.store.counts()["stories"]
    assert caught_up.counts["articles_indexed"] == stored
    assert again.counts.get("articles_indexed", 0) == 0
