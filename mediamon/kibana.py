"""Kibana saved objects (data views, Lens visualisations, dashboards) generated from panel specs.

Each panel is declared once as a `PanelSpec`: which data view, which buckets, which metrics, which
filter. The same spec renders (a) the Lens saved object Kibana 8 imports and (b) the Elasticsearch
aggregation body Lens would send, so tests can run every panel's query against a real index and
check every referenced field against `schemas.index`. `saved_objects_ndjson()` is the committed
`infra/kibana/mediamon.ndjson` (see `mediamon.generated`); `import_saved_objects()` posts it to
Kibana's `POST /api/saved_objects/_import?overwrite=true`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from schemas.errors import PermanentError, TransientError
from schemas.index import (
    ARTICLE_FIELDS,
    STORY_FIELDS,
    IndexField,
    articles_alias,
    field_names,
    stories_alias,
)

log = logging.getLogger(__name__)

# Saved-object format versions. Kibana migrates objects whose version is older than its own on
# import and refuses newer ones, so these are the oldest versions whose shape we write: the
# split core/type versions exist since 8.8.0, Lens' `formBased` datasource since 8.6.0, the
# dashboard shape with `panelsJSON` panels of type lens since 8.7.0.
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "lens": "8.6.0", "dashboard": "8.7.0"}
PANEL_VERSION = "8.8.0"

View = Literal["articles", "stories"]
Chart = Literal[
    "bar_stacked",
    "area_percentage_stacked",
    "bar_percentage_stacked",
    "bar_horizontal_percentage_stacked",
    "bar_horizontal",
    "donut",
    "heatmap",
    "table",
]
MetricOp = Literal["count", "max", "min", "avg", "sum", "unique_count"]

TIME_FIELDS: dict[View, str] = {"articles": "published_at", "stories": "first_published_at"}
VIEW_FIELDS: dict[View, tuple[IndexField, ...]] = {
    "articles": ARTICLE_FIELDS,
    "stories": STORY_FIELDS,
}


class KibanaImportError(PermanentError):
    """Kibana refused some saved objects (wrong shape, missing references)."""

    kind = "kibana-import"


class KibanaUnavailableError(TransientError):
    """Kibana cannot be reached or is busy; try again later."""

    kind = "kibana-unavailable"


@dataclass(frozen=True, slots=True)
class Metric:
    """One value column: an operation over a field (`count` needs none)."""

    op: MetricOp
    field: str | None = None
    label: str | None = None

    @property
    def key(self) -> str:
        """Stable column / aggregation name."""
        return f"m_{self.op}_{self.field or 'records'}".replace(".", "_")

    def title(self) -> str:
        """Human label of the column."""
        if self.label:
            return self.label
        names = {
            "count": "Articles",
            "max": "Max",
            "min": "Min",
            "avg": "Average",
            "sum": "Sum",
            "unique_count": "Unique",
        }
        return names[self.op] if self.field is None else f"{names[self.op]} {self.field}"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket column: a daily date histogram or the top terms of a keyword field."""

    kind: Literal["date_histogram", "terms"]
    field: str
    size: int = 10
    interval: str = "1d"
    order_by: Metric | None = None  # None with terms = by document count
    direction: Literal["asc", "desc"] = "desc"
    label: str | None = None

    @property
    def key(self) -> str:
        """Stable column / aggregation name."""
        return f"b_{self.kind}_{self.field}".replace(".", "_")


@dataclass(frozen=True, slots=True)
class Condition:
    """A filter term rendered both as KQL (for Lens) and as query DSL (for the test query)."""

    field: str
    op: Literal["eq", "gt", "gte", "lt", "lte"]
    value: str | int | bool

    def kql(self) -> str:
        """The KQL clause."""
        value = json.dumps(self.value) if isinstance(self.value, bool) else str(self.value)
        if isinstance(self.value, str):
            value = json.dumps(self.value)
        symbol = {"eq": ":", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[self.op]
        return f"{self.field} {symbol} {value}"

    def dsl(self) -> dict[str, Any]:
        """The query-DSL clause."""
        if self.op == "eq":
            return {"term": {self.field: self.value}}
        return {"range": {self.field: {self.op: self.value}}}


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """One dashboard panel: data view, chart type, bucket columns, metric columns, filter.

    Bucket order: XY charts take (x, split?), heatmaps (x, y), donuts (group), tables (rows...).
    """

    id: str
    title: str
    view: View
    chart: Chart
    buckets: tuple[Bucket, ...]
    metrics: tuple[Metric, ...] = (Metric("count"),)
    where: tuple[Condition, ...] = ()
    description: str = ""

    def fields(self) -> list[str]:
        """Every index field the panel reads."""
        out = [b.field for b in self.buckets]
        out += [m.field for m in self.metrics if m.field]
        out += [b.order_by.field for b in self.buckets if b.order_by and b.order_by.field]
        out += [c.field for c in self.where]
        return out

    def all_metrics(self) -> tuple[Metric, ...]:
        """Displayed metrics plus any metric a bucket is ordered by."""
        out = list(self.metrics)
        for bucket in self.buckets:
            if bucket.order_by is not None and bucket.order_by not in out:
                out.append(bucket.order_by)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    """A dashboard: title and its panels laid out two per row."""

    id: str
    title: str
    description: str
    panels: tuple[PanelSpec, ...] = field(default_factory=tuple)


_OUTLETS = 20
_COUNT = Metric("count")
_COPIES = (Condition("is_origin", "eq", False), Condition("story_size", "gt", 1))

PANELS: tuple[PanelSpec, ...] = (
    PanelSpec(
        "articles-per-outlet",
        "Articles per outlet per day",
        "articles",
        "bar_stacked",
        (
            Bucket("date_histogram", "published_at"),
            Bucket("terms", "outlet", size=_OUTLETS, label="Outlet"),
        ),
        description="How much each outlet publishes per day (stacked).",
    ),
    PanelSpec(
        "topic-share-over-time",
        "Topic share over time",
        "articles",
        "area_percentage_stacked",
        (
            Bucket("date_histogram", "published_at"),
            Bucket("terms", "topics", size=12, label="Topic"),
        ),
        description="Share of each topic among tagged articles per day; filter an outlet to "
        "compare.",
    ),
    PanelSpec(
        "topic-share-per-outlet",
        "Topic share per outlet",
        "articles",
        "bar_horizontal_percentage_stacked",
        (
            Bucket("terms", "outlet", size=_OUTLETS, label="Outlet"),
            Bucket("terms", "topics", size=12, label="Topic"),
        ),
    ),
    PanelSpec(
        "language-mix",
        "Language mix",
        "articles",
        "donut",
        (Bucket("terms", "language", size=15, label="Language"),),
    ),
    PanelSpec(
        "language-per-outlet",
        "Languages per outlet",
        "articles",
        "bar_percentage_stacked",
        (
            Bucket("terms", "outlet", size=_OUTLETS, label="Outlet"),
            Bucket("terms", "language", size=10, label="Language"),
        ),
    ),
    PanelSpec(
        "widest-stories",
        "Stories with the widest spread",
        "stories",
        "table",
        (
            Bucket(
                "terms",
                "origin_title.raw",
                size=25,
                order_by=Metric("max", "outlet_count"),
                label="Story (origin title)",
            ),
            Bucket("terms", "origin_outlet", size=1, label="First published by"),
        ),
        (
            Metric("max", "outlet_count", "Outlets"),
            Metric("max", "member_count", "Articles"),
            Metric("max", "language_count", "Languages"),
            Metric("max", "spread_seconds", "Spread (s)"),
        ),
        (Condition("member_count", "gt", 1),),
    ),
    PanelSpec(
        "who-is-first",
        "Who publishes first (stories with copies)",
        "stories",
        "bar_horizontal",
        (Bucket("terms", "origin_outlet", size=_OUTLETS, label="Origin outlet"),),
        (Metric("count", label="Stories"),),
        (Condition("member_count", "gt", 1),),
    ),
    PanelSpec(
        "story-propagation",
        "Story propagation: origin, then copies with lag",
        "articles",
        "table",
        (
            Bucket(
                "terms", "story_id", size=20, order_by=Metric("max", "story_size"), label="Story"
            ),
            Bucket(
                "terms",
                "outlet",
                size=_OUTLETS,
                order_by=Metric("min", "lag_seconds"),
                direction="asc",
                label="Outlet",
            ),
            Bucket("terms", "story_relation", size=3, label="Relation"),
        ),
        # No min(published_at) column: the lag says the same, and the local search server
        # answers null for min/max over date fields (Elasticsearch does not).
        (Metric("min", "lag_seconds", "Lag behind origin (s)"), _COUNT),
        (Condition("story_size", "gt", 1),),
    ),
    PanelSpec(
        "copy-lag-by-outlet",
        "Average lag of copies behind the origin",
        "articles",
        "bar_horizontal",
        (
            Bucket(
                "terms",
                "outlet",
                size=_OUTLETS,
                order_by=Metric("avg", "lag_seconds"),
                direction="asc",
                label="Copying outlet",
            ),
        ),
        (Metric("avg", "lag_seconds", "Average lag (s)"),),
        _COPIES,
    ),
    PanelSpec(
        "who-copies-whom",
        "Who copies whom (origin outlet x copying outlet)",
        "articles",
        "heatmap",
        (
            Bucket("terms", "story_origin_outlet", size=_OUTLETS, label="Origin outlet"),
            Bucket("terms", "outlet", size=_OUTLETS, label="Copying outlet"),
        ),
        (Metric("count", label="Copies"),),
        _COPIES,
    ),
)

_BY_ID = {panel.id: panel for panel in PANELS}

DASHBOARDS: tuple[DashboardSpec, ...] = (
    DashboardSpec(
        "mediamon-outlets",
        "mediamon: outlets over time",
        "Volume, topic share and language mix per outlet over time.",
        tuple(
            _BY_ID[i]
            for i in (
                "articles-per-outlet",
                "topic-share-over-time",
                "topic-share-per-outlet",
                "language-mix",
                "language-per-outlet",
            )
        ),
    ),
    DashboardSpec(
        "mediamon-stories",
        "mediamon: story spread and copying",
        "Which stories spread furthest and fastest, who is first and who copies whom.",
        tuple(
            _BY_ID[i]
            for i in (
                "widest-stories",
                "who-is-first",
                "story-propagation",
                "copy-lag-by-outlet",
                "who-copies-whom",
            )
        ),
    ),
)


def aggregatable_fields(view: View) -> set[str]:
    """Fields of a data view that can be bucketed or aggregated (no `text`, no nested paths)."""
    out: set[str] = set()
    for item in VIEW_FIELDS[view]:
        es_type = item.mapping.get("type")
        if es_type not in ("text", "nested"):
            out.add(item.name)
        for sub, mapping in item.mapping.get("fields", {}).items():
            if mapping.get("type") != "text":
                out.add(f"{item.name}.{sub}")
    return out


def check_panel(panel: PanelSpec) -> None:
    """Raise `ValueError` when a panel reads a field its data view lacks or cannot aggregate."""
    known = field_names(VIEW_FIELDS[panel.view])
    usable = aggregatable_fields(panel.view)
    for name in panel.fields():
        if name not in known:
            raise ValueError(f"panel {panel.id}: field {name!r} is not in the {panel.view} mapping")
        if name not in usable:
            raise ValueError(f"panel {panel.id}: field {name!r} cannot be aggregated")


def _field_type(view: View, name: str) -> str:
    for item in VIEW_FIELDS[view]:
        if item.name == name:
            return str(item.mapping.get("type"))
        if name.startswith(f"{item.name}."):
            sub = name.split(".", 1)[1]
            inner = item.mapping.get("fields", {}) | item.mapping.get("properties", {})
            return str(inner[sub]["type"])
    raise KeyError(name)


# --- the Elasticsearch request each panel stands for ----------------------------------------


def _metric_agg(metric: Metric) -> dict[str, Any] | None:
    if metric.op == "count":
        return None
    op = "cardinality" if metric.op == "unique_count" else metric.op
    return {op: {"field": metric.field}}


def aggregation_body(
    panel: PanelSpec, *, time_from: str | None = None, time_to: str | None = None
) -> dict[str, Any]:
    """Return the search body (size 0, filter, nested aggregations) behind a panel.

    Buckets nest in spec order; every bucket level carries the metrics so that a terms bucket can
    be ordered by one of them (as Lens does). The time range, when given, filters the view's time
    field like the dashboard time picker.
    """
    check_panel(panel)
    filters = [condition.dsl() for condition in panel.where]
    if time_from or time_to:
        bounds = {key: value for key, value in (("gte", time_from), ("lt", time_to)) if value}
        filters.append({"range": {TIME_FIELDS[panel.view]: bounds}})
    metric_aggs = {m.key: agg for m in panel.all_metrics() if (agg := _metric_agg(m)) is not None}
    inner: dict[str, Any] = dict(metric_aggs)
    for bucket in reversed(panel.buckets):
        if bucket.kind == "date_histogram":
            body: dict[str, Any] = {
                "date_histogram": {
                    "field": bucket.field,
                    "calendar_interval": bucket.interval,
                    "min_doc_count": 1,
                }
            }
        else:
            if bucket.order_by is None or bucket.order_by.op == "count":
                order: dict[str, str] = {"_count": bucket.direction}
            else:
                order = {bucket.order_by.key: bucket.direction}
            body = {"terms": {"field": bucket.field, "size": bucket.size, "order": order}}
        if inner:
            body["aggs"] = inner
        inner = {bucket.key: body, **metric_aggs}
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": filters}},
        "aggs": {key: value for key, value in inner.items() if key.startswith("b_")},
    }


def flatten_buckets(panel: PanelSpec, response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return one row per innermost bucket: bucket keys and metric values by column key."""
    rows: list[dict[str, Any]] = []

    def walk(level: int, aggs: Mapping[str, Any], prefix: dict[str, Any]) -> None:
        bucket = panel.buckets[level]
        for item in aggs[bucket.key]["buckets"]:
            row = {**prefix, bucket.key: item.get("key_as_string", item["key"])}
            if level + 1 < len(panel.buckets):
                walk(level + 1, item, row)
                continue
            for metric in panel.metrics:
                row[metric.key] = (
                    item["doc_count"] if metric.op == "count" else item[metric.key]["value"]
                )
            rows.append(row)

    walk(0, response["aggregations"], {})
    return rows


# --- Lens saved objects ---------------------------------------------------------------------

_LAYER = "layer1"


def _bucket_column(panel: PanelSpec, bucket: Bucket) -> dict[str, Any]:
    if bucket.kind == "date_histogram":
        return {
            "label": bucket.label or bucket.field,
            "dataType": "date",
            "operationType": "date_histogram",
            "sourceField": bucket.field,
            "isBucketed": True,
            "scale": "interval",
            "params": {
                "interval": bucket.interval,
                "includeEmptyRows": True,
                "dropPartials": False,
            },
        }
    if bucket.order_by is None:
        order_by: dict[str, Any] = {"type": "column", "columnId": _count_column_id(panel)}
    else:
        order_by = {"type": "column", "columnId": bucket.order_by.key}
    data_type = {
        "boolean": "boolean",
        "integer": "number",
        "long": "number",
        "float": "number",
    }.get(_field_type(panel.view, bucket.field), "string")
    return {
        "label": bucket.label or f"Top {bucket.size} values of {bucket.field}",
        "customLabel": bucket.label is not None,
        "dataType": data_type,
        "operationType": "terms",
        "sourceField": bucket.field,
        "isBucketed": True,
        "scale": "ordinal",
        "params": {
            "size": bucket.size,
            "orderBy": order_by,
            "orderDirection": bucket.direction,
            "otherBucket": False,
            "missingBucket": False,
            "parentFormat": {"id": "terms"},
        },
    }


def _count_column_id(panel: PanelSpec) -> str:
    for metric in panel.all_metrics():
        if metric.op == "count":
            return metric.key
    return _COUNT.key


def _metric_column(panel: PanelSpec, metric: Metric) -> dict[str, Any]:
    if metric.op == "count":
        return {
            "label": metric.title(),
            "customLabel": True,
            "dataType": "number",
            "operationType": "count",
            "isBucketed": False,
            "scale": "ratio",
            "sourceField": "___records___",
            "params": {"emptyAsNull": True},
        }
    assert metric.field is not None
    is_date = _field_type(panel.view, metric.field) == "date"
    return {
        "label": metric.title(),
        "customLabel": True,
        "dataType": "date" if is_date and metric.op in ("min", "max") else "number",
        "operationType": metric.op,
        "sourceField": metric.field,
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
    }


def _columns(panel: PanelSpec) -> tuple[dict[str, Any], list[str]]:
    columns: dict[str, Any] = {}
    for bucket in panel.buckets:
        columns[bucket.key] = _bucket_column(panel, bucket)
    metrics = list(panel.all_metrics())
    needs_count = any(b.kind == "terms" and b.order_by is None for b in panel.buckets)
    if needs_count and not any(m.op == "count" for m in metrics):
        metrics.append(_COUNT)
    for metric in metrics:
        columns[metric.key] = _metric_column(panel, metric)
    return columns, list(columns)


def _visualization(panel: PanelSpec, order: Sequence[str]) -> tuple[str, dict[str, Any]]:
    keys = [b.key for b in panel.buckets]
    values = [m.key for m in panel.metrics]
    if panel.chart == "donut":
        return "lnsPie", {
            "shape": "donut",
            "layers": [
                {
                    "layerId": _LAYER,
                    "layerType": "data",
                    "primaryGroups": keys,
                    "metrics": values,
                    "numberDisplay": "percent",
                    "categoryDisplay": "default",
                    "legendDisplay": "default",
                    "nestedLegend": False,
                }
            ],
        }
    if panel.chart == "heatmap":
        return "lnsHeatmap", {
            "shape": "heatmap",
            "layerId": _LAYER,
            "layerType": "data",
            "xAccessor": keys[0],
            "yAccessor": keys[1],
            "valueAccessor": values[0],
            "legend": {"isVisible": True, "position": "right", "type": "heatmap_legend"},
            "gridConfig": {
                "type": "heatmap_grid",
                "isCellLabelVisible": True,
                "isYAxisLabelVisible": True,
                "isXAxisLabelVisible": True,
                "isYAxisTitleVisible": True,
                "isXAxisTitleVisible": True,
            },
        }
    if panel.chart == "table":
        return "lnsDatatable", {
            "layerId": _LAYER,
            "layerType": "data",
            # Columns that only order a bucket (or count for it) are in the layer but hidden.
            "columns": [
                {"columnId": key, "isTransposed": False}
                | ({} if key in keys or key in values else {"hidden": True})
                for key in order
            ],
        }
    layer: dict[str, Any] = {
        "layerId": _LAYER,
        "layerType": "data",
        "seriesType": panel.chart,
        "xAccessor": keys[0],
        "accessors": values,
        "position": "top",
        "showGridlines": False,
    }
    if len(keys) > 1:
        layer["splitAccessor"] = keys[1]
    return "lnsXY", {
        "legend": {"isVisible": True, "position": "right"},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "preferredSeriesType": panel.chart,
        "layers": [layer],
    }


def data_view_id(prefix: str, view: View) -> str:
    """Saved-object id of a data view (stable, so re-imports overwrite it)."""
    return f"{prefix}-{view}"


def lens_object(panel: PanelSpec, prefix: str) -> dict[str, Any]:
    """Return the saved Lens visualisation of a panel (Kibana 8 saved-object shape)."""
    check_panel(panel)
    columns, order = _columns(panel)
    vis_type, visualization = _visualization(panel, order)
    query = " and ".join(condition.kql() for condition in panel.where)
    return {
        "type": "lens",
        "id": f"{prefix}-{panel.id}",
        "attributes": {
            "title": panel.title,
            "description": panel.description,
            "visualizationType": vis_type,
            "state": {
                "datasourceStates": {
                    "formBased": {
                        "layers": {
                            _LAYER: {
                                "columns": columns,
                                "columnOrder": order,
                                "incompleteColumns": {},
                            }
                        }
                    }
                },
                "visualization": visualization,
                "query": {"query": query, "language": "kuery"},
                "filters": [],
                "adHocDataViews": {},
                "internalReferences": [],
            },
        },
        "references": [
            {
                "type": "index-pattern",
                "id": data_view_id(prefix, panel.view),
                "name": f"indexpattern-datasource-layer-{_LAYER}",
            }
        ],
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS["lens"],
    }


def data_view_object(prefix: str, view: View) -> dict[str, Any]:
    """Return the data view over a read alias, with its time field."""
    alias = articles_alias(prefix) if view == "articles" else stories_alias(prefix)
    return {
        "type": "index-pattern",
        "id": data_view_id(prefix, view),
        "attributes": {
            "title": alias,
            "name": f"{prefix} {view}",
            "timeFieldName": TIME_FIELDS[view],
            "fields": "[]",
            "fieldFormatMap": "{}",
            "runtimeFieldMap": "{}",
            "fieldAttrs": "{}",
            "sourceFilters": "[]",
            "typeMeta": "{}",
            "allowNoIndex": True,
        },
        "references": [],
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS["index-pattern"],
    }


def dashboard_object(dashboard: DashboardSpec, prefix: str) -> dict[str, Any]:
    """Return a dashboard whose panels reference the saved Lens objects, two per row."""
    panels = []
    references = []
    for position, panel in enumerate(dashboard.panels):
        index = str(position + 1)
        wide = panel.chart in ("table", "heatmap")
        panels.append(
            {
                "version": PANEL_VERSION,
                "type": "lens",
                "gridData": {
                    "x": 0 if wide else 24 * (position % 2),
                    "y": 15 * position,
                    "w": 48 if wide else 24,
                    "h": 15,
                    "i": index,
                },
                "panelIndex": index,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": f"panel_{index}",
            }
        )
        references.append(
            {"type": "lens", "id": f"{prefix}-{panel.id}", "name": f"{index}:panel_{index}"}
        )
    search_source = {"query": {"query": "", "language": "kuery"}, "filter": []}
    options = {
        "useMargins": True,
        "syncColors": False,
        "syncCursor": True,
        "syncTooltips": False,
        "hidePanelTitles": False,
    }
    return {
        "type": "dashboard",
        "id": f"{prefix}-{dashboard.id.removeprefix('mediamon-')}",
        "attributes": {
            "title": dashboard.title,
            "description": dashboard.description,
            "panelsJSON": json.dumps(panels, separators=(",", ":")),
            "optionsJSON": json.dumps(options, separators=(",", ":")),
            "timeRestore": True,
            "timeFrom": "now-1y",
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 60000},
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(search_source)},
            "version": 1,
        },
        "references": references,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS["dashboard"],
    }


def saved_objects(prefix: str = "mediamon") -> list[dict[str, Any]]:
    """Every saved object, dependencies first (data views, then Lens, then dashboards)."""
    objects = [data_view_object(prefix, "articles"), data_view_object(prefix, "stories")]
    objects += [lens_object(panel, prefix) for panel in PANELS]
    objects += [dashboard_object(dashboard, prefix) for dashboard in DASHBOARDS]
    return objects


def saved_objects_ndjson(prefix: str = "mediamon") -> str:
    """The saved objects as NDJSON, one object a line, keys sorted (a stable committed file)."""
    return "".join(
        json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
        for obj in saved_objects(prefix)
    )


# --- import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KibanaSettings:
    """Where Kibana is and how to authenticate. Credentials never get logged."""

    url: str
    space: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0


def import_url(settings: KibanaSettings) -> str:
    """The saved-objects import endpoint (in a space when one is named)."""
    base = settings.url.rstrip("/")
    space = f"/s/{settings.space}" if settings.space and settings.space != "default" else ""
    return f"{base}{space}/api/saved_objects/_import?overwrite=true"


def import_saved_objects(
    settings: KibanaSettings, ndjson: str, *, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    """Post the NDJSON to Kibana's import API with overwrite; return Kibana's answer.

    Raises `KibanaUnavailableError` when Kibana cannot be reached or answers 5xx/429, and
    `KibanaImportError` when it rejects the request or reports per-object errors.
    """
    headers = {"kbn-xsrf": "mediamon"}
    auth: tuple[str, str] | None = None
    if settings.api_key:
        headers["Authorization"] = f"ApiKey {settings.api_key}"
    elif settings.username and settings.password:
        auth = (settings.username, settings.password)
    files = {"file": ("mediamon.ndjson", ndjson.encode("utf-8"), "application/ndjson")}
    try:
        with httpx.Client(timeout=settings.timeout, transport=transport, auth=auth) as client:
            response = client.post(import_url(settings), headers=headers, files=files)
    except httpx.TransportError as error:
        raise KibanaUnavailableError(f"Kibana unreachable: {error}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise KibanaUnavailableError(f"Kibana answered {response.status_code}")
    if response.status_code >= 400:
        raise KibanaImportError(
            f"Kibana refused the import ({response.status_code}): {response.text[:500]}"
        )
    result: dict[str, Any] = response.json()
    errors: Sequence[Mapping[str, Any]] = result.get("errors") or []
    if not result.get("success", False) or errors:
        summary = "; ".join(f"{e.get('type')}/{e.get('id')}: {e.get('error')}" for e in errors)
        raise KibanaImportError(f"Kibana rejected saved objects: {summary or result}")
    log.info("kibana import url=%s objects=%s", settings.url, result.get("successCount"))
    return result
