"""Re-indexing from the store: re-send a publication range, or roll out a new index schema.

The SQL store is the system of record; the index is always rebuildable from it.

- `reindex_range` marks the articles published in a range as not indexed and runs the normal
  indexer (`stages.index_pending`): documents are overwritten under their deterministic ids, so
  re-running it leaves counts and document sources unchanged.
- `rollout` builds fresh indices for a schema version (by default the code's `SCHEMA_VERSION`)
  from the store beside the live ones, checks their counts, puts the new templates, swaps both
  read aliases in one atomic `_aliases` call, then deletes the old indices. Readers never see a
  half-built or doubled index. Running it again once the aliases point at the version does
  nothing; a rollout interrupted before the swap is completed by the next run.

Rollouts assume no indexer writes at the same time (run them with ingestion paused); rows that
change during the build stay pending in the outbox and are sent by the next `index_pending`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.search import IndexAction, SearchIndex, SearchUnavailableError
from mediamon.services import Services
from mediamon.stages import StageReport, index_pending
from schemas.errors import PermanentError
from schemas.index import (
    SCHEMA_VERSION,
    article_index_name,
    article_index_pattern,
    article_template,
    articles_alias,
    stories_alias,
    stories_index_name,
    story_template,
)
from transforms.documents import build_article_document, build_story_document, index_time

log = logging.getLogger(__name__)

_VERSION = re.compile(r"-v(\d+)(?:-|$)")


class RolloutError(PermanentError):
    """The new indices did not come out complete; the aliases were left untouched."""

    kind = "rollout"


def reindex_range(
    services: Services,
    published_from: datetime | None = None,
    published_to: datetime | None = None,
    *,
    batch_size: int = 500,
) -> StageReport:
    """Re-send every article published in [from, to) (None = open end) and every story.

    Returns the indexer's report plus `articles_reset`. Safe to repeat: ids are deterministic.
    """
    reset = services.store.reset_index_state(
        published_from=published_from, published_to=published_to
    )
    report = index_pending(services, batch_size=batch_size)
    report.add("articles_reset", reset)
    log.info(
        "reindexed range from=%s to=%s reset=%d indexed=%d",
        published_from,
        published_to,
        reset,
        report.counts.get("articles_indexed", 0),
    )
    return report


def reconcile_index(services: Services) -> tuple[int, int]:
    """Put back in the outbox every article and story the index no longer holds.

    The outbox records what the cluster acknowledged; a cluster can still lose acknowledged
    documents (a crash before they reached disk, a restored snapshot, a deleted index). Checks
    every confirmed document by id (`mget`, no sources) and returns (articles, stories) re-queued.
    """
    search = services.search
    if search is None:
        return 0, 0
    articles, story_ids = services.store.indexed_locations()
    lost_articles = search.missing_documents(articles)
    alias = stories_alias(search.prefix)
    lost_stories = search.missing_documents([(story, alias) for story in story_ids])
    if lost_articles or lost_stories:
        services.store.unmark_indexed(sorted(lost_articles), sorted(lost_stories))
        log.warning(
            "index lost documents, re-queued articles=%d stories=%d",
            len(lost_articles),
            len(lost_stories),
        )
    return len(lost_articles), len(lost_stories)


def catch_up(services: Services, *, batch_size: int = 500) -> StageReport:
    """Reconcile the outbox with the index, then send everything pending (after an outage)."""
    report = StageReport()
    try:
        lost_articles, lost_stories = reconcile_index(services)
    except SearchUnavailableError as error:
        report.add("index_unavailable")
        report.record("search", error)
        return report
    report.add("articles_requeued", lost_articles)
    report.add("stories_requeued", lost_stories)
    return report.merge(index_pending(services, batch_size=batch_size))


@dataclass
class RolloutResult:
    """What a rollout did: the version, the indices before and after, the documents sent."""

    version: int
    swapped: bool
    old_indices: list[str] = field(default_factory=list)
    new_indices: list[str] = field(default_factory=list)
    articles: int = 0
    stories: int = 0


def index_version(name: str) -> int | None:
    """The schema version in an index name (`mediamon-articles-v2-2020.01` -> 2)."""
    match = _VERSION.search(name)
    return int(match.group(1)) if match else None


def versioned_templates(prefix: str, version: int) -> dict[str, dict[str, Any]]:
    """The article and story templates of `schemas.index`, aimed at `version`'s index names."""
    articles = article_template(prefix)
    articles["index_patterns"] = [article_index_pattern(prefix, version)]
    stories = story_template(prefix)
    stories["index_patterns"] = [stories_index_name(prefix, version)]
    return {f"{prefix}-articles": articles, f"{prefix}-stories": stories}


def _index_body(template: dict[str, Any]) -> dict[str, Any]:
    """Settings and mappings of a template, without its aliases (joined only at the swap)."""
    inner = template["template"]
    return {"settings": inner["settings"], "mappings": inner["mappings"]}


def rollout(
    services: Services, *, version: int = SCHEMA_VERSION, batch_size: int = 500
) -> RolloutResult:
    """Build `version`'s indices from the store, swap the aliases atomically, drop the old ones.

    Raises `RolloutError` (aliases untouched) when a document is rejected or a count differs.
    """
    search = services.search
    if search is None:
        raise RolloutError("no search cluster configured", kind="rollout")
    prefix = search.prefix
    alias_a, alias_s = articles_alias(prefix), stories_alias(prefix)
    live = search.alias_indices(alias_a) + search.alias_indices(alias_s)
    existing = search.list_indices(f"{prefix}-articles-v*") + search.list_indices(
        f"{prefix}-stories-v*"
    )
    old = sorted({name for name in live + existing if index_version(name) != version})
    if live and not old:
        log.info("rollout: aliases already on v%d, nothing to do", version)
        return RolloutResult(version, swapped=False, new_indices=sorted(live))

    # Leftovers of an interrupted rollout to this version are rebuilt from scratch.
    leftovers = [name for name in existing if index_version(name) == version and name not in live]
    search.delete_indices(leftovers)
    templates = versioned_templates(prefix, version)
    article_body = _index_body(templates[f"{prefix}-articles"])
    story_body = _index_body(templates[f"{prefix}-stories"])
    result = RolloutResult(version, swapped=False, old_indices=old)
    moved: dict[str, tuple[int, str]] = {}
    new_articles: set[str] = set()

    article_ids = services.store.article_ids()
    for start in range(0, len(article_ids), batch_size):
        rows = services.store.load_article_documents(article_ids[start : start + batch_size])
        origins = sorted({r["origin_article_id"] for r in rows if r.get("origin_article_id")})
        origin_outlets = services.store.outlets_of(origins) if origins else {}
        actions = []
        for row in rows:
            when = index_time(row)
            name = article_index_name(prefix, when.year, when.month, version)
            if name not in new_articles:
                search.create_index(name, article_body)
                new_articles.add(name)
            document = build_article_document(
                row, origin_outlet=origin_outlets.get(row.get("origin_article_id") or "")
            )
            actions.append(IndexAction(name, row["id"], document))
            moved[row["id"]] = (row["index_version"], name)
        _send(search, actions)
    result.articles = len(moved)

    stories_name = stories_index_name(prefix, version)
    search.create_index(stories_name, story_body)
    story_versions: dict[str, int] = {}
    story_ids = services.store.story_ids()
    for start in range(0, len(story_ids), batch_size):
        stories = services.store.load_story_documents(story_ids[start : start + batch_size])
        members = sorted({m["article_id"] for s in stories for m in s["members"]})
        topics = services.store.topics_of(members)
        _send(
            search,
            [IndexAction(stories_name, s["id"], build_story_document(s, topics)) for s in stories],
        )
        story_versions.update({s["id"]: s["index_version"] for s in stories})
    result.stories = len(story_versions)

    new = sorted(new_articles | {stories_name})
    search.refresh(",".join(new))
    built_articles = search.count_index(",".join(sorted(new_articles))) if new_articles else 0
    built_stories = search.count_index(stories_name)
    if built_articles != result.articles or built_stories != result.stories:
        raise RolloutError(
            f"v{version} indices hold {built_articles} articles / {built_stories} stories, "
            f"the store {result.articles} / {result.stories}; aliases left as they were",
            kind="rollout",
        )

    search.put_templates(templates)
    swap: list[dict[str, Any]] = []
    for name in search.alias_indices(alias_a):
        if name not in new_articles:
            swap.append({"remove": {"index": name, "alias": alias_a}})
    for name in search.alias_indices(alias_s):
        if name != stories_name:
            swap.append({"remove": {"index": name, "alias": alias_s}})
    swap += [{"add": {"index": name, "alias": alias_a}} for name in sorted(new_articles)]
    swap.append({"add": {"index": stories_name, "alias": alias_s}})
    search.update_aliases(swap)
    result.swapped = True
    search.delete_indices(old)
    services.store.mark_articles_moved(moved)
    services.store.mark_stories_indexed(story_versions)
    result.new_indices = new
    log.info(
        "rollout to v%d: %d articles, %d stories; swapped %d indices for %d",
        version,
        result.articles,
        result.stories,
        len(old),
        len(new),
    )
    return result


def _send(search: SearchIndex, actions: list[IndexAction]) -> None:
    if not actions:
        return
    outcome = search.bulk(actions)
    if outcome.failed:
        action, reason = outcome.failed[0]
        raise RolloutError(
            f"{len(outcome.failed)} documents rejected, first "
            f"{action.index}/{action.doc_id}: {reason}",
            kind="rollout",
        )
