"""The static HTML report: built from the store (no Elasticsearch), self-contained, and drawn
without errors by a real headless Chromium (Debian's `chromium` package must be installed)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bench.index import fill_store, load_syndication
from connectors.report_queries import load_report_articles, load_report_story_members
from connectors.store import Store
from mediamon.commands.report import register
from mediamon.report import ReportOptions, copy_matrix, story_timelines, write_report
from tests.fixtures import SHARED_DATA

NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The dev syndication set saved, tagged and clustered (monolingual path, for speed)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'store.sqlite3'}"
    store = Store.open(url)
    store.migrate()
    fill_store(
        store,
        load_syndication(SHARED_DATA / "syndication" / "dev.jsonl"),
        now=NOW,
        crosslingual=False,
    )
    store.dispose()
    return url


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (Makefile/CI)")
    return found


def _run_chromium(page: Path, work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = work / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _png_pixels(path: Path) -> tuple[int, int, int, bytes]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): (width, height, channels, pixels)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8
            assert color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    previous = bytearray(stride)
    for row in range(height):
        kind = raw[row * (stride + 1)]
        line = bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        out += line
        previous = line
    return width, height, channels, bytes(out)


def _coloured_pixels(path: Path) -> int:
    """Pixels that are clearly coloured (chart fills), not white, grey or black text."""
    width, height, channels, pixels = _png_pixels(path)
    count = 0
    for i in range(0, width * height * channels, channels):
        r, g, b = pixels[i], pixels[i + 1], pixels[i + 2]
        if max(r, g, b) - min(r, g, b) > 40:
            count += 1
    return count


def test_report_command_writes_a_self_contained_page(store_url: str, tmp_path: Path) -> None:
    app, eval_app = typer.Typer(), typer.Typer()
    register(app, eval_app)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["report", "--from", "2016-01-01", "--to", "2026-11-25", "--out", str(out)],
        env={"MEDIAMON_DATABASE_URL": store_url, "MEDIAMON_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert "67 articles" in result.output
    page = out.read_text(encoding="utf-8")
    # Nothing to fetch: no external scripts, styles, images or fonts.
    assert not re.search(r"""\b(src|href)\s*=|<link\b|@import|url\(""", page)
    for title in (
        "Articles per outlet",
        "Topic share per outlet",
        "Language mix",
        "Story propagation",
        "Who copies whom",
    ):
        assert title in page
    assert page.count("<svg") == 5


@pytest.mark.chromium
def test_report_opens_in_headless_chromium_without_errors_and_draws_charts(
    store_url: str, tmp_path: Path
) -> None:
    store = Store.open(store_url)
    try:
        write_report(store, tmp_path / "report.html", ReportOptions())
    finally:
        store.dispose()
    dom = _run_chromium(tmp_path / "report.html", tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console_errors(dom.stderr) == []
    assert '<pre id="report-errors"></pre>' in dom.stdout
    drawn = re.search(r'data-drawn-elements="(\d+)"', dom.stdout)
    assert drawn is not None
    assert int(drawn.group(1)) > 200

    shot = tmp_path / "report.png"
    run = _run_chromium(
        tmp_path / "report.html",
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1000,2400",
        "--force-device-scale-factor=0.5",
        "--hide-scrollbars",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.exists()
    assert _console_errors(run.stderr) == []
    assert _coloured_pixels(shot) > 5000


@pytest.mark.chromium
def test_the_checks_catch_a_broken_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><html><body><pre id="report-errors"></pre>'
        "<script>missingFunction();</script></body></html>",
        encoding="utf-8",
    )
    dom = _run_chromium(broken, tmp_path, "--dump-dom")
    assert any("missingFunction" in line for line in _console_errors(dom.stderr))
    shot = tmp_path / "blank.png"
    _run_chromium(
        broken,
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=400,300",
        "--force-device-scale-factor=0.5",
    )
    assert _coloured_pixels(shot) == 0


def test_report_views_agree_with_the_store(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        articles = load_report_articles(store.engine, None, None)
        members = load_report_story_members(store.engine, None, None)
        assert len(articles) == store.counts()["articles"]
        assert len({m.story_id for m in members}) == store.multi_member_story_count()
        _, _, matrix = copy_matrix(members)
        assert sum(matrix.values()) == len(members) - store.multi_member_story_count()
        timelines = story_timelines(members, limit=100)
        assert all(lag is None or lag >= 0 for s in timelines for _, _, lag in s.copies)
        syria = load_report_articles(store.engine, None, None, topic="syria")
        assert syria
        assert all(any(t.split("/")[0] == "syria" for t in a.topics) for a in syria)
        window = load_report_articles(
            store.engine, datetime(2019, 11, 1, tzinfo=UTC), datetime(2019, 12, 1, tzinfo=UTC)
        )
        assert 0 < len(window) < len(articles)
        assert all(a.published_at.month == 11 for a in window)
    finally:
        store.dispose()


def test_an_empty_window_still_renders(store_url: str, tmp_path: Path) -> None:
    store = Store.open(store_url)
    try:
        summary = write_report(
            store,
            tmp_path / "empty.html",
            ReportOptions(datetime(1990, 1, 1, tzinfo=UTC), datetime(1990, 2, 1, tzinfo=UTC)),
        )
    finally:
        store.dispose()
    assert summary.articles == 0
    page = (tmp_path / "empty.html").read_text(encoding="utf-8")
    assert page.count("No data in this window.") == 6  # five charts and the edits table


def test_report_queries_run_on_each_backend(database_url: str, tmp_path: Path) -> None:
    subset = load_syndication(SHARED_DATA / "syndication" / "dev.jsonl")[:15]
    store = Store.open(database_url)
    try:
        fill_store(store, subset, now=NOW, crosslingual=False)
        summary = write_report(store, tmp_path / "r.html", ReportOptions())
        members = load_report_story_members(store.engine, None, None)
        assert summary.articles == len(subset)
        assert summary.stories == store.multi_member_story_count() >= 1
        assert {m.article_id for m in members} <= set(store.article_ids())
    finally:
        store.dispose()
