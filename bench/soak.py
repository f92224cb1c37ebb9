"""Soak: the whole pipeline over the sample outlets, again and again for several minutes, in one
long-lived process, as a scheduler worker runs it. Memory must stay flat and the counts consistent.

Each round re-queues every link (so fetch, archive, extraction, tagging, the store's upserts and
the clustering check all run again), then runs one `ingest`: discover, fetch, extract, cluster,
index. Measured: RSS after the first (warm-up) round versus after the last, peak RSS, rounds done;
at the end the store must hold exactly the sample pages once each, every article in one story, and
the index exactly the store's documents. Prints one JSON line.

    .venv/bin/python bench/soak.py [--minutes 3] [--outlets 69]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/soak.py` puts bench/, not the project, on the path
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from connectors.localsearch import local_search  # noqa: E402
from connectors.samples import load_sample_outlets, serve_samples  # noqa: E402
from mediamon.runner import ingest  # noqa: E402
from mediamon.services import load_outlets, open_services  # noqa: E402
from mediamon.settings import load_settings  # noqa: E402
from schemas import tables as t  # noqa: E402


@dataclass(frozen=True)
class SoakResult:
    """What one soak run measured."""

    seconds: float
    rounds: int
    pages: int
    rss_start_mb: float  # after the warm-up round (models loaded, caches filled)
    rss_end_mb: float
    rss_growth_mb: float
    peak_rss_mb: float
    articles: int
    article_versions: int
    stories: int
    story_members: int
    indexed_articles: int
    indexed_stories: int
    pending_index: int
    errors: int

    @property
    def consistent(self) -> bool:
        """Every page stored once, in one story each, and the index equal to the store."""
        return (
            self.articles == self.pages
            and self.article_versions == self.pages
            and self.story_members == self.articles
            and self.indexed_articles == self.articles
            and self.indexed_stories == self.stories
            and self.pending_index == 0
        )


def rss_mb() -> float:
    """Resident set size of this process now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_soak(seconds: float, data_dir: Path, *, outlet_count: int | None = None) -> SoakResult:
    """Run ingest rounds over the sample outlets for `seconds` (at least two rounds)."""
    outlets = load_sample_outlets()[:outlet_count]
    pages = sum(len(o.pages) for o in outlets)
    started = time.monotonic()
    with local_search(data_dir / "search") as server, serve_samples(outlets) as samples:
        registry = samples.write_registry(data_dir / "outlets.yaml")
        settings = load_settings({}, data_dir=data_dir).with_overrides(
            registry_path=registry,
            search_url=server.url,
            search_prefix="soak",
            requests_per_second=50.0,
        )
        rounds = 0
        errors = 0
        rss_start = 0.0
        with open_services(settings) as services:
            chosen = load_outlets(settings)
            while rounds < 2 or time.monotonic() - started < seconds:
                with services.store.begin() as conn:
                    ids = list(conn.execute(select(t.discovered_urls.c.id)).scalars())
                services.store.requeue_links(ids)
                report = ingest(services, chosen)
                errors += len(report.errors)
                rounds += 1
                gc.collect()
                if rounds == 1:
                    rss_start = rss_mb()
            rss_end = rss_mb()
            counts = services.store.counts()
            pending = len(services.store.pending_article_ids())
            assert services.search is not None
            services.search.refresh()
            indexed_articles = services.search.count_articles()
            indexed_stories = services.search.count_stories()
            with services.store.begin() as conn:
                story_members = conn.execute(
                    select(func.count()).select_from(t.story_members)
                ).scalar_one()
    return SoakResult(
        seconds=round(time.monotonic() - started, 1),
        rounds=rounds,
        pages=pages,
        rss_start_mb=round(rss_start, 1),
        rss_end_mb=round(rss_end, 1),
        rss_growth_mb=round(rss_end - rss_start, 1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        articles=counts["articles"],
        article_versions=counts["article_versions"],
        stories=counts["stories"],
        story_members=story_members,
        indexed_articles=indexed_articles,
        indexed_stories=indexed_stories,
        pending_index=pending,
        errors=errors,
    )


def main() -> None:
    """Command line: run the soak and print its result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--outlets", type=int, default=None, help="only the first N sample outlets")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediamon-soak-") as scratch:
        result = run_soak(
            args.minutes * 60, args.data_dir or Path(scratch), outlet_count=args.outlets
        )
    print(json.dumps({**asdict(result), "consistent": result.consistent}))
    if not result.consistent:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
