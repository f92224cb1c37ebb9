"""Elasticsearch 8 connector: templates, aliases and bulk indexing through the official client only.

The index is a derived view of the SQL store. This module never decides what is pending; it sends
documents and reports, per document, whether the cluster accepted them, so the caller can confirm
exactly those in the store's outbox and leave the rest for the next run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, Elasticsearch, helpers

from schemas.errors import MediamonError, PermanentError, TransientError
from schemas.index import (
    article_template,
    articles_alias,
    stories_alias,
    stories_index_name,
    story_template,
)

log = logging.getLogger(__name__)


class SearchUnavailableError(TransientError):
    """The search cluster cannot be reached or refuses work; indexing waits for the next run."""

    kind = "search-unavailable"


class SearchAuthError(PermanentError):
    """The search cluster refused our credentials (401/403): configuration, not an outage."""

    kind = "search-auth"


class SearchRequestError(PermanentError):
    """The search cluster refused a request (a 4xx other than 401/403/408/429): sending the same
    request again fails the same way."""

    kind = "search-rejected"


class SearchConfigError(PermanentError):
    """The search settings cannot describe a cluster (a malformed `MEDIAMON_ES_URL`)."""

    kind = "search-config"


# Statuses a later attempt may well get past: timeouts, throttling, every server-side error.
_TRANSIENT_STATUSES = frozenset({408, 429})
_MAX_REASON_CHARS = 300


def search_error(error: Exception, action: str) -> MediamonError:
    """The typed error for a failure of the search client during `action` (one mapper).

    Unreachable, timed out, 408/429 and every 5xx: `SearchUnavailableError` (transient);
    401/403: `SearchAuthError`; any other status: `SearchRequestError` (permanent). Messages
    carry the status and a bounded reason, never the request (which holds the credentials).
    """
    if isinstance(error, TransportConnectionError | ConnectionTimeout):
        return SearchUnavailableError(
            f"search cluster unreachable during {action}: "
            f"{redact_url_credentials(str(error))[:_MAX_REASON_CHARS]}"
        )
    if isinstance(error, ApiError):
        status = int(error.meta.status) if error.meta is not None else 0
        reason = redact_url_credentials(_api_reason(error))[:_MAX_REASON_CHARS]
        if status >= 500 or status in _TRANSIENT_STATUSES:
            return SearchUnavailableError(
                f"search cluster answered {status} during {action}: {reason}"
            )
        if status in (401, 403):
            return SearchAuthError(
                f"search cluster refused the credentials ({status}) during {action}"
            )
        return SearchRequestError(f"search cluster answered {status} during {action}: {reason}")
    # A body that is not JSON, a TLS failure: the cluster is not answering as a cluster should.
    return SearchUnavailableError(
        f"search cluster failed during {action}: {type(error).__name__}: "
        f"{redact_url_credentials(str(error))[:_MAX_REASON_CHARS]}"
    )


def _api_reason(error: ApiError) -> str:
    """The cluster's own reason for an error answer (its JSON `error`), else the raw body."""
    body = error.body
    if isinstance(body, Mapping):
        detail = body.get("error")
        if isinstance(detail, Mapping):
            return f"{detail.get('type', '')}: {detail.get('reason', '')}"
        return str(detail if detail is not None else body)
    return str(body if body else error.message)


@contextmanager
def _mapped(action: str) -> Iterator[None]:
    """Turn any failure of the search client inside the block into the typed error."""
    try:
        yield
    except (ApiError, TransportError) as error:
        raise search_error(error, action) from error


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Where the search cluster is and how to talk to it. Credentials never get logged."""

    url: str
    prefix: str = "mediamon"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    request_timeout: float = 30.0
    verify_certs: bool = True
    chunk_size: int = 500


@dataclass(frozen=True, slots=True)
class IndexAction:
    """One document to put into (or delete from) an index under a deterministic id."""

    index: str
    doc_id: str
    document: Mapping[str, Any] | None  # None = delete


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """Which actions the cluster confirmed and which failed (with a reason each)."""

    succeeded: tuple[IndexAction, ...]
    failed: tuple[tuple[IndexAction, str], ...]


class SearchIndex:
    """Owns the connection to Elasticsearch and the index layout under one prefix."""

    def __init__(self, settings: SearchSettings, client: Elasticsearch | None = None) -> None:
        self.settings = settings
        self.client = client or _client(settings)

    @property
    def prefix(self) -> str:
        """Name prefix of every index, template and alias this project owns."""
        return self.settings.prefix

    def ping(self) -> bool:
        """Return whether the cluster answers."""
        try:
            return bool(self.client.ping())
        except (TransportConnectionError, ConnectionTimeout):
            return False

    def ensure_layout(self) -> None:
        """Put the index templates and create the stories index (idempotent).

        Raises the typed error of `search_error` when the cluster fails.
        """
        with _mapped("layout"):
            self.client.indices.put_index_template(
                name=f"{self.prefix}-articles", **article_template(self.prefix)
            )
            self.client.indices.put_index_template(
                name=f"{self.prefix}-stories", **story_template(self.prefix)
            )
            stories = stories_index_name(self.prefix)
            if not self.client.indices.exists(index=stories):
                try:
                    self.client.indices.create(index=stories)
                except ApiError as error:
                    if "resource_already_exists" not in str(error):
                        raise

    def bulk(self, actions: Sequence[IndexAction]) -> BulkOutcome:
        """Send actions in chunks; per-item failures are returned, never raised.

        Raises `SearchUnavailableError` only when the cluster cannot be reached at all.
        """
        succeeded: list[IndexAction] = []
        failed: list[tuple[IndexAction, str]] = []
        by_key = {(a.index, a.doc_id): a for a in actions}
        try:
            for ok, item in helpers.streaming_bulk(
                self.client,
                (_bulk_body(a) for a in actions),
                chunk_size=self.settings.chunk_size,
                raise_on_error=False,
                raise_on_exception=False,
                max_retries=2,
                initial_backoff=0.5,
            ):
                op, result = next(iter(item.items()))
                action = by_key.get((result.get("_index", ""), result.get("_id", "")))
                if action is None:
                    action = _match_action(actions, result)
                status = int(result.get("status", 0))
                if ok or (op == "delete" and status == 404):
                    succeeded.append(action)
                else:
                    reason = result.get("error") or f"status {status}"
                    failed.append((action, str(reason)[:500]))
        except (ApiError, TransportError) as error:
            if not succeeded and not failed:
                raise search_error(error, "bulk") from error
            confirmed = {(a.index, a.doc_id) for a in succeeded}
            confirmed.update((a.index, a.doc_id) for a, _ in failed)
            failed.extend(
                (a, f"not sent: {error}") for a in actions if (a.index, a.doc_id) not in confirmed
            )
        return BulkOutcome(tuple(succeeded), tuple(failed))

    def refresh(self, index: str | None = None) -> None:
        """Make indexed documents searchable now: `index` (a name or comma-separated list), or
        every index of the prefix."""
        with _mapped("refresh"):
            self.client.indices.refresh(index=index or f"{self.prefix}-*")

    def count_articles(self) -> int:
        """Documents behind the articles alias (0 when nothing was indexed yet)."""
        return self._count(articles_alias(self.prefix))

    def count_stories(self) -> int:
        """Documents behind the stories alias."""
        return self._count(stories_alias(self.prefix))

    def _count(self, alias: str) -> int:
        with _mapped("count"):
            if not self.client.indices.exists_alias(name=alias):
                return 0
            return int(self.client.count(index=alias)["count"])

    def article_indices(self) -> list[str]:
        """Concrete indices currently behind the articles alias, sorted."""
        return self.alias_indices(articles_alias(self.prefix))

    def search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Run a search request body against an index or alias."""
        with _mapped("search"):
            return dict(self.client.search(index=index, **body).body)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    # --- layout management for re-indexing and template rollouts (mediamon.reindex) ----------

    def list_indices(self, pattern: str) -> list[str]:
        """Concrete indices whose names match a wildcard pattern, sorted (none: empty list)."""
        with _mapped("listing indices"):
            found = self.client.indices.get(
                index=pattern, allow_no_indices=True, expand_wildcards="open"
            )
        return sorted(found.body)

    def alias_indices(self, alias: str) -> list[str]:
        """Concrete indices behind an alias, sorted (an absent alias: empty list)."""
        with _mapped("reading aliases"):
            if not self.client.indices.exists_alias(name=alias):
                return []
            return sorted(self.client.indices.get_alias(name=alias).body)

    def create_index(self, name: str, body: Mapping[str, Any]) -> bool:
        """Create an index with explicit settings/mappings/aliases; False when it already exists."""
        with _mapped("creating an index"):
            if self.client.indices.exists(index=name):
                return False
            try:
                self.client.indices.create(index=name, **body)
            except ApiError as error:
                if "resource_already_exists" in str(error):
                    return False
                raise
        return True

    def put_templates(self, templates: Mapping[str, Mapping[str, Any]]) -> None:
        """Put composable index templates by name (overwrites same-named ones)."""
        with _mapped("putting templates"):
            for name, body in templates.items():
                self.client.indices.put_index_template(name=name, **body)

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Apply alias add/remove actions in one atomic `_aliases` call."""
        with _mapped("swapping aliases"):
            self.client.indices.update_aliases(actions=[dict(a) for a in actions])

    def delete_indices(self, names: Sequence[str]) -> None:
        """Delete concrete indices (missing ones are ignored)."""
        with _mapped("deleting indices"):
            for name in names:
                self.client.indices.delete(index=name, ignore_unavailable=True)

    def missing_documents(self, locations: Sequence[tuple[str, str]]) -> set[str]:
        """Return the ids among (doc_id, index) pairs that the cluster does not hold.

        A missing index counts as missing documents; an unreachable cluster raises
        `SearchUnavailableError`.
        """
        missing: set[str] = set()
        with _mapped("checking documents"):
            for start in range(0, len(locations), 1000):
                chunk = locations[start : start + 1000]
                docs = [{"_index": index, "_id": doc_id} for doc_id, index in chunk]
                answer = self.client.mget(docs=docs, source=False)
                for (doc_id, _), item in zip(chunk, answer["docs"], strict=True):
                    if not item.get("found"):
                        missing.add(doc_id)
        return missing

    def count_index(self, index: str) -> int:
        """Documents in an index, alias or comma-separated list."""
        with _mapped("count"):
            return int(self.client.count(index=index)["count"])


def _client(settings: SearchSettings) -> Elasticsearch:
    kwargs: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        "retry_on_timeout": True,
        "max_retries": 2,
    }
    if settings.url.startswith("https"):
        kwargs["verify_certs"] = settings.verify_certs
    if settings.api_key:
        kwargs["api_key"] = settings.api_key
    elif settings.username and settings.password:
        kwargs["basic_auth"] = (settings.username, settings.password)
    try:
        return Elasticsearch(settings.url, **kwargs)
    except ValueError:
        # The client's message repeats the URL, password included: say it without either,
        # and without chaining the original (a logged traceback would print it).
        raise SearchConfigError(
            f"MEDIAMON_ES_URL is not a valid URL with scheme, host and port "
            f"(e.g. https://es.example.org:9200): {redact_url_credentials(settings.url)}"
        ) from None


_USERINFO = re.compile(r"(?:(?<=//)|^)[^/@\s]*@")


def redact_url_credentials(url: str) -> str:
    """The URL with any `user:password@` part masked (it may not even parse as a URL)."""
    return _USERINFO.sub("***@", url)


def _bulk_body(action: IndexAction) -> dict[str, Any]:
    if action.document is None:
        return {"_op_type": "delete", "_index": action.index, "_id": action.doc_id}
    return {
        "_op_type": "index",
        "_index": action.index,
        "_id": action.doc_id,
        "_source": dict(action.document),
    }


def _match_action(actions: Iterable[IndexAction], result: Mapping[str, Any]) -> IndexAction:
    """Find the action of a bulk item whose index name came back as a concrete index."""
    doc_id = result.get("_id")
    for action in actions:
        if action.doc_id == doc_id:
            return action
    raise LookupError(f"bulk returned an item for an unknown document {doc_id!r}")
