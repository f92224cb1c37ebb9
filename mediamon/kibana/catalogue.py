"""The Kibana catalogue: every panel and dashboard declared once as a spec, and the query it means.

Each panel is a `PanelSpec`: which data view, which buckets, which metrics, which filter. The
renderer (`mediamon.kibana.renderer`) turns a spec into the Lens saved object Kibana 8 imports;
`aggregation_body` turns it into the Elasticsearch aggregation Lens would send, so tests can run
every panel's query against a real index and check every referenced field against `schemas.index`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.index import ARTICLE_FIELDS, STORY_FIELDS, IndexField, field_names

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
# Lens operation types as Kibana 8 names them (x-pack/plugins/lens/.../operations/definitions/
# metrics.tsx: `average`, not the aggregation's `avg`); the tests hold every generated column to
# LENS_OPERATIONS.
MetricOp = Literal["count", "max", "min", "average", "sum", "unique_count"]
LENS_OPERATIONS = frozenset(
    {"count", "max", "min", "average", "sum", "unique_count", "median", "date_histogram", "terms"}
)
# The Elasticsearch aggregation behind a Lens metric whose name differs.
_AGGREGATION_OF = {"unique_count": "cardinality", "average": "avg"}

TIME_FIELDS: dict[View, str] = {"articles": "published_at", "stories": "first_published_at"}
VIEW_FIELDS: dict[View, tuple[IndexField, ...]] = {
    "articles": ARTICLE_FIELDS,
    "stories": STORY_FIELDS,
}


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
            "average": "Average",
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
COUNT = Metric("count")  # the row count, added to a table whose terms need an order
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
        "edits-per-outlet",
        "Edits per outlet over time",
        "articles",
        "bar_stacked",
        (
            Bucket("date_histogram", "last_edited_at"),
            Bucket("terms", "outlet", size=_OUTLETS, label="Outlet"),
        ),
        (Metric("count", label="Edited articles"),),
        (Condition("edited", "eq", True),),
        description="Articles changed after publication, by the day the last edit was seen "
        "(revisits, `MEDIAMON_REVISIT_AFTER`).",
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
        (Metric("min", "lag_seconds", "Lag behind origin (s)"), COUNT),
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
                order_by=Metric("average", "lag_seconds"),
                direction="asc",
                label="Copying outlet",
            ),
        ),
        (Metric("average", "lag_seconds", "Average lag (s)"),),
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
                "edits-per-outlet",
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


def field_type(view: View, name: str) -> str:
    """The Elasticsearch type of a field (or sub-field) of a data view."""
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
    op = _AGGREGATION_OF.get(metric.op, metric.op)
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
