"""The private-address rule holds for every plan: live ingest, backfill and Airflow catch-up.

An outlet with `allow_private` (a local sample, a test server) may be fetched on its own
registry hosts only. Its feed and its sitemap index here list pages and a child sitemap on
another private host (a second server on 127.0.0.1, another port): every plan must refuse them
as `forbidden-address`, and that host must never see a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mediamon.plans import Plan, Window
from mediamon.runner import run_plan
from mediamon.services import load_outlets, open_services
from mediamon.settings import Settings, load_settings
from schemas import tables as t
from tests.localserver import LocalServer, serve_bytes
from tests.reliability.harness import write_registry

DAY = datetime(2018, 9, 8, tzinfo=UTC)
WINDOW = Window(DAY, DAY + timedelta(days=1))
PUBLISHED = "Sat, 08 Sep 2018 16:57:00 GMT"
ROBOTS = serve_bytes(b"User-agent: *\nAllow: /\n", "text/plain")


def _rss(links: list[str]) -> bytes:
    items = "".join(
        f"<item><title>t</title><link>{link}</link><pubDate>{PUBLISHED}</pubDate></item>"
        for link in links
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="2.0"><channel><title>x</title>{items}</channel></rss>'
    ).encode()


def _sitemap_index(children: list[str]) -> bytes:
    entries = "".join(
        f"<sitemap><loc>{url}</loc><lastmod>2018-09-08</lastmod></sitemap>" for url in children
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}'
        "</sitemapindex>"
    ).encode()


@pytest.fixture
def servers() -> Iterator[tuple[LocalServer, LocalServer]]:
    """(the allowed outlet's own server, another private host that must stay untouched)."""
    with LocalServer() as other, LocalServer() as own:
        other.routes.update(
            {
                "/robots.txt": ROBOTS,
                "/secret": serve_bytes(b"<html><title>secret</title></html>", "text/html"),
                "/sitemap.xml": serve_bytes(_sitemap_index([]), "application/xml"),
            }
        )
        own.routes.update(
            {
                "/robots.txt": ROBOTS,
                "/feed": serve_bytes(
                    _rss([other.url("/secret"), other.url("/secret?via=feed")]),
                    "application/rss+xml",
                ),
                "/sitemap.xml": serve_bytes(
                    _sitemap_index([other.url("/sitemap.xml")]), "application/xml"
                ),
            }
        )
        yield own, other


def _settings(tmp_path: Path, own: LocalServer) -> Settings:
    registry = {
        "outlets": [
            {
                "id": "allowed",
                "homepage": own.url("/"),
                "feeds": ["/feed"],
                "sitemaps": ["/sitemap.xml"],
                "allow_private": True,
            }
        ]
    }
    path = write_registry(registry, tmp_path / "outlets.yaml")
    # The process-wide switch stays off: only the outlet's own permission can open loopback.
    return load_settings({}, data_dir=tmp_path / "data").with_overrides(
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        registry_path=path,
        search_url=None,
        requests_per_second=200.0,
        allow_private=False,
    )


PLANS = {
    "live": Plan.live(),
    "backfill": Plan.backfill(WINDOW.start, WINDOW.end),
    # what `mediamon.orchestration.ingest_outlet` runs for an interval older than the live lag
    "catch-up": Plan.catch_up("allowed", WINDOW),
}


@pytest.mark.parametrize("plan_name", sorted(PLANS))
def test_an_allowed_outlet_cannot_reach_another_private_host_in_any_plan(
    tmp_path: Path, servers: tuple[LocalServer, LocalServer], plan_name: str
) -> None:
    own, other = servers
    settings = _settings(tmp_path, own)
    with open_services(settings) as services:
        run_plan(services, PLANS[plan_name], load_outlets(settings))
        with services.store.begin() as conn:
            links = {
                row.url: row.last_error_kind
                for row in conn.execute(select(t.discovered_urls)).all()
            }
        sources = {row.url: row.last_error_kind for row in services.store.outlet_health()}
    assert other.requests == [], f"{plan_name} fetched another private host: {other.paths()}"
    assert links == {
        other.url("/secret"): "forbidden-address",
        other.url("/secret?via=feed"): "forbidden-address",
    }
    assert sources[other.url("/sitemap.xml")] == "forbidden-address"
    assert sources[own.url("/feed")] is None  # the outlet's own hosts stay reachable
    assert "/feed" in own.paths()
