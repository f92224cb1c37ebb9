"""Revisit cost: fetching known articles again, per 1,000 articles, against a first fetch.

One local outlet on 127.0.0.1 serves N real captured pages (`../shared/data/pages/en`, cycled; each
URL its own article) with ETags. Three passes of the real fetch stage (fetch, archive, extract,
tag, store) over the same store, in one run:

1. `first`: every page fetched for the first time (the baseline);
2. `unchanged`: every article revisited (`revisit_after` 0s), nothing changed: conditional GETs
   answered 304;
3. `changed`: every article revisited again after the server edited every page (a sentence added
   to the page's first paragraph -- our edit, not the outlet's), so each answers 200 in full.

Reported per 1,000 articles: requests, seconds and bytes (response bodies sent by the server), and
each revisit pass as a ratio against the first fetch. Prints one JSON line.

    .venv/bin/python bench/revisit.py [--articles 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/revisit.py` puts bench/, not the project, on the path
    sys.path.insert(0, str(ROOT))

from sqlalchemy import update  # noqa: E402

from mediamon.services import open_services  # noqa: E402
from mediamon.settings import load_settings  # noqa: E402
from mediamon.stages import fetch_pending  # noqa: E402
from schemas import tables as t  # noqa: E402
from schemas.records import DiscoveredLink, Outlet, SourceKind  # noqa: E402
from tests.localserver import LocalServer, Reply, Seen  # noqa: E402

PAGES = ROOT.parent / "shared" / "data" / "pages" / "en"
EDIT = b" Correction: an earlier version of this article misstated a figure.</p>"


class PageServer:
    """Serves N pages at /a/<i>/ with ETags; counts requests and body bytes per pass."""

    def __init__(self, server: LocalServer, pages: Sequence[bytes], count: int) -> None:
        self.server = server
        self.pages = pages
        self.count = count
        self.edited = False
        self.requests = 0
        self.bytes = 0
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()
        server.default = self.serve
        server.routes["/robots.txt"] = lambda _seen: Reply(
            200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"
        )

    def body_of(self, index: int) -> bytes:
        body = self.pages[index % len(self.pages)]
        return body.replace(b"</p>", EDIT, 1) if self.edited else body

    def serve(self, seen: Seen) -> Reply:
        index = int(seen.path.strip("/").split("/")[1])
        body = self.body_of(index)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if seen.headers.get("if-none-match") == etag:
            reply = Reply(304, {"ETag": etag}, b"")
        else:
            reply = Reply(200, {"Content-Type": "text/html; charset=utf-8", "ETag": etag}, body)
        with self._lock:
            self.requests += 1
            self.bytes += len(reply.body) if isinstance(reply.body, bytes) else 0
            self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1
        return reply

    def take(self) -> dict[str, Any]:
        with self._lock:
            out = {"requests": self.requests, "bytes": self.bytes, "statuses": self.statuses}
            self.requests, self.bytes, self.statuses = 0, 0, {}
        return out


def run_bench(articles: int, work: Path) -> dict[str, Any]:
    pages = [path.read_bytes() for path in sorted(PAGES.glob("*.html"))]
    with LocalServer() as server:
        served = PageServer(server, pages, articles)
        outlet = Outlet(
            id="bench",
            name="bench",
            homepage=server.url("/"),
            feeds=(server.url("/feed"),),
            allow_private=True,
            revisit_after=(0.0,),
            requests_per_second=10_000.0,
        )
        settings = load_settings({}, data_dir=work).with_overrides(
            database_url=f"sqlite:///{work / 'store.sqlite3'}",
            search_url=None,
            requests_per_second=10_000.0,
            max_fetches_per_outlet=articles + 1,
        )
        passes: dict[str, dict[str, Any]] = {}
        with open_services(settings, with_search=False) as services:
            now = services.clock()
            services.store.upsert_outlet(outlet, now)
            services.store.record_links(
                [
                    DiscoveredLink(
                        outlet_id=outlet.id,
                        url=server.url(f"/a/{index}/"),
                        source_kind=SourceKind.FEED,
                        source_url=server.url("/feed"),
                    )
                    for index in range(articles)
                ],
                now,
            )
            for name in ("first", "unchanged", "changed"):
                if name == "changed":
                    served.edited = True
                    # The schedule has one age, spent by the unchanged pass: start it again.
                    with services.store.begin() as conn:
                        conn.execute(update(t.discovered_urls).values(revisit_step=0))
                served.take()
                started = time.perf_counter()
                report = fetch_pending(services, [outlet])
                seconds = time.perf_counter() - started
                seen = served.take()
                passes[name] = {
                    **seen,
                    "seconds": round(seconds, 3),
                    "versions_new": report.counts.get("versions_new", 0),
                    "articles_new": report.counts.get("articles_new", 0),
                    "not_modified": report.counts.get("revisits_not_modified", 0),
                }
            stored = services.store.counts()
    per_1000 = 1000 / articles
    first = passes["first"]
    result: dict[str, Any] = {
        "bench": "revisit",
        "articles": articles,
        "distinct_pages": len(pages),
        "articles_stored": stored["articles"],
        "versions_stored": stored["article_versions"],
    }
    for name, values in passes.items():
        result[name] = {
            "requests_per_1000": round(values["requests"] * per_1000, 1),
            "seconds_per_1000": round(values["seconds"] * per_1000, 3),
            "bytes_per_1000": round(values["bytes"] * per_1000),
            "statuses": values["statuses"],
            "versions_new": values["versions_new"],
        }
        if name != "first":
            result[name]["ratio_vs_first"] = {
                "requests": round(values["requests"] / max(1, first["requests"]), 3),
                "seconds": round(values["seconds"] / max(1e-9, first["seconds"]), 3),
                "bytes": round(values["bytes"] / max(1, first["bytes"]), 4),
            }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mediamon-revisit-") as work:
        print(json.dumps(run_bench(args.articles, Path(work))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
