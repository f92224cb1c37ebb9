"""The raw archive: every response kept as WARC records (gzip per record), content-addressed.

Layout: one file per UTC day of capture, ``<root>/mediamon-YYYYMMDD.warc.gz``, appended to; each
capture is a `request` record followed by a `response` record (or a `revisit` record when the
body was already archived under another URL). A `CaptureRef` (file relative to the root, offset
and length of the response/revisit record, sha256 of the body) is what the store of record keeps.

`RawPage.body` is the decoded transfer (Content-Encoding undone), so the archived HTTP headers
carry the original Content-Encoding / Transfer-Encoding / Content-Length as
``X-Archive-Orig-*`` (the pywb convention) and a Content-Length that matches the stored body;
`load` restores the original header list exactly.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from connectors.http import Purpose
from schemas.errors import PermanentError
from schemas.records import RawPage

__all__ = ["CaptureRef", "RawArchive", "ReplayFetcher"]

_RENAMED_HEADERS = ("content-encoding", "transfer-encoding", "content-length")
_ORIG_PREFIX = "x-archive-orig-"
_H_REQUESTED = "WARC-Mediamon-Requested-URI"
_H_REDIRECTS = "WARC-Mediamon-Redirects"
_H_SHA256 = "WARC-Mediamon-Body-SHA256"
_H_REFERS = "WARC-Mediamon-Refers-To"
_REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


@dataclass(frozen=True, slots=True)
class CaptureRef:
    """Where one capture lives: WARC file (relative to the archive root), record offset/length."""

    warc_path: str
    offset: int
    length: int
    sha256: str  # hex digest of the body


class RawArchive:
    """Append-only WARC archive under `root`; safe for threads and for processes on one host."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._index: dict[str, tuple[str, CaptureRef]] | None = None

    def store(self, page: RawPage) -> CaptureRef:
        """Archive `page`; return where its capture is.

        A body already archived for the same final URL is not written again: the existing ref is
        returned. The same body under another URL is written as a small `revisit` record that
        points at the first copy (so `load` still returns this URL's headers and status).
        """
        digest = hashlib.sha256(page.body).hexdigest()
        with self._lock:
            index = self._ensure_index()
            known = index.get(digest)
            if known is not None and known[0] == page.final_url:
                return known[1]
            name = f"mediamon-{page.fetched_at.astimezone(UTC):%Y%m%d}.warc.gz"
            path = self.root / name
            self.root.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    handle.seek(0, io.SEEK_END)
                    ref = self._append(handle, name, page, digest, known[1] if known else None)
                    # Everything must reach the file before the lock goes: bytes still buffered
                    # at close would land after another process's record and corrupt both.
                    handle.flush()
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            if known is None:
                index[digest] = (page.final_url, ref)
            return ref

    def contains(self, digest: str) -> bool:
        """True when a body with this sha256 hex digest is archived (scans the files once)."""
        with self._lock:
            return digest in self._ensure_index()

    def find(self, digest: str) -> CaptureRef | None:
        """The first capture of a body with this sha256 hex digest, if any."""
        with self._lock:
            entry = self._ensure_index().get(digest)
        return entry[1] if entry else None

    def load(self, ref: CaptureRef) -> RawPage:
        """Read a capture back: status, headers (as received), body, fetched_at, URLs, redirects.

        Raises PermanentError(kind="archive-missing") when the file or record is not there and
        kind "archive-corrupt" when the body does not match the digest of the reference.
        """
        record_headers, http_status, http_headers, body = self._read_record(ref)
        if record_headers.get("WARC-Type") == "revisit":
            target = _parse_ref(record_headers.get(_H_REFERS, ""))
            body = self._read_record(target)[3]
        if hashlib.sha256(body).hexdigest() != ref.sha256:
            raise PermanentError(f"archived body of {ref} fails its digest", kind="archive-corrupt")
        final_url = record_headers.get("WARC-Target-URI", "")
        redirects = tuple(json.loads(record_headers.get(_H_REDIRECTS, "[]")))
        return RawPage(
            requested_url=record_headers.get(_H_REQUESTED, final_url),
            final_url=final_url,
            status=http_status,
            headers=http_headers,
            body=body,
            fetched_at=_parse_warc_date(record_headers.get("WARC-Date", "")),
            redirects=redirects,
        )

    def iter_captures(self) -> Iterator[tuple[str, CaptureRef]]:
        """(final URL, ref) of every response and revisit record, file by file in name order."""
        for path in sorted(self.root.glob("*.warc.gz")):
            with path.open("rb") as handle:
                # Appenders hold an exclusive lock per record; a shared lock keeps this scan from
                # reading a record another process is still writing (a truncated gzip member).
                fcntl.flock(handle, fcntl.LOCK_SH)
                iterator = ArchiveIterator(handle)
                for record in iterator:
                    kind = record.rec_type
                    digest = record.rec_headers.get_header(_H_SHA256)
                    if kind not in ("response", "revisit") or not digest:
                        continue
                    ref = CaptureRef(
                        warc_path=path.name,
                        offset=iterator.get_record_offset(),
                        length=iterator.get_record_length(),
                        sha256=digest,
                    )
                    yield record.rec_headers.get_header("WARC-Target-URI"), ref

    # internals
    def _ensure_index(self) -> dict[str, tuple[str, CaptureRef]]:
        if self._index is None:
            index: dict[str, tuple[str, CaptureRef]] = {}
            for url, ref in self.iter_captures():
                index.setdefault(ref.sha256, (url, ref))
            self._index = index
        return self._index

    def _append(
        self,
        handle: IO[bytes],
        name: str,
        page: RawPage,
        digest: str,
        original: CaptureRef | None,
    ) -> CaptureRef:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        date = _format_warc_date(page.fetched_at)
        parts = urlsplit(page.final_url)
        request_headers = StatusAndHeaders(
            f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            [("Host", parts.netloc)],
            is_http_request=True,
        )
        writer.write_record(
            writer.create_warc_record(
                page.final_url,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=request_headers,
                warc_headers_dict={"WARC-Date": date},
            )
        )
        http_headers = StatusAndHeaders(
            f"{page.status} {_reason(page.status)}",
            _archived_headers(page),
            protocol="HTTP/1.1",
        )
        warc_headers: dict[str, str] = {
            "WARC-Date": date,
            _H_REQUESTED: page.requested_url,
            _H_REDIRECTS: json.dumps(list(page.redirects)),
            _H_SHA256: digest,
            "WARC-Payload-Digest": f"sha256:{digest}",
        }
        offset = handle.tell()
        if original is not None:
            warc_headers[_H_REFERS] = f"{original.warc_path}:{original.offset}:{original.length}"
            warc_headers["WARC-Profile"] = _REVISIT_PROFILE
            record = writer.create_warc_record(
                page.final_url,
                "revisit",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=http_headers,
                warc_headers_dict=warc_headers,
            )
        else:
            record = writer.create_warc_record(
                page.final_url,
                "response",
                payload=io.BytesIO(page.body),
                length=len(page.body),
                http_headers=http_headers,
                warc_headers_dict=warc_headers,
            )
        writer.write_record(record)
        handle.flush()
        return CaptureRef(
            warc_path=name, offset=offset, length=handle.tell() - offset, sha256=digest
        )

    def _read_record(
        self, ref: CaptureRef
    ) -> tuple[dict[str, str], int, tuple[tuple[str, str], ...], bytes]:
        path = (self.root / ref.warc_path).resolve()
        if self.root.resolve() not in path.parents:
            raise PermanentError(f"capture path escapes the archive: {ref}", kind="archive-missing")
        try:
            handle = path.open("rb")
        except OSError as error:
            raise PermanentError(f"cannot open {path}: {error}", kind="archive-missing") from error
        with handle:
            handle.seek(ref.offset)
            segment = io.BytesIO(handle.read(ref.length))
        try:
            record = next(iter(ArchiveIterator(segment)))
        except StopIteration as error:
            raise PermanentError(f"no WARC record at {ref}", kind="archive-missing") from error
        record_headers = {key: value for key, value in record.rec_headers.headers}
        status = int(record.http_headers.get_statuscode())
        headers = _restored_headers(record.http_headers.headers)
        body = record.raw_stream.read() if record.rec_type == "response" else b""
        return record_headers, status, headers, body


class ReplayFetcher:
    """A `PageFetcher` that answers from the archive instead of the network.

    `lookup(url)` returns the capture to replay for a URL (the store of record knows it) or None,
    in which case a PermanentError(kind="not-archived") is raised.
    """

    def __init__(self, archive: RawArchive, lookup: Callable[[str], CaptureRef | None]) -> None:
        self.archive = archive
        self._lookup = lookup

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        allow_private: bool | None = None,
        purpose: Purpose = "page",
    ) -> RawPage:
        """Return the archived capture for `url`; a 304 page when the validators still match."""
        ref = self._lookup(url)
        if ref is None:
            raise PermanentError(f"{url} is not in the archive", kind="not-archived")
        page = self.archive.load(ref)
        stored_etag = page.header("etag")
        stored_modified = page.header("last-modified")
        if (etag and stored_etag == etag) or (
            last_modified and not etag and stored_modified == last_modified
        ):
            return RawPage(
                requested_url=url,
                final_url=page.final_url,
                status=304,
                headers=page.headers,
                body=b"",
                fetched_at=page.fetched_at,
                redirects=page.redirects,
            )
        return page


def _archived_headers(page: RawPage) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for key, value in page.headers:
        if key in _RENAMED_HEADERS:
            headers.append((_ORIG_PREFIX + key, value))
        else:
            headers.append((key, value))
    headers.append(("content-length", str(len(page.body))))
    return headers


def _restored_headers(stored: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    restored: list[tuple[str, str]] = []
    for key, value in stored:
        lower = key.lower()
        if lower == "content-length":
            continue  # added by the archive for the stored body; the original one was renamed
        if lower.startswith(_ORIG_PREFIX) and lower[len(_ORIG_PREFIX) :] in _RENAMED_HEADERS:
            lower = lower[len(_ORIG_PREFIX) :]
        restored.append((lower, value))
    return tuple(restored)


def _format_warc_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_warc_date(value: str) -> datetime:
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise PermanentError(f"bad WARC-Date {value!r}", kind="archive-corrupt")


def _parse_ref(value: str) -> CaptureRef:
    try:
        name, offset, length = value.rsplit(":", 2)
        return CaptureRef(warc_path=name, offset=int(offset), length=int(length), sha256="")
    except ValueError as error:
        raise PermanentError(f"bad revisit reference {value!r}", kind="archive-corrupt") from error


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
