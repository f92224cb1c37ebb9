"""The WARC raw archive: round trips, content addressing, replay without network."""

from __future__ import annotations

import gzip
import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from connectors.archive import CaptureRef, RawArchive, ReplayFetcher
from connectors.http import Fetcher, PageFetcher
from schemas.errors import PermanentError
from schemas.records import RawPage
from tests.connectors.conftest import fast_settings
from tests.localserver import Reply, serve_bytes

WHEN = datetime(2018, 9, 8, 14, 3, 27, 250001, tzinfo=UTC)


def _page(data_dir: Path, **overrides: object) -> RawPage:
    body = (data_dir / "feeds" / "newsru-com__chardet-windows-1251-russian.xml").read_bytes()
    values: dict[str, object] = {
        "requested_url": "http://newsru.example/rss",
        "final_url": "http://www.newsru.example/rss/all",
        "status": 200,
        "headers": (
            ("content-type", "text/xml; charset=windows-1251"),
            ("content-encoding", "gzip"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("etag", '"n1"'),
        ),
        "body": body,
        "fetched_at": WHEN,
        "redirects": ("http://newsru.example/rss",),
    }
    values.update(overrides)
    return RawPage(**values)  # type: ignore[arg-type]


def test_store_then_load_returns_the_same_page(tmp_path, data_dir):
    archive = RawArchive(tmp_path)
    page = _page(data_dir)
    ref = archive.store(page)
    assert ref.sha256 == hashlib.sha256(page.body).hexdigest()
    assert ref.warc_path == "mediamon-20180908.warc.gz"
    assert archive.load(ref) == page  # headers (repeated, encoded), times, URLs, body


def test_records_are_standard_gzip_warc(tmp_path, data_dir):
    ref = RawArchive(tmp_path).store(_page(data_dir))
    with (tmp_path / ref.warc_path).open("rb") as handle:
        records = [
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI"))
            for r in ArchiveIterator(handle)
        ]
    assert records == [
        ("request", "http://www.newsru.example/rss/all"),
        ("response", "http://www.newsru.example/rss/all"),
    ]
    # one gzip member per record: the ref's byte range alone decompresses to one record
    raw = (tmp_path / ref.warc_path).read_bytes()[ref.offset : ref.offset + ref.length]
    record = gzip.decompress(raw)
    assert record.startswith(b"WARC/1.1\r\n")
    assert b"\r\nWARC-Type: response\r\n" in record
    assert record.endswith(_page(data_dir).body + b"\r\n\r\n")


def test_identical_body_for_same_url_is_not_written_twice(tmp_path, data_dir):
    archive = RawArchive(tmp_path)
    first = archive.store(_page(data_dir))
    size = (tmp_path / first.warc_path).stat().st_size
    again = archive.store(_page(data_dir, fetched_at=WHEN.replace(hour=20)))
    assert again == first
    assert (tmp_path / first.warc_path).stat().st_size == size


def test_identical_body_under_another_url_is_a_small_revisit(tmp_path, data_dir):
    archive = RawArchive(tmp_path)
    first = archive.store(_page(data_dir))
    mirror = _page(
        data_dir,
        requested_url="http://mirror.example/a",
        final_url="http://mirror.example/a",
        redirects=(),
    )
    second = archive.store(mirror)
    assert second.sha256 == first.sha256
    assert second.offset > first.offset
    assert second.length < 1000 < first.length
    assert archive.load(second) == mirror
    assert archive.load(first) == _page(data_dir)


def test_changed_body_is_a_new_capture(tmp_path, data_dir):
    archive = RawArchive(tmp_path)
    first = archive.store(_page(data_dir))
    edited = _page(data_dir, body=_page(data_dir).body + b"<!-- edited -->")
    second = archive.store(edited)
    assert second.sha256 != first.sha256
    assert archive.load(second).body.endswith(b"<!-- edited -->")


def test_index_is_rebuilt_from_files(tmp_path, data_dir):
    ref = RawArchive(tmp_path).store(_page(data_dir))
    reopened = RawArchive(tmp_path)
    assert reopened.contains(ref.sha256)
    assert reopened.find(ref.sha256) == ref
    assert not reopened.contains("0" * 64)
    assert reopened.store(_page(data_dir)) == ref


def test_corrupt_or_missing_capture_is_a_typed_error(tmp_path, data_dir):
    archive = RawArchive(tmp_path)
    ref = archive.store(_page(data_dir))
    with pytest.raises(PermanentError) as missing:
        archive.load(CaptureRef("nope.warc.gz", 0, 10, ref.sha256))
    assert missing.value.kind == "archive-missing"
    with pytest.raises(PermanentError) as wrong:
        archive.load(CaptureRef(ref.warc_path, ref.offset, ref.length, "f" * 64))
    assert wrong.value.kind == "archive-corrupt"
    with pytest.raises(PermanentError) as escape:
        archive.load(CaptureRef("../../etc/passwd", 0, 10, ref.sha256))
    assert escape.value.kind == "archive-missing"


def test_live_fetch_archived_then_replayed_without_network(tmp_path, serve, data_dir):
    body = (data_dir / "feeds" / "aviaport-ru__chardet-koi8-r.xml").read_bytes()
    server = serve(
        {
            "/robots.txt": serve_bytes(b"User-agent: *\nAllow: /\n", "text/plain"),
            "/old": lambda _s: Reply(301, {"Location": "/rss"}),
            "/rss": serve_bytes(body, "application/rss+xml; charset=koi8-r", ETag='"k1"'),
        }
    )
    archive = RawArchive(tmp_path)
    with Fetcher(fast_settings()) as live:
        page = live.fetch(server.url("/old"), purpose="feed")
    refs = {page.requested_url: archive.store(page)}
    server.stop()  # from here on, nothing can come from the network

    replay: PageFetcher = ReplayFetcher(archive, refs.get)
    again = replay.fetch(server.url("/old"), purpose="feed")
    assert again == page
    assert replay.fetch(server.url("/old"), etag='"k1"').status == 304
    with pytest.raises(PermanentError) as unknown:
        replay.fetch(server.url("/never-fetched"))
    assert unknown.value.kind == "not-archived"


def test_concurrent_stores_leave_a_readable_archive(tmp_path, data_dir):
    archive = RawArchive(tmp_path)
    feeds = sorted((data_dir / "feeds").iterdir())[:12]
    pages = [
        _page(data_dir, final_url=f"http://outlet.example/{path.name}", body=path.read_bytes())
        for path in feeds
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        refs = list(pool.map(archive.store, pages + pages))
    assert refs[: len(pages)] == refs[len(pages) :]  # the second round wrote nothing new
    for page, ref in zip(pages, refs, strict=False):
        assert archive.load(ref) == page
    assert sorted(url for url, _ in RawArchive(tmp_path).iter_captures()) == sorted(
        page.final_url for page in pages
    )


def _append_many(root: Path, data_dir: Path, worker: int, count: int) -> None:
    archive = RawArchive(root)
    body = (data_dir / "pages" / "fr" / "lefigaro-fr__fundus-lefigaro-2024-11-22.html").read_bytes()
    for number in range(count):
        url = f"http://127.0.0.1/{worker}/{number}"
        archive.store(_page(data_dir, final_url=url, body=body + url.encode()))


def test_processes_appending_and_scanning_at_once_keep_every_record_whole(
    tmp_path: Path, data_dir: Path
) -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    writers = [
        context.Process(target=_append_many, args=(tmp_path, data_dir, worker, 40))
        for worker in range(3)
    ]
    for writer in writers:
        writer.start()
    scans = 0
    try:
        while any(writer.is_alive() for writer in writers) or scans == 0:
            # A fresh archive object scans every file, as a new worker process does at start.
            list(RawArchive(tmp_path).iter_captures())
            scans += 1
    finally:
        for writer in writers:
            writer.join(timeout=60)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    archive = RawArchive(tmp_path)
    refs = list(archive.iter_captures())
    assert len(refs) == 120
    for url, ref in refs:
        assert archive.load(ref).final_url == url  # digest-checked: no interleaved bytes
