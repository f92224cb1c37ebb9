"""Shared helpers of the reliability tests: sample registries, `mediamon run` as a subprocess,
and exact snapshots of what the store and the search index hold (ids, not only counts)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import Elasticsearch
from sqlalchemy import create_engine, select

from schemas import tables as t
from schemas.index import articles_alias, stories_alias

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_registry(document: Mapping[str, Any], path: Path) -> Path:
    """Write a registry document as YAML and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    return path


def run_env(
    *,
    data_dir: Path,
    registry: Path,
    database_url: str,
    search_url: str | None,
    search_prefix: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a `mediamon run` subprocess pointed at test services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAMON_")}
    env.update(
        {
            "MEDIAMON_DATA_DIR": str(data_dir),
            "MEDIAMON_DATABASE_URL": database_url,
            "MEDIAMON_REGISTRY": str(registry),
            "MEDIAMON_ES_PREFIX": search_prefix,
            "MEDIAMON_REQUESTS_PER_SECOND": "50",
            "MEDIAMON_FETCH_WORKERS": "4",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if search_url:
        env["MEDIAMON_ES_URL"] = search_url
    env.update(extra or {})
    return env


def mediamon_command(*args: str) -> list[str]:
    """The argument list that runs the `mediamon` command line of this checkout."""
    return [sys.executable, "-c", "from mediamon.cli import entrypoint; entrypoint()", *args]


def start_mediamon(env: Mapping[str, str], *args: str) -> subprocess.Popen[bytes]:
    """Start `mediamon <args>` in its own process group, output captured."""
    return subprocess.Popen(
        mediamon_command(*args),
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_mediamon(
    env: Mapping[str, str], *args: str, timeout: float = 240.0
) -> subprocess.CompletedProcess[str]:
    """Run `mediamon <args>` to completion and return its result (text output)."""
    return subprocess.run(
        mediamon_command(*args),
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class StoreSnapshot:
    """Ids of every row that matters for loss and duplication, and the stories' member sets."""

    links: tuple[str, ...]  # discovered_urls.url, one per row (duplicates would repeat)
    articles: tuple[str, ...]
    article_urls: tuple[str, ...]  # canonical URL per article row
    versions: tuple[tuple[str, str], ...]  # (article_id, content_hash) per version row
    stories: dict[str, frozenset[str]]  # story id -> member article ids
    memberships: tuple[str, ...]  # article id per story_members row
    indexed_pending: int

    def duplicates(self) -> dict[str, list[Any]]:
        """Values that occur more than once where each must be unique (empty: none)."""
        found: dict[str, list[Any]] = {}
        for name in ("links", "articles", "article_urls", "versions", "memberships"):
            values: Sequence[Any] = getattr(self, name)
            seen: set[Any] = set()
            repeated = [v for v in values if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
            if repeated:
                found[name] = repeated
        return found

    def groups(self) -> set[frozenset[str]]:
        """The stories as sets of member article ids (ids of stories themselves left out)."""
        return set(self.stories.values())


def snapshot_store(database_url: str) -> StoreSnapshot:
    """Read the ids the store holds (a fresh engine, disposed afterwards)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            d, a, v, m = t.discovered_urls.c, t.articles.c, t.article_versions.c, t.story_members.c
            links = tuple(conn.execute(select(d.url)).scalars())
            articles = conn.execute(
                select(a.id, a.canonical_url, a.indexed_version, a.index_version)
            ).all()
            versions = tuple(
                (r.article_id, r.content_hash)
                for r in conn.execute(select(v.article_id, v.content_hash))
            )
            members = conn.execute(select(m.story_id, m.article_id)).all()
            story_ids = tuple(conn.execute(select(t.stories.c.id)).scalars())
    finally:
        engine.dispose()
    stories: dict[str, set[str]] = {sid: set() for sid in story_ids}
    for row in members:
        stories.setdefault(row.story_id, set()).add(row.article_id)
    return StoreSnapshot(
        links=links,
        articles=tuple(r.id for r in articles),
        article_urls=tuple(r.canonical_url for r in articles),
        versions=versions,
        stories={k: frozenset(v) for k, v in stories.items()},
        memberships=tuple(r.article_id for r in members),
        indexed_pending=sum(1 for r in articles if r.indexed_version < r.index_version),
    )


@dataclass(frozen=True)
class IndexSnapshot:
    """Document ids behind the articles and stories aliases (one entry per stored copy)."""

    articles: tuple[str, ...]
    stories: tuple[str, ...]


def snapshot_index(
    search_url: str, prefix: str, auth: tuple[str, str] | None = None
) -> IndexSnapshot:
    """Every document id in the prefix's article and story indices, after a refresh."""
    client = Elasticsearch(search_url, basic_auth=auth, request_timeout=30)
    try:
        client.indices.refresh(index=f"{prefix}-*", allow_no_indices=True)
        result = []
        for alias in (articles_alias(prefix), stories_alias(prefix)):
            if not client.indices.exists_alias(name=alias):
                result.append(())
                continue
            hits = client.search(index=alias, size=10000, source=False, query={"match_all": {}})
            result.append(tuple(hit["_id"] for hit in hits["hits"]["hits"]))
    finally:
        client.close()
    return IndexSnapshot(articles=tuple(result[0]), stories=tuple(result[1]))
