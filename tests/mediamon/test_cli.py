"""The command line on a store filled by a real ingest pass (SQLite, sample outlets)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connectors.samples import load_sample_outlets, serve_samples
from connectors.store import Store
from mediamon.cli import app

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("cli")
    chosen = [o for o in load_sample_outlets() if o.id in ("afp-fr", "sputnik-fr")]
    with serve_samples(chosen) as samples:
        registry = root / "outlets.yaml"
        registry.write_text(yaml.safe_dump(samples.registry_document()), encoding="utf-8")
        env = {
            "MEDIAMON_DATA_DIR": str(root / "data"),
            "MEDIAMON_REGISTRY": str(registry),
            "MEDIAMON_REQUESTS_PER_SECOND": "50",
        }
        result = RUNNER.invoke(app, ["run"], env=env)
        assert result.exit_code == 0, result.output
        yield env


def test_run_prints_what_it_stored(filled: dict[str, str]) -> None:
    store = Store.open(f"sqlite:///{Path(filled['MEDIAMON_DATA_DIR']) / 'mediamon.sqlite3'}")
    assert store.counts()["articles"] == 2
    store.dispose()


def test_explain_names_the_terms_behind_each_tag(filled: dict[str, str]) -> None:
    store = Store.open(f"sqlite:///{Path(filled['MEDIAMON_DATA_DIR']) / 'mediamon.sqlite3'}")
    tagged = [i for i in store.article_ids() if store.article_tags(i)]
    store.dispose()
    assert tagged, "the Idlib / White Helmets samples must be tagged"
    result = RUNNER.invoke(app, ["explain", tagged[0]], env=filled)
    assert result.exit_code == 0, result.output
    assert "syria" in result.output
    assert "<- term" in result.output


def test_explain_an_unknown_article_fails_with_a_message(filled: dict[str, str]) -> None:
    result = RUNNER.invoke(app, ["explain", "0" * 32], env=filled)
    assert result.exit_code == 1
    assert "no article" in result.output


def test_outlets_shows_the_health_of_every_source(filled: dict[str, str]) -> None:
    result = RUNNER.invoke(app, ["outlets"], env=filled)
    assert result.exit_code == 0, result.output
    assert "afp-fr" in result.output
    assert "sputnik-fr" in result.output
