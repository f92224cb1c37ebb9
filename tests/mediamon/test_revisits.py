"""Edits are captured: revisits of known articles on SQLite and PostgreSQL, through local servers.

The page is a real capture (Global News, 2020, `mediamon/samples/captures/`) served on 127.0.0.1
with an ETag, so a revisit is a conditional GET. The edit these tests make is ours: one real
paragraph of that page is changed ("A million people have been displaced" becomes "Nearly one
million people have been displaced") the way an outlet sharpens a figure after publication.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mediamon.cli import app
from mediamon.plans import Plan
from mediamon.report import ReportOptions, write_report
from mediamon.runner import ingest, run_plan
from mediamon.services import load_outlets, open_services
from mediamon.settings import Settings, load_settings
from mediamon.stages import StageReport
from schemas import tables as t
from tests.localserver import LocalServer, Reply, Seen, serve_bytes
from tests.reliability.harness import write_registry
from transforms.versions import diff_lines

CAPTURE = (
    Path(__file__).resolve().parents[2]
    / "mediamon"
    / "samples"
    / "captures"
    / "globalnews-ca__mc2020-1536545428.html"
)
ORIGINAL = CAPTURE.read_bytes()
BEFORE = b"A million people have been displaced"
AFTER = b"Nearly one million people have been displaced"
PAGE = "/news/6620622/syria-turkey-strikes-conflict/"
PUBLISHED = "Mon, 02 Mar 2020 10:00:00 GMT"


def _rss(link: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>x</title>'
        f"<item><title>Syria</title><link>{link}</link><pubDate>{PUBLISHED}</pubDate></item>"
        "</channel></rss>"
    ).encode()


class Outlet:
    """A local outlet: robots.txt, a feed listing one page, and the page with an ETag."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.body: bytes | None = ORIGINAL
        self.gone_status = 404
        server.routes.update(
            {
                "/robots.txt": serve_bytes(b"User-agent: *\nAllow: /\n", "text/plain"),
                "/feed": serve_bytes(_rss(server.url(PAGE)), "application/rss+xml"),
                PAGE: self.serve_page,
            }
        )

    def serve_page(self, seen: Seen) -> Reply:
        if self.body is None:
            return Reply(self.gone_status, {"Content-Type": "text/html"}, b"gone")
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if seen.headers.get("if-none-match") == etag:
            return Reply(304, {"ETag": etag}, b"")
        return Reply(200, {"Content-Type": "text/html; charset=utf-8", "ETag": etag}, self.body)

    def page_requests(self) -> list[Seen]:
        return [seen for seen in self.server.requests if seen.path == PAGE]


@pytest.fixture
def outlet() -> Iterator[Outlet]:
    with LocalServer() as server:
        yield Outlet(server)


def _settings(tmp_path: Path, database_url: str, outlet: Outlet) -> Settings:
    registry = {
        "outlets": [
            {
                "id": "globalnews",
                "homepage": outlet.server.url("/"),
                "feeds": ["/feed"],
                "allow_private": True,
                # Due at once: the next run revisits what this one fetched.
                "revisit_after": "0s",
            }
        ]
    }
    path = write_registry(registry, tmp_path / "outlets.yaml")
    return load_settings({}, data_dir=tmp_path / "data").with_overrides(
        database_url=database_url,
        registry_path=path,
        search_url=None,
        requests_per_second=200.0,
    )


def _run(settings: Settings) -> tuple[StageReport, dict[str, int]]:
    with open_services(settings) as services:
        report = ingest(services, load_outlets(settings))
        return report, services.store.counts()


def _only_article(settings: Settings) -> str:
    with open_services(settings, with_search=False) as services:
        ids = services.store.article_ids()
    assert len(ids) == 1
    return ids[0]


def test_an_edited_page_is_revisited_into_a_second_version_with_its_diff(
    tmp_path: Path, database_url: str, outlet: Outlet
) -> None:
    assert ORIGINAL.count(BEFORE) == 1
    settings = _settings(tmp_path, database_url, outlet)
    first, counts = _run(settings)
    assert first.counts.get("articles_new") == 1
    assert counts["article_versions"] == 1
    assert "revisits_due" not in first.counts  # nothing was known before this run

    outlet.body = ORIGINAL.replace(BEFORE, AFTER)  # the edit (see the module docstring)
    second, counts = _run(settings)
    assert second.counts.get("revisits_changed") == 1
    assert second.counts.get("versions_new") == 1
    assert counts["article_versions"] == 2

    article_id = _only_article(settings)
    with open_services(settings, with_search=False) as services:
        history = services.store.article_history(article_id)
        text = services.store.article_text(article_id)
        with services.store.begin() as conn:
            fingerprint_version = conn.execute(
                select(t.fingerprints.c.version_id).where(t.fingerprints.c.article_id == article_id)
            ).scalar()
    assert history is not None
    assert [v.changes is None for v in history.versions] == [True, False]
    assert history.versions[1].changes == {
        "title_changed": False,
        "authors_changed": False,
        "date_changed": False,
        "paragraphs_added": 0,
        "paragraphs_removed": 0,
        "paragraphs_altered": 1,
        "chars_before": len(history.versions[0].content.text),
        "chars_after": len(history.versions[1].content.text),
    }
    diff = diff_lines(
        history.versions[0].content, history.versions[1].content, old_label="v1", new_label="v2"
    )
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert len(changed) == 2
    assert changed[0].startswith("-" + BEFORE.decode())
    assert changed[1].startswith("+" + AFTER.decode())
    assert changed[0][1 + len(BEFORE) :] == changed[1][1 + len(AFTER) :]  # the rest is as it was
    assert text is not None
    assert AFTER.decode() in text[1]
    # Re-clustered: the story's fingerprint is of the new version.
    assert fingerprint_version == history.current_version_id == history.versions[1].id

    # `mediamon article ID --versions` shows both versions and the changed paragraph.
    env = {
        "MEDIAMON_DATABASE_URL": database_url,
        "MEDIAMON_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "200",
    }
    shown = CliRunner().invoke(app, ["article", article_id[:12], "--versions"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "v1  " in shown.output
    assert "1 paragraph altered" in shown.output
    assert "+" + AFTER.decode() in shown.output
    as_json = CliRunner().invoke(app, ["article", article_id, "--json"], env=env)
    document = json.loads(as_json.stdout)
    assert document["version_count"] == 2
    assert document["versions"][1]["changes"]["paragraphs_altered"] == 1

    # The HTML report lists it under "edited after publication".
    with open_services(settings, with_search=False) as services:
        write_report(services.store, tmp_path / "report.html", ReportOptions())
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    edits = page[page.index("Edited after publication") :]
    assert "globalnews" in edits
    assert "1 paragraph altered" in edits
    assert article_id in edits

    # The schedule (one age) is spent: a re-run revisits nothing.
    before = len(outlet.page_requests())
    third, counts = _run(settings)
    assert "revisits_due" not in third.counts
    assert len(outlet.page_requests()) == before
    assert counts["article_versions"] == 2


def test_an_unchanged_page_revisited_costs_one_304_and_adds_nothing(
    tmp_path: Path, database_url: str, outlet: Outlet
) -> None:
    settings = _settings(tmp_path, database_url, outlet)
    _run(settings)
    before = len(outlet.page_requests())
    second, counts = _run(settings)
    revisits = outlet.page_requests()[before:]
    assert len(revisits) == 1
    assert revisits[0].headers.get("if-none-match")
    assert second.counts.get("revisits_not_modified") == 1
    assert "fetched" not in second.counts
    assert counts["article_versions"] == 1
    assert counts["captures"] == 1
    assert second.errors == []


@pytest.mark.parametrize("status", [404, 410])
def test_a_page_that_disappears_is_recorded_as_removed_not_as_a_failure(
    tmp_path: Path, database_url: str, outlet: Outlet, status: int
) -> None:
    settings = _settings(tmp_path, database_url, outlet)
    _run(settings)
    outlet.body, outlet.gone_status = None, status
    second, counts = _run(settings)
    assert second.counts.get("articles_removed") == 1
    assert second.errors == []
    assert counts["articles"] == 1  # the article and its text stay on record
    with open_services(settings, with_search=False) as services:
        history = services.store.article_history(_only_article(settings))
    assert history is not None
    assert history.removed_at is not None
    assert [(kind, code) for kind, _, code in history.events] == [("removed", status)]
    before = len(outlet.page_requests())
    third, _ = _run(settings)
    assert len(outlet.page_requests()) == before  # a removed page is not revisited again
    assert "articles_removed" not in third.counts


def test_a_backfill_revisits_what_is_due_by_its_window_end_and_a_rerun_revisits_nothing(
    tmp_path: Path, database_url: str, outlet: Outlet
) -> None:
    settings = _settings(tmp_path, database_url, outlet)
    _run(settings)  # the article is first seen now
    now = datetime.now(UTC).replace(microsecond=0)
    before_first_seen = Plan.backfill(now - timedelta(days=3), now - timedelta(days=2))
    covering_now = Plan.backfill(now - timedelta(days=1), now + timedelta(days=1))
    counts = []
    for plan in (before_first_seen, covering_now, covering_now):
        before = len(outlet.page_requests())
        with open_services(settings) as services:
            report = run_plan(services, plan, load_outlets(settings)).report
        counts.append((report.counts.get("revisits_due", 0), len(outlet.page_requests()) - before))
    # Nothing is due by the end of a window before the article was seen; the window that
    # covers its first revisit age revisits it (one conditional GET); its re-run revisits nothing.
    assert counts == [(0, 0), (1, 1), (0, 0)]
