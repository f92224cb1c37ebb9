"""Kibana's saved-objects import API: the only HTTP to Kibana.

`import_saved_objects` posts NDJSON to `POST /api/saved_objects/_import?overwrite=true` and turns
every answer into a result or a typed error (unreachable or busy: transient; refused: permanent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from schemas.errors import PermanentError, TransientError

__all__ = [
    "KibanaImportError",
    "KibanaSettings",
    "KibanaUnavailableError",
    "import_saved_objects",
    "import_url",
]

log = logging.getLogger(__name__)


class KibanaImportError(PermanentError):
    """Kibana refused some saved objects (wrong shape, missing references)."""

    kind = "kibana-import"


class KibanaUnavailableError(TransientError):
    """Kibana cannot be reached or is busy; try again later."""

    kind = "kibana-unavailable"


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
