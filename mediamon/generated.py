"""Generated, committed copies of what `schemas.index` defines: index templates and Kibana fields.

`python -m mediamon.generated` rewrites them; `tests/mediamon/test_generated.py` fails when the
committed copy differs from what the code generates, so a mapping change cannot ship without its
reviewed JSON diff. The Kibana saved objects (`infra/kibana/mediamon.ndjson`) come from
`mediamon.kibana` and are written here too, so one command refreshes every generated file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.index import (
    ARTICLE_FIELDS,
    SCHEMA_VERSION,
    STORY_FIELDS,
    IndexField,
    article_template,
    story_template,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PREFIX = "mediamon"

# Elasticsearch mapping type -> Kibana field type (the names Kibana's data-view field list uses).
_KIBANA_TYPES = {
    "keyword": "string",
    "text": "string",
    "date": "date",
    "integer": "number",
    "long": "number",
    "float": "number",
    "boolean": "boolean",
    "nested": "nested",
}


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def kibana_fields(fields: tuple[IndexField, ...]) -> list[dict[str, Any]]:
    """Return the Kibana field list (name, type, esTypes, searchable, aggregatable) of an index.

    Nested properties and multi-fields appear as their own dotted paths, as Kibana lists them.
    """
    out: list[dict[str, Any]] = []

    def add(name: str, mapping: dict[str, Any], description: str, nested_in: str | None) -> None:
        es_type = mapping.get("type", "object")
        entry: dict[str, Any] = {
            "name": name,
            "type": _KIBANA_TYPES.get(es_type, "unknown"),
            "esTypes": [es_type],
            "searchable": True,
            "aggregatable": es_type not in ("text", "nested"),
            "description": description,
        }
        if nested_in is not None:
            entry["subType"] = {"nested": {"path": nested_in}}
        out.append(entry)

    for field in fields:
        add(field.name, field.mapping, field.description, None)
        for sub, mapping in field.mapping.get("properties", {}).items():
            add(f"{field.name}.{sub}", mapping, f"{field.description} ({sub})", field.name)
        for sub, mapping in field.mapping.get("fields", {}).items():
            entry_mapping = dict(mapping)
            add(f"{field.name}.{sub}", entry_mapping, f"{field.description} (exact value)", None)
            out[-1]["subType"] = {"multi": {"parent": field.name}}
    return sorted(out, key=lambda item: str(item["name"]))


def generated_files(prefix: str = DEFAULT_PREFIX) -> dict[Path, str]:
    """Return {path relative to the project root: content} of every generated file."""
    from mediamon.kibana.renderer import saved_objects_ndjson

    return {
        Path("infra/elasticsearch/articles-template.json"): _dump(article_template(prefix)),
        Path("infra/elasticsearch/stories-template.json"): _dump(story_template(prefix)),
        Path("infra/kibana/fields.json"): _dump(
            {
                "schema_version": SCHEMA_VERSION,
                "generated_from": "schemas/index.py",
                "articles": kibana_fields(ARTICLE_FIELDS),
                "stories": kibana_fields(STORY_FIELDS),
            }
        ),
        Path("infra/kibana/mediamon.ndjson"): saved_objects_ndjson(prefix),
    }


def stale_files(root: Path = PROJECT_ROOT, prefix: str = DEFAULT_PREFIX) -> list[Path]:
    """Return the generated files whose committed copy under `root` is missing or differs."""
    stale = []
    for relative, content in generated_files(prefix).items():
        path = root / relative
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            stale.append(relative)
    return stale


def write_generated_files(root: Path = PROJECT_ROOT, prefix: str = DEFAULT_PREFIX) -> list[Path]:
    """Write every generated file under `root`; return the ones whose content changed."""
    changed = []
    for relative, content in generated_files(prefix).items():
        path = root / relative
        if path.exists() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        changed.append(relative)
    return changed


if __name__ == "__main__":
    for written in write_generated_files():
        print(f"wrote {written}")
