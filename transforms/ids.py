"""Deterministic identifiers: the same input always gives the same id, on any machine.

Every write in the pipeline is keyed on these, which is what makes re-running an interval a no-op.
"""

from __future__ import annotations

import hashlib
import unicodedata

_ID_HEX = 32  # 128 bits: collision-free at any archive size we will see, short enough for URLs


def _digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8"))
        hasher.update(b"\x1f")  # unit separator: ("ab","c") and ("a","bc") must differ
    return hasher.hexdigest()


def article_id(url_key: str) -> str:
    """Return the id of the article whose URL dedup key is `url_key`."""
    return _digest("article", url_key)[:_ID_HEX]


def content_hash(title: str | None, text: str) -> str:
    """Return the sha256 of an article's normalised title and text.

    Whitespace runs and Unicode compatibility forms are folded so that re-serialised HTML with the
    same words does not count as an edit.
    """
    normal_title = " ".join(unicodedata.normalize("NFKC", title or "").split())
    normal_text = " ".join(unicodedata.normalize("NFKC", text).split())
    return _digest("content", normal_title, normal_text)


def version_id(article: str, content: str) -> str:
    """Return the id of one version (content hash) of an article."""
    return _digest("version", article, content)[:_ID_HEX]


def source_id(outlet_id: str, kind: str, url: str) -> str:
    """Return the id of one feed, sitemap or section page of an outlet."""
    return _digest("source", outlet_id, kind, url)[:_ID_HEX]


def discovered_url_id(outlet_id: str, url_key: str) -> str:
    """Return the id of a discovered link: one per outlet and URL dedup key."""
    return _digest("discovered", outlet_id, url_key)[:_ID_HEX]


def capture_id(url: str, body_sha256: str) -> str:
    """Return the id of a raw capture: the same body at the same URL is stored once."""
    return _digest("capture", url, body_sha256)[:_ID_HEX]


def run_id(kind: str, window_start: str, window_end: str, scope: str = "") -> str:
    """Return the id of a pipeline run over a window (re-running the window reuses it)."""
    return _digest("run", kind, window_start, window_end, scope)[:_ID_HEX]


def event_id(article: str, kind: str, occurred_at: str) -> str:
    """Return the id of one event of an article (a removal seen at a time)."""
    return _digest("event", article, kind, occurred_at)[:_ID_HEX]
