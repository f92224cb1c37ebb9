"""Length bounds of the SQL columns, derived once from `schemas.tables`.

A value from the network (a feed's `<language>`, a Content-Type header, a page's `lang`) can be of
any length; PostgreSQL refuses a string longer than its `varchar(n)` column (SQLite stores it
silently, which hides the bug in tests on the embedded store). Every bound the code checks comes
from here, so widening a column in `tables.py` widens the check with it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import String, Table

from schemas import tables as t

__all__ = [
    "LANGUAGE_TAG_MAX",
    "column_bound",
    "fit_row",
    "language_tag",
]

log = logging.getLogger(__name__)


def column_bound(table: Table, column: str) -> int | None:
    """The maximum length in characters of a bounded string column, None when unbounded."""
    kind = table.c[column].type
    if isinstance(kind, String) and kind.length is not None:
        return int(kind.length)
    return None


def _bounds(table: Table) -> dict[str, int]:
    found = {}
    for column in table.c:
        bound = column_bound(table, column.name)
        if bound is not None:
            found[column.name] = bound
    return found


_BOUNDS: dict[str, dict[str, int]] = {
    name: _bounds(table) for name, table in t.metadata.tables.items()
}

# Every language column has the same width; the discovery queue's is the one feeds write into.
LANGUAGE_TAG_MAX = column_bound(t.discovered_urls, "language") or 16
# BCP 47 shape: a 2-3 letter primary subtag (or i-/x- prefixes), then alphanumeric subtags of 1-8.
_LANGUAGE_TAG = re.compile(r"^(?:[a-z]{2,3}|[ix])(?:-[a-z0-9]{1,8})*$")


def language_tag(value: object) -> str | None:
    """A language tag from the network with "_" spelt "-" ("en_US" -> "en-US"), or None.

    None for anything that is not shaped like a BCP 47 tag or is longer than the language
    columns hold: a 200-character `<language>` is not a language, and must not fail the insert.
    """
    if not isinstance(value, str):
        return None
    cleaned = value.strip().replace("_", "-")
    if not cleaned or len(cleaned) > LANGUAGE_TAG_MAX or not _LANGUAGE_TAG.match(cleaned.lower()):
        return None
    return cleaned


def fit_row(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """Return `row` with every string cut to the length of its column in `table`.

    The last line of defence before a write: transforms already drop or shorten what they know
    to be network text, but a value that slips through is shortened (and logged) rather than
    failing the whole transaction on PostgreSQL.
    """
    bounds = _BOUNDS.get(table.name, {})
    fitted = dict(row)
    for name, value in row.items():
        bound = bounds.get(name)
        if bound is not None and isinstance(value, str) and len(value) > bound:
            log.warning(
                "value cut to its column table=%s column=%s length=%d bound=%d",
                table.name,
                name,
                len(value),
                bound,
            )
            fitted[name] = value[:bound]
    return fitted
