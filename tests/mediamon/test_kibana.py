"""Kibana saved objects: Kibana 8 import shape, fields checked against the mapping, and every
panel's aggregation run against an index the pipeline built from the real syndication set.

No Kibana can run here: the import is tested against a small local HTTP server that checks the
request Kibana's import API expects (path, `overwrite=true`, `kbn-xsrf`, a multipart `file` part
holding the NDJSON) and answers like Kibana does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from bench.index import fill_store, load_syndication
from connectors.localsearch import LocalSearchServer
from connectors.search import SearchIndex, SearchSettings
from connectors.store import Store
from mediamon.commands.report import register
from mediamon.generated import PROJECT_ROOT
from mediamon.kibana import (
    PANELS,
    Bucket,
    KibanaImportError,
    KibanaSettings,
    PanelSpec,
    aggregation_body,
    check_panel,
    flatten_buckets,
    import_saved_objects,
    saved_objects,
    saved_objects_ndjson,
)
from mediamon.services import Services
from mediamon.settings import load_settings
from mediamon.stages import index_pending
from schemas import tables as t
from schemas.index import ARTICLE_FIELDS, STORY_FIELDS, articles_alias, field_names, stories_alias
from schemas.records import ExtractedArticle, LanguageGuess
from tests.fixtures import SHARED_DATA

NOW = datetime(2026, 11, 25, tzinfo=UTC)
COMMITTED = PROJECT_ROOT / "infra" / "kibana" / "mediamon.ndjson"
REQUIRED_KEYS = {
    "type",
    "id",
    "attributes",
    "references",
    "coreMigrationVersion",
    "typeMigrationVersion",
}


def _committed_objects() -> list[dict[str, Any]]:
    lines = COMMITTED.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_every_saved_object_has_the_kibana_8_import_shape() -> None:
    objects = _committed_objects()
    assert objects == saved_objects()
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects)
    types = {o["type"] for o in objects}
    assert types == {"index-pattern", "lens", "dashboard"}
    for obj in objects:
        assert set(obj) == REQUIRED_KEYS, obj["id"]
        assert obj["coreMigrationVersion"].startswith("8.")
        assert obj["typeMigrationVersion"].startswith(("7.", "8."))
        for ref in obj["references"]:
            assert set(ref) == {"type", "id", "name"}
            assert (ref["type"], ref["id"]) in ids, f"{obj['id']}: dangling reference {ref}"


def test_data_views_point_at_the_read_aliases_with_their_time_fields() -> None:
    views = {o["id"]: o["attributes"] for o in _committed_objects() if o["type"] == "index-pattern"}
    assert views["mediamon-articles"]["title"] == "mediamon-articles"
    assert views["mediamon-articles"]["timeFieldName"] == "published_at"
    assert views["mediamon-stories"]["title"] == "mediamon-stories"
    assert views["mediamon-stories"]["timeFieldName"] == "first_published_at"


def test_lens_states_are_internally_consistent() -> None:
    for obj in (o for o in _committed_objects() if o["type"] == "lens"):
        state = obj["attributes"]["state"]
        layers = state["datasourceStates"]["formBased"]["layers"]
        assert len(layers) == 1
        ((layer_id, layer),) = layers.items()
        assert sorted(layer["columnOrder"]) == sorted(layer["columns"])
        assert [r["name"] for r in obj["references"]] == [
            f"indexpattern-datasource-layer-{layer_id}"
        ]
        for column in layer["columns"].values():
            order = column.get("params", {}).get("orderBy")
            if order and order["type"] == "column":
                assert order["columnId"] in layer["columns"]
        vis = state["visualization"]
        accessors: list[str] = []
        for item in vis.get("layers", [vis]):
            for key in ("xAccessor", "splitAccessor", "yAccessor", "valueAccessor"):
                if item.get(key):
                    accessors.append(item[key])
            accessors += item.get("accessors", []) + item.get("primaryGroups", [])
            accessors += item.get("metrics", [])
            accessors += [c["columnId"] for c in item.get("columns", [])]
        assert accessors, obj["id"]
        assert set(accessors) <= set(layer["columns"]), obj["id"]


def test_dashboards_reference_their_panels_by_name() -> None:
    objects = _committed_objects()
    lens_ids = {o["id"] for o in objects if o["type"] == "lens"}
    used: set[str] = set()
    for dashboard in (o for o in objects if o["type"] == "dashboard"):
        panels = json.loads(dashboard["attributes"]["panelsJSON"])
        refs = {r["name"]: r for r in dashboard["references"]}
        json.loads(dashboard["attributes"]["optionsJSON"])
        json.loads(dashboard["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        for panel in panels:
            ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            assert ref["type"] == panel["type"] == "lens"
            assert {"x", "y", "w", "h", "i"} <= set(panel["gridData"])
            used.add(ref["id"])
    assert used == lens_ids  # every visualisation is on a dashboard


def test_every_field_a_panel_reads_exists_in_the_mapping() -> None:
    known = {
        "mediamon-articles": field_names(ARTICLE_FIELDS),
        "mediamon-stories": field_names(STORY_FIELDS),
    }
    checked = 0
    for obj in (o for o in _committed_objects() if o["type"] == "lens"):
        view = obj["references"][0]["id"]
        layers = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        for layer in layers.values():
            for column in layer["columns"].values():
                if column["sourceField"] != "___records___":
                    assert column["sourceField"] in known[view], (obj["id"], column)
                    checked += 1
        query = obj["attributes"]["state"]["query"]["query"]
        for clause in filter(None, query.split(" and ")):
            assert clause.split(" ")[0] in known[view], (obj["id"], clause)
    assert checked >= len(PANELS)


def test_a_panel_on_an_unknown_or_text_field_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the articles mapping"):
        check_panel(PanelSpec("x", "x", "articles", "donut", (Bucket("terms", "outlet_id"),)))
    with pytest.raises(ValueError, match="cannot be aggregated"):
        check_panel(PanelSpec("x", "x", "articles", "donut", (Bucket("terms", "text"),)))
    with pytest.raises(ValueError, match="not in the stories mapping"):
        check_panel(PanelSpec("x", "x", "stories", "donut", (Bucket("terms", "outlet"),)))


# --- every panel's query against an index built by the pipeline ------------------------------


@dataclass
class Indexed:
    store: Store
    search: SearchIndex


def _edit_one_article(store: Store) -> None:
    """A second version of one stored article, as a revisit would record it (for the edits panel).

    The edit is ours: the article's first paragraph loses its last word, the way an outlet trims
    a sentence after publication.
    """
    history = store.article_history(store.article_ids()[0])
    assert history is not None
    content = history.versions[-1].content
    first, _, rest = content.text.partition("\n")
    edited = ExtractedArticle(
        url=history.canonical_url,
        canonical_url=history.canonical_url,
        title=content.title,
        text=first.rsplit(" ", 1)[0] + "\n" + rest,
    )
    summary = store.article_summary(history.article_id)
    assert summary is not None
    assert summary.language is not None
    language = LanguageGuess(summary.language, summary.language_confidence or 1.0)
    saved = store.save_article(
        history.outlet_id, edited, capture_id=None, now=NOW + timedelta(hours=6), language=language
    )
    assert saved.changed


@pytest.fixture(scope="module")
def indexed(
    search_server: LocalSearchServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Indexed]:
    """The dev syndication set saved, tagged and clustered in SQLite, then indexed by the pipeline.

    The cross-lingual path of clustering is off to keep the module fast; translations then form
    their own stories, which the panels handle like any other story.
    """
    work = tmp_path_factory.mktemp("kibana")
    store = Store.open(f"sqlite:///{work / 'store.sqlite3'}")
    store.migrate()
    fill_store(
        store,
        load_syndication(SHARED_DATA / "syndication" / "dev.jsonl"),
        now=NOW,
        crosslingual=False,
    )
    _edit_one_article(store)
    search = SearchIndex(SearchSettings(url=search_server.url, prefix="kibanatest"))
    settings = load_settings({}, data_dir=work)
    report = index_pending(Services(settings, store, search))
    assert not report.errors
    search.refresh()
    yield Indexed(store, search)
    search.close()
    store.dispose()


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p.id)
def test_every_panel_query_returns_data(indexed: Indexed, panel: PanelSpec) -> None:
    alias = (
        articles_alias("kibanatest") if panel.view == "articles" else stories_alias("kibanatest")
    )
    response = indexed.search.search(alias, aggregation_body(panel))
    rows = flatten_buckets(panel, response)
    assert rows, f"panel {panel.id} drew nothing"
    for row in rows:
        assert all(row[m.key] is not None for m in panel.metrics), row


def _panel(panel_id: str) -> PanelSpec:
    return next(p for p in PANELS if p.id == panel_id)


def test_panel_numbers_agree_with_the_store(indexed: Indexed) -> None:
    search = indexed.search
    languages = flatten_buckets(
        _panel("language-mix"),
        search.search(articles_alias("kibanatest"), aggregation_body(_panel("language-mix"))),
    )
    assert {r["b_terms_language"]: r["m_count_records"] for r in languages} == (
        indexed.store.language_counts()
    )

    # Who copies whom: every non-origin member of a multi-member story, once.
    m, s = t.story_members.c, t.stories.c
    with indexed.store.engine.connect() as conn:
        copies = conn.execute(
            select(func.count())
            .select_from(t.story_members)
            .join(t.stories, s.id == m.story_id)
            .where(s.member_count > 1, m.article_id != s.origin_article_id)
        ).scalar_one()
    matrix = flatten_buckets(
        _panel("who-copies-whom"),
        search.search(articles_alias("kibanatest"), aggregation_body(_panel("who-copies-whom"))),
    )
    assert sum(r["m_count_records"] for r in matrix) == copies > 0

    widest = flatten_buckets(
        _panel("widest-stories"),
        search.search(stories_alias("kibanatest"), aggregation_body(_panel("widest-stories"))),
    )
    # The local server ignores `order` by a sub-aggregation (Elasticsearch honours it), so
    # compare the values, not their order; the panel's size exceeds the stories in the set.
    a = t.articles.c
    with indexed.store.engine.connect() as conn:
        outlets_per_story = (
            conn.execute(
                select(func.count(func.distinct(a.outlet_id)))
                .join_from(t.story_members, t.articles, a.id == m.article_id)
                .join(t.stories, s.id == m.story_id)
                .where(s.member_count > 1)
                .group_by(m.story_id)
            )
            .scalars()
            .all()
        )
    assert sorted(r["m_max_outlet_count"] for r in widest) == sorted(outlets_per_story)
    assert max(outlets_per_story) >= 3


def test_the_time_range_filters_like_the_dashboard_time_picker(indexed: Indexed) -> None:
    panel = _panel("articles-per-outlet")
    everything = indexed.search.search(articles_alias("kibanatest"), aggregation_body(panel))
    before = indexed.search.search(
        articles_alias("kibanatest"), aggregation_body(panel, time_to="2000-01-01T00:00:00Z")
    )
    assert everything["hits"]["total"]["value"] > 0
    assert before["hits"]["total"]["value"] == 0


# --- import into Kibana (a local fake of the import API) ---------------------------------------


class _FakeKibana(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    answer_errors: ClassVar[bool] = False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        url = urlsplit(self.path)
        message = message_from_bytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body,
            policy=email_policy,
        )
        parts = {
            part.get_param("name", header="content-disposition"): part
            for part in message.iter_parts()
        }
        ok = (
            url.path.endswith("/api/saved_objects/_import")
            and parse_qs(url.query) == {"overwrite": ["true"]}
            and self.headers.get("kbn-xsrf") is not None
            and message.get_content_type() == "multipart/form-data"
            and set(parts) == {"file"}
            and str(parts["file"].get_filename()).endswith(".ndjson")
        )
        if not ok:
            self._reply(400, {"statusCode": 400, "message": "bad import request"})
            return
        payload = parts["file"].get_payload(decode=True)
        assert isinstance(payload, bytes)
        lines = payload.decode().splitlines()
        objects = [json.loads(line) for line in lines]
        self.received.append(
            {"path": url.path, "objects": objects, "auth": self.headers.get("Authorization")}
        )
        if self.answer_errors:
            self._reply(
                200,
                {
                    "success": False,
                    "successCount": 0,
                    "errors": [
                        {
                            "type": objects[0]["type"],
                            "id": objects[0]["id"],
                            "error": {"type": "missing_references"},
                        }
                    ],
                },
            )
            return
        self._reply(
            200,
            {
                "success": True,
                "successCount": len(objects),
                "successResults": [{"type": o["type"], "id": o["id"]} for o in objects],
            },
        )

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake_kibana() -> Iterator[str]:
    _FakeKibana.received = []
    _FakeKibana.answer_errors = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeKibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_import_posts_the_ndjson_as_kibana_expects(fake_kibana: str) -> None:
    result = import_saved_objects(
        KibanaSettings(url=fake_kibana, space="analysts", api_key="k"), saved_objects_ndjson()
    )
    assert result["successCount"] == len(saved_objects())
    (request,) = _FakeKibana.received
    assert request["path"] == "/s/analysts/api/saved_objects/_import"
    assert request["objects"] == saved_objects()
    assert request["auth"] == "ApiKey k"


def test_import_errors_from_kibana_are_raised(fake_kibana: str) -> None:
    _FakeKibana.answer_errors = True
    with pytest.raises(KibanaImportError, match="missing_references"):
        import_saved_objects(KibanaSettings(url=fake_kibana), saved_objects_ndjson())


def test_kibana_import_command(fake_kibana: str, tmp_path: Path) -> None:
    app, eval_app = typer.Typer(), typer.Typer()
    register(app, eval_app)
    result = CliRunner().invoke(app, ["kibana-import", "--kibana-url", fake_kibana])
    assert result.exit_code == 0, result.output
    assert f"{len(saved_objects())} saved objects" in result.output
    assert _FakeKibana.received[0]["path"] == "/api/saved_objects/_import"
