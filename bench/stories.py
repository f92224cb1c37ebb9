"""Cost per article to fingerprint and assign a story with 10k / 100k / ... articles stored.

usage: python -m bench.stories [--sizes 10000 100000] [--backends sqlite postgresql]
                               [--probes 150] [--per-day 2000]

Corpus: synthetic articles of 8-20 sentences written by a first-order word chain learnt from the
REAL sentences of /work/shared/data (the syndication texts and the ground-truth article bodies
under expected/): real vocabulary, word pairs and sentence lengths, but no sentence shared by
hundreds of articles a day (which drawing from only a few thousand real sentences would cause).
Articles are spread over time at `--per-day` articles a day (a steady archive: a bigger
archive covers more days). Their rows (articles, fingerprints, lsh_buckets) are bulk-loaded
directly. Then `--probes` new articles (half of them near copies of a stored article of the same
days, half new) are saved through `Store.save_article` and clustered one by one with
`assign_stories` (monolingual path; the cross-lingual encoder costs a constant ~16 ms a document
on top). Prints one JSON line per (backend, size): median and p90 ms per article, and the RSS
growth of the process during the probes. The ratio of the largest size's median to the 10k
median is printed last (goal: <= 2).

PostgreSQL: postgresql+psycopg://postgres@127.0.0.1:5432/ (trust auth); a database
`mediamon_bench_<random>` is created and dropped at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from connectors.store import Store
from connectors.story_store import bucket_rows
from mediamon.clustering import ClusteringOptions, assign_stories
from schemas import tables as t
from schemas.records import ExtractedArticle, LanguageGuess, Outlet
from transforms.fingerprints import fingerprint_article, serialise_features, serialise_minhash

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = datetime(2019, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 25, tzinfo=UTC)
OPTIONS = ClusteringOptions(crosslingual=False)


def real_texts() -> list[str]:
    """Real article texts in /work/shared/data: the syndication set and extraction ground truths."""
    texts: list[str] = []
    for line in (DATA / "syndication" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            texts.append(json.loads(line)["text"])
    for path in sorted((DATA / "expected").rglob("*.aeb.json")):
        for value in json.loads(path.read_text(encoding="utf-8")).values():
            texts.append(value.get("articleBody", ""))
    for path in sorted((DATA / "expected").rglob("*.newspaper4k-txt.txt")):
        texts.append(path.read_text(encoding="utf-8"))
    for path in sorted((DATA / "expected").rglob("*.fundus.json")):
        for version in json.loads(path.read_text(encoding="utf-8")).values():
            body = version.get("body") or {}
            for section in body.get("sections", []):
                texts.extend(section.get("paragraphs", []))
    return texts


class Corpus:
    """Deterministic synthetic articles generated from real sentences.

    A first-order word chain learnt from the real texts writes new sentences: the vocabulary,
    word pairs and sentence lengths are those of real news, but (as in a real archive) two
    articles rarely share a whole sentence. Drawing sentences verbatim from the few thousand real
    ones instead would make every article share sentences with hundreds of others a day.
    """

    def __init__(self, texts: list[str], per_day: int, seed: int = 11) -> None:
        chain: dict[str, list[str]] = {}
        starts: list[str] = []
        for body in texts:
            for sentence in re.split(r"(?<=[.!?])\s+|\n+", body):
                words = sentence.split()
                if len(words) < 6:
                    continue
                starts.append(words[0])
                for first, second in itertools.pairwise(words):
                    chain.setdefault(first, []).append(second)
        self.chain = {k: sorted(v) for k, v in chain.items()}
        self.starts = sorted(starts)
        self.sentences = len(starts)
        self.per_day = per_day
        self.seed = seed

    def _sentence(self, rng: random.Random) -> str:
        words = [rng.choice(self.starts)]
        while len(words) < 40:
            following = self.chain.get(words[-1])
            if not following:
                break
            words.append(rng.choice(following))
            if len(words) >= 8 and words[-1].endswith((".", "!", "?")):
                break
        sentence = " ".join(words)
        return sentence if sentence.endswith((".", "!", "?")) else sentence + "."

    def text(self, index: int) -> tuple[str, str]:
        """Return (title, text) of synthetic article `index` (same index, same article)."""
        rng = random.Random(self.seed * 1_000_003 + index)
        out = [self._sentence(rng) for _ in range(rng.randint(8, 20))]
        body = "\n\n".join(" ".join(out[i : i + 3]) for i in range(0, len(out), 3))
        return f"Synthetic article {index}", body

    def published(self, index: int) -> datetime:
        """Publication time of article `index`: `per_day` articles a day from START."""
        return START + timedelta(seconds=int(index * 86400 / self.per_day))


def article_rows(
    corpus: Corpus, start: int, stop: int
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Yield chunks of rows for articles [start, stop) of the corpus (articles, fps, buckets)."""
    chunk = 2000
    for low in range(start, stop, chunk):
        articles, fingerprints, buckets = [], [], []
        for index in range(low, min(low + chunk, stop)):
            title, body = corpus.text(index)
            when = corpus.published(index)
            article_id = f"bench{index:09d}"
            fp = fingerprint_article(title, body)
            articles.append(
                {
                    "id": article_id,
                    "outlet_id": "bench",
                    "canonical_url": f"https://b/{index}",
                    "url": f"https://b/{index}",
                    "current_version_id": f"v{article_id}",
                    "title": title,
                    "published_at": when,
                    "authors": [],
                    "language": "en",
                    "word_count": len(body.split()),
                    "first_seen_at": when,
                    "updated_at": when,
                    "version_count": 1,
                    "index_version": 1,
                    "indexed_version": 0,
                }
            )
            fingerprints.append(
                {
                    "article_id": article_id,
                    "version_id": f"v{article_id}",
                    "exact_hash": fp.exact_hash,
                    "minhash": serialise_minhash(fp.minhash),
                    "shingle_count": fp.shingle_count,
                    "language": "en",
                    "published_at": when,
                    "vector": None,
                    "features": serialise_features(fp.features),
                }
            )
            buckets.extend(bucket_rows(article_id, fp, when))
        yield {"articles": articles, "fingerprints": fingerprints, "buckets": buckets}


class RowCache:
    """Corpus rows pickled to a temporary folder: the second backend loads them as they are."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[tuple[int, int], list[Path]] = {}

    def chunks(
        self, corpus: Corpus, start: int, stop: int
    ) -> Iterator[dict[str, list[dict[str, Any]]]]:
        """Yield the row chunks of articles [start, stop), computing them on first use."""
        if (start, stop) in self.files:
            for path in self.files[(start, stop)]:
                yield pickle.loads(path.read_bytes())  # noqa: S301 - our own temporary file
            return
        paths = []
        for number, chunk in enumerate(article_rows(corpus, start, stop)):
            path = self.folder / f"rows-{start}-{stop}-{number}.pickle"
            path.write_bytes(pickle.dumps(chunk))
            paths.append(path)
            yield chunk
        self.files[(start, stop)] = paths


def bulk_load(engine: Engine, chunk: dict[str, list[dict[str, Any]]]) -> None:
    """Insert one chunk of corpus rows (COPY for buckets on PostgreSQL)."""
    with engine.begin() as conn:
        conn.execute(t.articles.insert(), chunk["articles"])
        conn.execute(t.fingerprints.insert(), chunk["fingerprints"])
        if conn.dialect.name == "postgresql":
            raw: Any = conn.connection.driver_connection
            with (
                raw.cursor() as cursor,
                cursor.copy("COPY lsh_buckets (bucket, article_id) FROM STDIN") as copy,
            ):
                for row in chunk["buckets"]:
                    copy.write_row((row["bucket"], row["article_id"]))
        else:
            conn.execute(t.lsh_buckets.insert(), chunk["buckets"])


def rss_kib() -> int:
    """Resident set size of this process in KiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def probe(store: Store, corpus: Corpus, size: int, probes: int, tag: str) -> dict[str, Any]:
    """Save and assign `probes` new articles dated inside the corpus; return timings."""
    rng = random.Random(size * 7 + len(tag))
    timings = []
    rss_before = rss_kib()
    copies = 0
    for n in range(probes):
        index = rng.randrange(size)
        when = corpus.published(index) + timedelta(minutes=5)
        title, body = corpus.text(index)
        if n % 2 == 0:
            # A near copy: the stored article without its first paragraph.
            body = body.split("\n\n", 1)[-1]
            copies += 1
        else:
            title, body = corpus.text(10**9 + size + n)
        url = f"https://probe.example/{tag}/{size}/{n}"
        saved = store.save_article(
            "bench",
            ExtractedArticle(url, url, title, body, published_at=when),
            capture_id=None,
            now=NOW,
            language=LanguageGuess("en", 1.0),
        )
        started = time.perf_counter()
        assign_stories(store.engine, [saved.article_id], now=NOW, options=OPTIONS)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "ms_median": round(statistics.median(timings), 2),
        "ms_p90": round(timings[int(len(timings) * 0.9) - 1], 2),
        "ms_mean": round(statistics.fmean(timings), 2),
        "probes": probes,
        "near_copies": copies,
        "rss_growth_kib": rss_kib() - rss_before,
        "rss_kib": rss_kib(),
    }


def run_backend(
    backend: str, sizes: list[int], probes: int, corpus: Corpus, cache: RowCache
) -> list[dict[str, Any]]:
    """Grow the corpus through `sizes` on one backend, probing at each size."""
    admin: Engine | None = None
    with tempfile.TemporaryDirectory(prefix="mediamon-bench-") as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        else:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            name = f"mediamon_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        store = Store.open(url)
        results = []
        try:
            store.migrate()
            store.upsert_outlet(Outlet("bench", "Bench", "https://b/"), NOW)
            loaded = 0
            for size in sizes:
                started = time.perf_counter()
                for chunk in cache.chunks(corpus, loaded, size):
                    bulk_load(store.engine, chunk)
                load_seconds = time.perf_counter() - started
                loaded = size
                if backend == "postgresql":
                    # Committed (engine.begin): statistics gathered inside a rolled-back
                    # transaction are lost, and the planner then guesses.
                    with store.engine.begin() as conn:
                        conn.execute(text("ANALYZE"))
                with store.engine.connect() as conn:
                    rows = conn.execute(text("SELECT count(*) FROM lsh_buckets")).scalar()
                line = {
                    "backend": backend,
                    "stored_articles": size,
                    "bucket_rows": rows,
                    "load_seconds": round(load_seconds, 1),
                    **probe(store, corpus, size, probes, backend),
                }
                print(json.dumps(line), flush=True)
                results.append(line)
        finally:
            store.dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}"'))
                admin.dispose()
    return results


def summarise(results: list[dict[str, Any]]) -> None:
    """Print the ratio of the largest size's cost to the smallest size's (goal: <= 2)."""
    base, last = results[0], results[-1]
    print(
        json.dumps(
            {
                "backend": base["backend"],
                "summary": True,
                "sizes": [base["stored_articles"], last["stored_articles"]],
                "ratio_median": round(last["ms_median"] / base["ms_median"], 2),
                "ratio_mean": round(last["ms_mean"] / base["ms_mean"], 2),
                "rss_kib": [base["rss_kib"], last["rss_kib"]],
            }
        ),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print JSON lines."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--probes", type=int, default=150)
    parser.add_argument("--per-day", type=int, default=2000)
    args = parser.parse_args(argv)
    corpus = Corpus(real_texts(), args.per_day)
    print(
        json.dumps(
            {"real_sentences": corpus.sentences, "per_day": args.per_day, "sizes": args.sizes}
        ),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mediamon-bench-rows-") as folder:
        cache = RowCache(Path(folder))
        for backend in args.backends:
            summarise(run_backend(backend, sorted(args.sizes), args.probes, corpus, cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
