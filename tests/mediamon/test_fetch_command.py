"""`mediamon fetch URL` through a Typer app built with the command module's register()."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from mediamon.commands.fetch import register
from tests.fixtures import SHARED_DATA
from tests.localserver import LocalServer, Reply, serve_bytes

DATA = SHARED_DATA


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    eval_app = typer.Typer()
    register(app, eval_app)
    app.add_typer(eval_app, name="eval")
    return app


@pytest.fixture
def server() -> Iterator[LocalServer]:
    page = (
        DATA / "pages" / "zh" / "he-xinhuanet-com__traf-archive-org-he-xinhuanet-com-25340717.html"
    )
    if not page.is_file():
        pytest.fail(f"shared test data missing: {page.resolve()}")
    routes = {
        "/robots.txt": serve_bytes(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        "/old": lambda _s: Reply(301, {"Location": "/news"}),
        "/news": serve_bytes(page.read_bytes(), "text/html"),  # charset only in the page
    }
    with LocalServer(routes) as running:
        yield running


def test_fetch_prints_status_url_type_size_and_encoding(app, server):
    result = CliRunner().invoke(app, ["fetch", server.url("/old"), "--allow-private", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["status"] == 200
    assert facts["final_url"] == server.url("/news")
    assert facts["redirects"] == [server.url("/old")]
    assert facts["content_type"] == "text/html"
    assert facts["bytes"] > 10_000
    assert facts["encoding"] in ("gb2312", "gbk", "gb18030")


def test_fetch_refuses_loopback_without_the_flag(app, server):
    result = CliRunner().invoke(app, ["fetch", server.url("/news")])
    assert result.exit_code == 2
    assert "forbidden-address" in result.output
    assert server.paths() == []


def test_fetch_reports_robots_refusal_and_transient_errors(app, server):
    refused = CliRunner().invoke(app, ["fetch", server.url("/private/x"), "--allow-private"])
    assert refused.exit_code == 2
    assert "robots-disallowed" in refused.output
    down = CliRunner().invoke(
        app, ["fetch", "http://127.0.0.1:9/", "--allow-private", "--retries", "0", "--json"]
    )
    assert down.exit_code == 3
    assert json.loads(down.output)["error"] == "connection"
