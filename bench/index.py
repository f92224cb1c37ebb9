"""Indexing throughput: our path (`stages.index_pending` from a filled store) versus a bare
`elasticsearch.helpers.bulk` of the same documents, in the same run, against the same local server.

Our path does more than the bare bulk: it reads the outbox and the rows from SQL, builds the
documents, sends them with per-item outcomes and confirms each in the store. The goal is a ratio
(ours / bare) of at least 0.8. Prints one JSON line.

Documents: the real texts of the syndication set (`shared/data/syndication/dev.jsonl`), each
saved `--copies` times under distinct URLs (distinct articles), tagged with the shipped taxonomy.

    .venv/bin/python bench/index.py [--copies 15] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/index.py` puts bench/, not the project, on the path
    sys.path.insert(0, str(ROOT))

from connectors.store import Store  # noqa: E402

SYNDICATION = ROOT / ".." / "shared" / "data" / "syndication" / "dev.jsonl"


def load_syndication(path: Path = SYNDICATION) -> list[dict[str, Any]]:
    """Read the syndication set (only the input fields matter here)."""
    from mediamon.evaluation.stories import load_documents

    if not path.exists():
        raise FileNotFoundError(f"syndication set missing at {path}")
    return load_documents(path)


def fill_store(
    store: Store,
    documents: Sequence[dict[str, Any]],
    *,
    now: datetime,
    cluster: bool = True,
    crosslingual: bool = True,
) -> list[str]:
    """Save documents as articles of their outlets, tag them, optionally cluster them into stories.

    Goes through the store's own writes (`save_article`, `save_tags`) and the pipeline's story
    assignment, exactly as ingestion does after extraction. Returns the article ids.
    """
    from mediamon.clustering import ClusteringOptions, assign_stories
    from mediamon.evaluation.stories import save_documents
    from mediamon.taxonomy_file import load_compiled_taxonomy
    from transforms.topics import tag_topics

    taxonomy = load_compiled_taxonomy()
    article_of = save_documents(store, documents, now=now)
    article_ids = [article_of[document["id"]] for document in documents]
    for document, article_id in zip(documents, article_ids, strict=True):
        tags = tag_topics(
            taxonomy, title=document["title"], text=document["text"], language=document["language"]
        )
        store.save_tags(article_id, tags)
    if cluster:
        options = ClusteringOptions(crosslingual=crosslingual)
        assign_stories(store.engine, sorted(set(article_ids)), now=now, options=options)
    return article_ids


def _copies(documents: Sequence[dict[str, Any]], copies: int) -> list[dict[str, Any]]:
    out = []
    for copy in range(copies):
        for document in documents:
            url = document["url"].split("?")[0].rstrip("/")
            out.append(
                {**document, "id": f"{document['id']}-{copy}", "url": f"{url}/bench-copy-{copy}"}
            )
    return out


def run_bench(copies: int, work: Path, repeats: int = 3) -> dict[str, Any]:
    """Fill a store once; then, `repeats` times, index it through the pipeline and bulk the same
    documents bare into empty indices; report the median rate of each and of their ratio."""
    from statistics import median

    from elasticsearch import helpers

    from connectors.localsearch import local_search
    from connectors.search import SearchIndex, SearchSettings
    from mediamon.services import Services
    from mediamon.settings import load_settings
    from mediamon.stages import index_pending
    from transforms.documents import article_index_for, build_article_document

    now = datetime(2026, 11, 25, tzinfo=UTC)
    store = Store.open(f"sqlite:///{work / 'bench.sqlite3'}")
    store.migrate()
    documents = _copies(load_syndication(), copies)
    fill_store(store, documents, now=now, cluster=False)
    ours_rates: list[float] = []
    bare_rates: list[float] = []
    counts: dict[str, int] = {}
    errors = 0
    with local_search(work / "search") as server:
        settings = replace(
            load_settings({}, data_dir=work), search_url=server.url, search_prefix="benchours"
        )
        ours = SearchIndex(SearchSettings(url=server.url, prefix="benchours"))
        bare = SearchIndex(SearchSettings(url=server.url, prefix="benchbare"))
        services = Services(settings, store, ours)
        # The same documents, built once outside the timer, for the bare bulk.
        rows = store.load_article_documents(store.article_ids())
        actions = [
            {
                "_op_type": "index",
                "_index": article_index_for("benchbare", row),
                "_id": row["id"],
                "_source": build_article_document(row),
            }
            for row in rows
        ]
        for _ in range(repeats):
            for index in (ours, bare):
                index.delete_indices(index.list_indices(f"{index.prefix}-*"))
                index.ensure_layout()
            store.reset_index_state()

            started = time.perf_counter()
            report = index_pending(services)
            ours_seconds = time.perf_counter() - started
            errors += len(report.errors)
            ours.refresh()
            counts["ours"] = ours.count_articles()
            ours_rates.append(counts["ours"] / ours_seconds)

            started = time.perf_counter()
            helpers.bulk(bare.client, actions, chunk_size=500)
            bare_seconds = time.perf_counter() - started
            bare.refresh()
            counts["bare"] = bare.count_articles()
            bare_rates.append(counts["bare"] / bare_seconds)
        ours.close()
        bare.close()
    store.dispose()
    ours_rate, bare_rate = median(ours_rates), median(bare_rates)
    return {
        "bench": "index",
        "documents": len(documents),
        "repeats": repeats,
        "indexed_ours": counts["ours"],
        "indexed_bare": counts["bare"],
        "ours_docs_per_s": round(ours_rate, 1),
        "bare_bulk_docs_per_s": round(bare_rate, 1),
        "ratio": round(ours_rate / bare_rate, 3),
        # Each repeat times both paths back to back; the median of those paired ratios is the
        # figure least moved by other load on a shared machine.
        "ratio_paired_median": round(
            median(o / b for o, b in zip(ours_rates, bare_rates, strict=True)), 3
        ),
        "goal_ratio": 0.8,
        "index_errors": errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON line; exit 1 when a document went missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=15, help="copies of the 67-document set")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mediamon-bench-index-") as tmp:
        result = run_bench(args.copies, Path(tmp), args.repeats)
    print(json.dumps(result))
    return 0 if result["indexed_ours"] == result["indexed_bare"] == result["documents"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
