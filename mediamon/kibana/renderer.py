"""The Kibana renderer: Lens saved objects, data views and dashboards from the catalogue's specs.

`saved_objects_ndjson()` is the committed `infra/kibana/mediamon.ndjson` (see
`mediamon.generated`); `connectors.kibana.import_saved_objects` posts it to Kibana.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mediamon.kibana.catalogue import (
    COUNT,
    DASHBOARDS,
    PANELS,
    TIME_FIELDS,
    Bucket,
    DashboardSpec,
    Metric,
    PanelSpec,
    View,
    check_panel,
    field_type,
)
from schemas.index import articles_alias, stories_alias

# Saved-object format versions. Kibana migrates objects whose version is older than its own on
# import and refuses newer ones, so these are the oldest versions whose shape we write: the
# split core/type versions exist since 8.8.0, Lens' `formBased` datasource since 8.6.0, the
# dashboard shape with `panelsJSON` panels of type lens since 8.7.0.
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "lens": "8.6.0", "dashboard": "8.7.0"}
PANEL_VERSION = "8.8.0"

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
    }.get(field_type(panel.view, bucket.field), "string")
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
    return COUNT.key


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
    is_date = field_type(panel.view, metric.field) == "date"
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
        metrics.append(COUNT)
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
