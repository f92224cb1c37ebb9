"""The committed generated files (index templates, Kibana fields and saved objects) are fresh."""

from __future__ import annotations

import json
from pathlib import Path

from mediamon.generated import PROJECT_ROOT, generated_files, stale_files, write_generated_files
from schemas.index import ARTICLE_FIELDS, STORY_FIELDS, article_template, field_names


def test_committed_generated_files_match_the_code() -> None:
    stale = stale_files()
    assert not stale, f"stale generated files {stale}: run `python -m mediamon.generated`"


def test_committed_article_template_is_the_schema_template() -> None:
    committed = json.loads(
        (PROJECT_ROOT / "infra/elasticsearch/articles-template.json").read_text(encoding="utf-8")
    )
    assert committed == article_template("mediamon")
    assert set(committed["template"]["mappings"]["properties"]) == {f.name for f in ARTICLE_FIELDS}


def test_kibana_field_list_covers_every_addressable_field() -> None:
    fields = json.loads((PROJECT_ROOT / "infra/kibana/fields.json").read_text(encoding="utf-8"))
    assert {f["name"] for f in fields["articles"]} == field_names(ARTICLE_FIELDS)
    assert {f["name"] for f in fields["stories"]} == field_names(STORY_FIELDS)
    by_name = {f["name"]: f for f in fields["articles"]}
    assert by_name["text"]["aggregatable"] is False
    assert by_name["outlet"]["aggregatable"] is True
    assert by_name["tag_evidence.topic"]["subType"] == {"nested": {"path": "tag_evidence"}}


def test_a_changed_copy_is_reported_stale_and_rewritten(tmp_path: Path) -> None:
    assert sorted(write_generated_files(tmp_path)) == sorted(generated_files())
    assert stale_files(tmp_path) == []
    target = tmp_path / "infra/elasticsearch/stories-template.json"
    target.write_text(
        target.read_text(encoding="utf-8").replace("keyword", "text", 1), encoding="utf-8"
    )
    assert stale_files(tmp_path) == [Path("infra/elasticsearch/stories-template.json")]
    assert write_generated_files(tmp_path) == [Path("infra/elasticsearch/stories-template.json")]
    assert write_generated_files(tmp_path) == []


def test_every_lens_column_uses_an_operation_kibana_8_knows() -> None:
    # Kibana 8's Lens has no `avg` operation (it is `average`): a column with an unknown
    # operationType makes the whole panel fail to render.
    from mediamon.kibana.catalogue import LENS_OPERATIONS

    ndjson = PROJECT_ROOT / "infra" / "kibana" / "mediamon.ndjson"
    operations: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if "operationType" in node:
                operations.append(str(node["operationType"]))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for line in ndjson.read_text(encoding="utf-8").splitlines():
        if line.strip():
            collect(json.loads(line))
    assert "average" in operations
    assert set(operations) <= LENS_OPERATIONS, set(operations) - LENS_OPERATIONS
