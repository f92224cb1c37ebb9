"""Kibana saved objects: the catalogue of panels (`catalogue`), their rendering into saved objects
(`renderer`); the import over HTTP lives in `connectors.kibana`."""

from connectors.kibana import (
    KibanaImportError,
    KibanaSettings,
    KibanaUnavailableError,
    import_saved_objects,
)
from mediamon.kibana.catalogue import (
    DASHBOARDS,
    PANELS,
    Bucket,
    Condition,
    DashboardSpec,
    Metric,
    PanelSpec,
    aggregatable_fields,
    aggregation_body,
    check_panel,
    flatten_buckets,
)
from mediamon.kibana.renderer import saved_objects, saved_objects_ndjson

__all__ = [
    "DASHBOARDS",
    "PANELS",
    "Bucket",
    "Condition",
    "DashboardSpec",
    "KibanaImportError",
    "KibanaSettings",
    "KibanaUnavailableError",
    "Metric",
    "PanelSpec",
    "aggregatable_fields",
    "aggregation_body",
    "check_panel",
    "flatten_buckets",
    "import_saved_objects",
    "saved_objects",
    "saved_objects_ndjson",
]
