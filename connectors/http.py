"""The polite, safe HTTP fetcher: the only place that talks HTTP to outlets.

What it guarantees for every request (including every redirect hop):
- robots.txt honoured, cached per origin, Crawl-delay / Request-rate widen the host interval;
- a per-host minimum interval and per-host concurrency shared by all work of one `Fetcher`;
- the target address checked after DNS resolution, at connect time, and the connection made to
  the checked address (private, loopback, link-local, multicast, reserved and metadata
  addresses are refused unless the settings allow them);
- connect/read timeouts plus a total deadline per response that defeats slow-drip servers;
- the body size capped while streaming, gzip/deflate inflation capped (decompression bombs);
- a redirect limit with loop detection; content types checked per purpose;
- retries with exponential backoff and jitter on timeouts, connection errors, 429 and 5xx,
  honouring Retry-After (seconds or HTTP date) up to a cap;
- conditional GET (If-None-Match / If-Modified-Since) returning a 304 `RawPage`.

Failures are typed: subclasses of `TransientError` / `PermanentError` with a `kind`.
"""

from __future__ import annotations

import contextvars
import email.utils
import fnmatch
import logging
import math
import random
import ssl
import threading
import time
import typing
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from connectors.robots import (
    ROBOTS_MAX_BYTES,
    RobotsCache,
    RobotsDisallowedError,
    RobotsRules,
    RobotsUnavailableError,
    origin_of,
    parse_robots,
)
from connectors.safety import (
    AddressPolicy,
    ForbiddenAddressError,
    parse_ip_host,
    resolve_safe_addresses,
)
from schemas.errors import MediamonError, PermanentError, TransientError
from schemas.records import RawPage

__all__ = [
    "BadContentTypeError",
    "BadUrlError",
    "ConnectionFailedError",
    "DecompressionBombError",
    "FetchRequest",
    "FetchSettings",
    "FetchTimeoutError",
    "Fetcher",
    "ForbiddenAddressError",
    "HostLimiter",
    "HttpClientError",
    "HttpServerError",
    "PageFetcher",
    "Purpose",
    "RateLimitedError",
    "RedirectLoopError",
    "RobotsDisallowedError",
    "RobotsUnavailableError",
    "TlsError",
    "TooLargeError",
    "TooManyRedirectsError",
    "TooSlowError",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

Purpose = Literal["page", "feed", "sitemap", "robots"]
T = TypeVar("T")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_KINDS = frozenset({"timeout", "connection", "http-429", "http-5xx"})
_CHUNK = 64 * 1024
_PRELOAD = object()  # marks a robots.txt preload task in fetch_many's bookkeeping
_DISPATCH_LEAD = 0.05  # seconds before a host's slot that fetch_many hands its request over

_DEFAULT_ACCEPT: Mapping[str, str] = {
    "page": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
    "feed": "application/rss+xml,application/atom+xml,application/rdf+xml,"
    "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.5",
    "sitemap": "application/xml,text/xml,application/gzip;q=0.9,text/plain;q=0.8,*/*;q=0.5",
    "robots": "text/plain,*/*;q=0.5",
}
# Feeds are often served as text/html or text/plain by misconfigured servers; the feed parser,
# not the fetcher, decides whether such a body is a feed.
_DEFAULT_CONTENT_TYPES: Mapping[str, frozenset[str]] = {
    "page": frozenset({"text/html", "application/xhtml+xml", "text/plain"}),
    "feed": frozenset(
        {
            "application/*xml",
            "text/xml",
            "application/rss+xml",
            "application/atom+xml",
            "application/rdf+xml",
            "text/html",
            "text/plain",
            "application/octet-stream",
            "application/gzip",
            "application/x-gzip",
        }
    ),
    "sitemap": frozenset(
        {
            "application/*xml",
            "text/xml",
            "text/plain",
            "application/gzip",
            "application/x-gzip",
            "application/octet-stream",
        }
    ),
    "robots": frozenset({"*"}),
}


# --- errors -------------------------------------------------------------------------------------


class FetchTimeoutError(TransientError):
    """Connecting or reading timed out."""

    kind = "timeout"


class TooSlowError(TransientError):
    """The response did not complete within the total deadline (slow-drip server)."""

    kind = "too-slow"


class ConnectionFailedError(TransientError):
    """The connection could not be made or broke (DNS, refused, reset, TLS)."""

    kind = "connection"


class TlsError(TransientError):
    """The server's certificate did not verify; not retried at once (an operator must look)."""

    kind = "tls"


class TooLargeError(PermanentError):
    """The body exceeds the size cap."""

    kind = "too-large"


class DecompressionBombError(PermanentError):
    """The body inflates beyond the decompression cap."""

    kind = "decompression-bomb"


class RedirectLoopError(PermanentError):
    """A redirect leads back to a URL already visited in this chain."""

    kind = "redirect-loop"


class TooManyRedirectsError(PermanentError):
    """The redirect chain is longer than allowed."""

    kind = "too-many-redirects"


class BadContentTypeError(PermanentError):
    """The media type does not fit the purpose of the request."""

    kind = "bad-content-type"


class BadUrlError(PermanentError):
    """The URL cannot be fetched at all (scheme, host, syntax)."""

    kind = "bad-url"


class HttpClientError(PermanentError):
    """A 4xx answer (404 and 410 included): retrying will not help."""

    kind = "http-4xx"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(TransientError):
    """429 Too Many Requests; `retry_after` holds the server's wish in seconds, if any."""

    kind = "http-429"

    def __init__(self, message: str, *, status: int = 429, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class HttpServerError(TransientError):
    """A 5xx answer; `retry_after` as for 429 (503 often carries one)."""

    kind = "http-5xx"

    def __init__(self, message: str, *, status: int, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


# --- settings and requests ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Everything the fetcher needs to be polite and safe; one object, no environment reads.

    `default_requests_per_second` and `default_per_host_concurrency` apply to every host without
    its own rate (robots.txt Crawl-delay may only slow a host down, never speed it up).
    `total_timeout` bounds a whole response (headers and body); `max_retry_wait` caps any single
    wait between attempts: a longer Retry-After is returned to the caller as the error instead.
    """

    user_agent: str = "mediamon/0.1 (+https://github.com/mediamon/mediamon; media monitoring)"
    robots_agent: str = "mediamon"
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_body_bytes: int = 16 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024
    max_redirects: int = 5
    allowed_content_types: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(_DEFAULT_CONTENT_TYPES)
    )
    retries: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    jitter: float = 0.5
    max_retry_wait: float = 120.0
    default_requests_per_second: float = 1.0
    default_per_host_concurrency: int = 2
    max_crawl_delay: float = 60.0
    robots_ttl: float = 24 * 3600
    robots_unavailable_ttl: float = 600
    respect_robots: bool = True
    allow_private: bool = False
    allowed_private_hosts: tuple[str, ...] = ()
    allowed_private_networks: tuple[str, ...] = ()
    max_connections: int = 256
    verify_tls: bool = True

    def policy(self, allow_private: bool | None = None) -> AddressPolicy:
        """The address policy, with `allow_private` overriding the settings' own flag if given."""
        return AddressPolicy.build(
            allow_private=self.allow_private if allow_private is None else allow_private,
            allowed_hosts=self.allowed_private_hosts,
            allowed_networks=self.allowed_private_networks,
        )


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One request for `Fetcher.fetch_many` (the keyword arguments of `fetch`, as a value)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    purpose: Purpose = "page"
    accept: str | None = None
    allow_private: bool | None = None


class PageFetcher(Protocol):
    """Anything that turns a URL into a `RawPage`: the live `Fetcher` or an archive replay."""

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
        """Return the response for `url` (status 2xx or 304) or raise a typed MediamonError."""
        ...


# --- per-host politeness ------------------------------------------------------------------------


class HostLimiter:
    """Per-host minimum interval between request starts and a per-host concurrency cap.

    Slots are reserved: `acquire` books the next free start time for the host, then sleeps until
    it, so concurrent callers queue up at exactly one request per interval.
    """

    def __init__(
        self,
        *,
        default_interval: float,
        default_concurrency: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._default_interval = default_interval
        self._default_concurrency = max(1, default_concurrency)
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._next: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._active: dict[str, int] = {}
        self._concurrency: dict[str, int] = {}
        self.on_acquire: contextvars.ContextVar[Callable[[str], None] | None] = (
            contextvars.ContextVar("on_acquire", default=None)
        )

    def interval(self, host: str) -> float:
        """Current minimum interval for `host` in seconds."""
        with self._cond:
            return self._interval.get(host, self._default_interval)

    def set_interval(self, host: str, seconds: float) -> None:
        """Set the minimum interval between request starts for `host`.

        Applies to the slot already booked too: a Crawl-delay read from robots.txt spaces the
        very next request from the robots.txt request itself.
        """
        with self._cond:
            self._interval[host] = max(0.0, seconds)
            last = self._last_start.get(host)
            if last is not None:
                self._next[host] = max(self._next.get(host, 0.0), last + self._interval[host])

    def set_concurrency(self, host: str, limit: int) -> None:
        """Set how many requests to `host` may be in flight at once."""
        with self._cond:
            self._concurrency[host] = max(1, limit)
            self._cond.notify_all()

    def concurrency(self, host: str) -> int:
        """How many requests to `host` may be in flight at once."""
        with self._cond:
            return self._concurrency.get(host, self._default_concurrency)

    def ready_in(self, host: str) -> float:
        """Seconds until a new request to `host` could start (0 when it could start now)."""
        with self._cond:
            if self._active.get(host, 0) >= self._concurrency.get(host, self._default_concurrency):
                return math.inf
            return max(0.0, self._next.get(host, 0.0) - self._clock())

    def defer(self, host: str, seconds: float) -> None:
        """Push the next start for `host` at least `seconds` into the future (429, Retry-After)."""
        with self._cond:
            self._next[host] = max(self._next.get(host, 0.0), self._clock() + seconds)

    def acquire(self, host: str) -> None:
        """Block until a request to `host` may start; pair with `release`."""
        with self._cond:
            limit = self._concurrency.get(host, self._default_concurrency)
            while self._active.get(host, 0) >= limit:
                self._cond.wait()
                limit = self._concurrency.get(host, self._default_concurrency)
            self._active[host] = self._active.get(host, 0) + 1
            now = self._clock()
            start = max(now, self._next.get(host, 0.0))
            self._last_start[host] = start
            self._next[host] = start + self._interval.get(host, self._default_interval)
        hook = self.on_acquire.get()
        if hook is not None:
            hook(host)
        if start > now:
            self._sleep(start - now)

    def mark_sent(self, host: str, sent_at: float) -> None:
        """Record that a request to `host` left at `sent_at`; the next waits a full interval."""
        with self._cond:
            interval = self._interval.get(host, self._default_interval)
            self._next[host] = max(self._next.get(host, 0.0), sent_at + interval)
            self._last_start[host] = max(self._last_start.get(host, 0.0), sent_at)

    def release(self, host: str) -> None:
        """Mark one request to `host` as finished."""
        with self._cond:
            self._active[host] = max(0, self._active.get(host, 0) - 1)
            self._cond.notify_all()


# --- guarded network backend --------------------------------------------------------------------

# The deadline (time.monotonic) of the response being read by the current thread, if any.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


# When the current thread's request was written to the socket (filled in by the stream).
_sent_at: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "sent_at", default=None
)


class _DeadlineExceededError(httpcore.ReadTimeout):
    """Raised from a socket read once the response's total deadline has passed."""


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads never outlast the current response's total deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _deadline.get()
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _DeadlineExceededError("total response deadline exceeded")
            timeout = remaining if timeout is None else min(timeout, remaining)
        try:
            return self._inner.read(max_bytes, timeout)
        except httpcore.ReadTimeout:
            if deadline is not None and time.monotonic() >= deadline - 0.001:
                raise _DeadlineExceededError("total response deadline exceeded") from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        sent = _sent_at.get()
        if sent is not None and not sent:
            sent.append(time.monotonic())
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks every address against the policy, and connects to a checked address."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_safe_addresses(host, port, self._policy)
        except ForbiddenAddressError as error:
            raise _ForbiddenConnectError(error.message) from error
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from error
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
                continue
            return _DeadlineStream(stream)
        assert last_error is not None
        raise last_error

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _ForbiddenConnectError(httpcore.ConnectError):
    """The connect-time address check refused the host (mapped back to ForbiddenAddressError)."""


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool built on the guarded network backend."""

    def __init__(self, policy: AddressPolicy, settings: FetchSettings) -> None:
        super().__init__(trust_env=False, retries=0)
        # httpx offers no public hook for the network backend; its own __init__ builds exactly
        # this pool, so replacing it keeps every other behaviour of the transport.
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=settings.verify_tls, trust_env=False),
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_GuardedBackend(policy),
        )


# --- content decoding ---------------------------------------------------------------------------


class _BodyDecoder:
    """Undo Content-Encoding (gzip, deflate, identity) with a cap on the inflated size."""

    def __init__(self, encoding: str | None, max_bytes: int) -> None:
        codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise PermanentError(f"unsupported Content-Encoding {encoding!r}", kind="bad-encoding")
        self._coding = codings[0] if codings else None
        self._max = max_bytes
        self.total = 0
        self._decoder = self._new_decoder()
        self._first = True

    def _new_decoder(self) -> typing.Any:
        if self._coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        if self._coding == "deflate":
            return zlib.decompressobj(zlib.MAX_WBITS)
        return None

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded pieces of `data`; raise DecompressionBombError past the cap."""
        if self._decoder is None:
            self._count(len(data))
            yield data
            return
        if self._first and self._coding == "deflate" and data:
            self._first = False
            # Some servers send raw deflate without the zlib header RFC 9110 asks for.
            if (data[0] & 0x0F) != 8 or ((data[0] << 8) | (data[1:2] or b"\0")[0]) % 31:
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            while data:
                piece = self._decoder.decompress(data, _CHUNK)
                self._count(len(piece))
                if piece:
                    yield piece
                data = self._decoder.unconsumed_tail
                if self._decoder.eof and self._decoder.unused_data:
                    data = self._decoder.unused_data
                    if self._coding == "deflate" or not data.startswith(b"\x1f\x8b"):
                        break  # trailing garbage after the stream: ignore, as browsers do
                    self._decoder = self._new_decoder()
        except zlib.error as error:
            raise PermanentError(
                f"corrupt {self._coding} body: {error}", kind="bad-encoding"
            ) from error

    def _count(self, size: int) -> None:
        self.total += size
        if self.total > self._max:
            raise DecompressionBombError(f"body inflates beyond {self._max} bytes")


# --- the fetcher --------------------------------------------------------------------------------


class Fetcher:
    """Live HTTP fetcher; thread-safe; one instance per run so politeness state is shared."""

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings or FetchSettings()
        self._sleep = sleep
        self._now = clock
        self._random = random.Random()
        rps = self.settings.default_requests_per_second
        self.limiter = HostLimiter(
            default_interval=1.0 / rps if rps > 0 else 0.0,
            default_concurrency=self.settings.default_per_host_concurrency,
        )
        self.robots = RobotsCache(
            ttl_seconds=self.settings.robots_ttl,
            unavailable_ttl_seconds=self.settings.robots_unavailable_ttl,
        )
        self._clients: dict[bool, httpx.Client] = {}
        self._clients_lock = threading.Lock()

    # lifecycle
    def close(self) -> None:
        """Close pooled connections."""
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # politeness configuration
    def set_host_rate(self, url_or_host: str, requests_per_second: float) -> None:
        """Set the request rate for one host (e.g. an outlet's own registry setting).

        Accepts a URL or a "host[:port]" key; robots.txt Crawl-delay can still only slow it down.
        """
        key = _host_key(url_or_host) if "://" in url_or_host else url_or_host.lower()
        interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.limiter.set_interval(key, interval)
        scheme = url_or_host.split("://", 1)[0] if "://" in url_or_host else "http"
        rules = self.robots.peek(origin_of(f"{scheme}://{key}"))
        if rules is not None:
            self._apply_crawl_delay(origin_of(f"{scheme}://{key}"), rules)

    # fetching
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
        """Fetch `url` politely and safely; return a RawPage with status 2xx or 304.

        Retries transient failures (timeouts, connection errors, 429, 5xx) with exponential
        backoff and jitter, honouring Retry-After up to `max_retry_wait`. Raises a subclass of
        TransientError or PermanentError (see the module docstring for the kinds).
        """
        attempt = 0
        while True:
            try:
                return self._fetch_chain(
                    url,
                    etag=etag,
                    last_modified=last_modified,
                    accept=accept,
                    allow_private=allow_private,
                    purpose=purpose,
                )
            except TransientError as error:
                if error.kind not in _RETRYABLE_KINDS or attempt >= self.settings.retries:
                    raise
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise
                logger.info(
                    "retrying %s in %.2fs after %s (attempt %d)",
                    url,
                    delay,
                    error.kind,
                    attempt + 1,
                )
                self._sleep(delay)
                attempt += 1

    def fetch_many(
        self,
        requests: Iterable[T],
        *,
        max_workers: int = 16,
        url_of: Callable[[T], str] | None = None,
        options_of: Callable[[T], Mapping[str, Any]] | None = None,
        give_up: Callable[[T], bool] | None = None,
    ) -> Iterator[tuple[T, RawPage | MediamonError]]:
        """Fetch many URLs concurrently; yield (item, page or typed error) as they complete.

        `give_up(item)`, asked when an item's turn comes, drops it unfetched and unyielded (a
        time budget that ran out: the caller leaves it for the next run).

        Items are `FetchRequest`s (or plain URL strings), or anything with `url_of(item)` giving
        its URL and `options_of(item)` giving `fetch` keyword arguments (etag, last_modified,
        accept, allow_private, purpose) plus an optional `requests_per_second` for its host.

        Requests to the same host wait for that host's rate limit and concurrency slot; the
        dispatcher only hands a worker a request whose host is ready, so idle hosts never hold
        workers and many hosts proceed in parallel. Never raises for a single request's failure.
        """
        queues: dict[str, deque[tuple[T, FetchRequest]]] = {}
        configured: set[str] = set()
        for item in requests:
            request, rate = _as_request(item, url_of, options_of)
            host = _host_key(request.url)
            if rate is not None and host not in configured:
                configured.add(host)
                self.set_host_rate(request.url, rate)
            queues.setdefault(host, deque()).append((item, request))
        inflight: dict[str, int] = {}
        launching: set[str] = set()
        lock = threading.Lock()
        woken = threading.Event()

        def mark_started(host: str) -> None:
            with lock:
                launching.discard(host)
            woken.set()

        def run(request: FetchRequest, host: str) -> RawPage | MediamonError:
            token = self.limiter.on_acquire.set(mark_started)
            try:
                return self._fetch_request(request)
            finally:
                self.limiter.on_acquire.reset(token)
                mark_started(host)

        def load_robots(request: FetchRequest, host: str) -> None:
            token = self.limiter.on_acquire.set(mark_started)
            try:
                self.robots_rules(request.url, allow_private=request.allow_private)
            except MediamonError:
                pass  # not cached: the host's first real request meets the error and reports it
            finally:
                self.limiter.on_acquire.reset(token)
                mark_started(host)

        # Hosts whose robots.txt is not known yet get it fetched as a task of its own first, so
        # that no worker sleeps through the host's interval between robots.txt and the first
        # page while other hosts wait for a worker.
        needs_robots = {
            host
            for host, entries in queues.items()
            if self.settings.respect_robots
            and entries[0][1].purpose != "robots"
            and self.robots.peek(origin_of(entries[0][1].url)) is None
        }
        pending: dict[Future[Any], tuple[Any, str]] = {}
        order = deque(queues)
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fetch") as pool:
            while order or pending:
                next_wake = math.inf
                for _ in range(len(order)):
                    if len(pending) >= max_workers:
                        break
                    host = order[0]
                    order.rotate(-1)
                    with lock:
                        busy = host in launching
                    if busy or inflight.get(host, 0) >= self.limiter.concurrency(host):
                        continue
                    if give_up is not None:
                        waiting = queues[host]
                        while waiting and give_up(waiting[0][0]):
                            waiting.popleft()
                        if not waiting:
                            del queues[host]
                            order.remove(host)
                            needs_robots.discard(host)
                            continue
                    # Hand the request over a little before its slot: the worker sleeps the
                    # rest inside `acquire`, so dispatch latency never delays the host's slot.
                    ready_in = self.limiter.ready_in(host)
                    lead = min(_DISPATCH_LEAD, self.limiter.interval(host) / 2)
                    if ready_in > lead:
                        next_wake = min(next_wake, ready_in - lead)
                        continue
                    with lock:
                        launching.add(host)
                    inflight[host] = inflight.get(host, 0) + 1
                    if host in needs_robots:
                        needs_robots.discard(host)
                        first = queues[host][0][1]
                        pending[pool.submit(load_robots, first, host)] = (_PRELOAD, host)
                        continue
                    item, request = queues[host].popleft()
                    if not queues[host]:
                        del queues[host]
                        order.remove(host)
                    pending[pool.submit(run, request, host)] = (item, host)
                with lock:
                    if launching:
                        next_wake = min(next_wake, 0.005)
                timeout = None if math.isinf(next_wake) else next_wake
                if not pending:
                    woken.clear()
                    woken.wait(timeout if timeout is not None else 0.05)
                    continue
                woken.clear()
                done, _ = wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    entry, host = pending.pop(future)
                    inflight[host] -= 1
                    if entry is not _PRELOAD:
                        yield entry, future.result()

    def robots_rules(self, url: str, *, allow_private: bool | None = None) -> RobotsRules:
        """The robots.txt rules for the origin of `url` (loaded and cached on first use)."""
        return self.robots.get(
            origin_of(url), lambda origin: self._load_robots(origin, allow_private)
        )

    # internals
    def _fetch_request(self, request: FetchRequest) -> RawPage | MediamonError:
        try:
            return self.fetch(
                request.url,
                etag=request.etag,
                last_modified=request.last_modified,
                accept=request.accept,
                allow_private=request.allow_private,
                purpose=request.purpose,
            )
        except MediamonError as error:
            return error
        except Exception as error:  # a bug must not take the other requests down with it
            logger.exception("unexpected failure fetching %s", request.url)
            return PermanentError(f"unexpected {type(error).__name__}: {error}", kind="internal")

    def _retry_delay(self, error: TransientError, attempt: int) -> float | None:
        retry_after: float | None = getattr(error, "retry_after", None)
        backoff = min(self.settings.backoff_cap, self.settings.backoff_base * (2**attempt))
        jitter = 1.0 + self._random.uniform(-self.settings.jitter, self.settings.jitter)
        delay = max(0.0, backoff * jitter)
        if retry_after is not None:
            if retry_after > self.settings.max_retry_wait:
                return None  # the server asks for more patience than a run has: report it
            delay = max(delay, retry_after)
        return float(min(delay, self.settings.max_retry_wait))

    def _client(self, allow_private: bool) -> httpx.Client:
        with self._clients_lock:
            client = self._clients.get(allow_private)
            if client is None:
                settings = self.settings
                client = httpx.Client(
                    transport=_GuardedTransport(settings.policy(allow_private), settings),
                    timeout=httpx.Timeout(
                        connect=settings.connect_timeout,
                        read=settings.read_timeout,
                        write=settings.read_timeout,
                        pool=settings.total_timeout,
                    ),
                    follow_redirects=False,
                    trust_env=False,
                    headers={"User-Agent": settings.user_agent},
                )
                self._clients[allow_private] = client
            return client

    def _fetch_chain(
        self,
        url: str,
        *,
        etag: str | None,
        last_modified: str | None,
        accept: str | None,
        allow_private: bool | None,
        purpose: Purpose,
    ) -> RawPage:
        granted = self.settings.allow_private if allow_private is None else allow_private
        current = url
        visited = [url]
        for _hop in range(self.settings.max_redirects + 1):
            # A per-request permission covers the requested host only: a redirect from a trusted
            # private host to another private host (or the metadata service) must stay refused.
            private = granted if _same_host(current, url) else self.settings.allow_private
            _check_url(current, self.settings.policy(private))
            if purpose != "robots" and self.settings.respect_robots:
                rules = self.robots_rules(current, allow_private=private)
                if not rules.can_fetch(current, self.settings.robots_agent):
                    if rules.disallow_all:
                        raise RobotsUnavailableError(
                            f"not fetching {current}: {rules.reason}, retry later"
                        )
                    raise RobotsDisallowedError(
                        f"robots.txt of {origin_of(current)} disallows {current}"
                        + (f" ({rules.reason})" if rules.reason else "")
                    )
            headers = {"Accept": accept or _DEFAULT_ACCEPT[purpose]}
            headers["Accept-Encoding"] = "gzip, deflate"
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            status, location, page = self._request_once(
                current, url, tuple(visited[:-1]), headers, private, purpose
            )
            if page is not None:
                return page
            assert location is not None
            target = urljoin(current, location)
            if target in visited:
                raise RedirectLoopError(
                    f"redirect loop: {current} -> {target} (chain {' -> '.join(visited)})"
                )
            logger.debug("redirect %d %s -> %s", status, current, target)
            visited.append(target)
            current = target
        raise TooManyRedirectsError(f"more than {self.settings.max_redirects} redirects from {url}")

    def _request_once(
        self,
        url: str,
        requested_url: str,
        redirects: tuple[str, ...],
        headers: Mapping[str, str],
        private: bool,
        purpose: Purpose,
    ) -> tuple[int, str | None, RawPage | None]:
        """One HTTP exchange: (status, redirect location, None) or (status, None, page)."""
        host = _host_key(url)
        settings = self.settings
        # Built before the slot is taken so the first request's setup (CA bundle loading) does
        # not eat into the interval the server observes.
        client = self._client(private)
        self.limiter.acquire(host)
        token = _deadline.set(time.monotonic() + settings.total_timeout)
        sent: list[float] = []
        sent_token = _sent_at.set(sent)
        try:
            try:
                with client.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status in _REDIRECT_STATUSES:
                        location = response.headers.get("location")
                        if location:
                            return status, location.strip(), None
                        raise PermanentError(f"{status} without Location at {url}", kind="http-3xx")
                    self._raise_for_status(response, url, host)
                    response_headers = tuple(
                        (key.lower(), value) for key, value in response.headers.multi_items()
                    )
                    if status == 304:
                        body = b""
                    else:
                        _check_content_type(response, url, settings, purpose)
                        body = self._read_body(response, url, purpose)
                    fetched_at = self._now()
            except httpx.TimeoutException as error:
                if _find_cause(error, _DeadlineExceededError) is not None:
                    raise TooSlowError(
                        f"{url} did not complete within {settings.total_timeout}s"
                    ) from error
                raise FetchTimeoutError(f"timeout fetching {url}: {error!r}") from error
            except httpx.ConnectError as error:
                refused = _find_cause(error, _ForbiddenConnectError)
                if refused is not None:
                    raise ForbiddenAddressError(str(refused)) from error
                if _find_cause(error, ssl.SSLCertVerificationError) is not None:
                    raise TlsError(f"certificate of {url} not trusted: {error}") from error
                raise ConnectionFailedError(f"cannot connect to {url}: {error}") from error
            except httpx.InvalidURL as error:
                raise BadUrlError(f"invalid URL {url!r}: {error}") from error
            except (httpx.TransportError, httpx.DecodingError) as error:
                raise ConnectionFailedError(
                    f"transfer of {url} failed: {type(error).__name__}: {error}"
                ) from error
        finally:
            _deadline.reset(token)
            _sent_at.reset(sent_token)
            if sent:
                # Space the next request from when this one really left (connection set-up
                # or a busy interpreter can delay it past its booked slot).
                self.limiter.mark_sent(host, sent[0])
            self.limiter.release(host)
        page = RawPage(
            requested_url=requested_url,
            final_url=url,
            status=status,
            headers=response_headers,
            body=body,
            fetched_at=fetched_at,
            redirects=redirects,
        )
        return status, None, page

    def _raise_for_status(self, response: httpx.Response, url: str, host: str) -> None:
        status = response.status_code
        if 200 <= status < 300 or status == 304:
            return
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=self._now())
        if status == 429:
            self.limiter.defer(host, min(retry_after or 0.0, self.settings.max_retry_wait))
            raise RateLimitedError(f"429 Too Many Requests from {url}", retry_after=retry_after)
        if status == 408:
            raise FetchTimeoutError(f"408 Request Timeout from {url}")
        if status >= 500:
            if retry_after:
                self.limiter.defer(host, min(retry_after, self.settings.max_retry_wait))
            raise HttpServerError(f"{status} from {url}", status=status, retry_after=retry_after)
        if 400 <= status < 500:
            raise HttpClientError(f"{status} from {url}", status=status)
        raise PermanentError(f"unexpected status {status} from {url}", kind="http-status")

    def _read_body(self, response: httpx.Response, url: str, purpose: Purpose) -> bytes:
        settings = self.settings
        cap = ROBOTS_MAX_BYTES if purpose == "robots" else settings.max_body_bytes
        declared = response.headers.get("content-length")
        too_long = declared is not None and declared.strip().isdigit() and int(declared) > cap
        if purpose != "robots" and too_long:
            raise TooLargeError(f"{url} declares {declared} bytes, more than {cap}")
        decoder = _BodyDecoder(
            response.headers.get("content-encoding"), settings.max_decompressed_bytes
        )
        raw_size = 0
        parts: list[bytes] = []
        deadline = _deadline.get()
        for chunk in response.iter_raw():
            raw_size += len(chunk)
            if raw_size > cap:
                if purpose == "robots":
                    break  # read only the first 500 KiB, like Google
                raise TooLargeError(f"{url} body exceeds {cap} bytes")
            parts.extend(decoder.feed(chunk))
            if deadline is not None and time.monotonic() > deadline:
                raise TooSlowError(f"{url} did not complete within {settings.total_timeout}s")
        return b"".join(parts)

    def _load_robots(self, origin: str, allow_private: bool | None) -> RobotsRules:
        robots_url = origin + "/robots.txt"
        try:
            page = self._fetch_chain(
                robots_url,
                etag=None,
                last_modified=None,
                accept=None,
                allow_private=allow_private,
                purpose="robots",
            )
        except HttpClientError as error:
            rules = parse_robots(origin, error.status, b"")
        except (HttpServerError, RateLimitedError) as error:
            rules = parse_robots(origin, error.status, b"")
        except (ForbiddenAddressError, BadUrlError, TransientError):
            raise  # the host itself is unreachable or refused: not a fact about its robots.txt
        except PermanentError as error:
            # A redirect loop, a bad content type or an oversized robots.txt says nothing about
            # the rules; treat it like a missing file (Google does the same for most of these).
            logger.info("robots.txt of %s unusable: %s", origin, error.kind)
            rules = parse_robots(origin, 404, b"")
        else:
            rules = parse_robots(origin, page.status, page.body)
        self._apply_crawl_delay(origin, rules)
        return rules

    def _apply_crawl_delay(self, origin: str, rules: RobotsRules) -> None:
        delay = rules.delay(self.settings.robots_agent)
        if delay is None:
            return
        host = _host_key(origin)
        wanted = min(delay, self.settings.max_crawl_delay)
        if wanted > self.limiter.interval(host):
            self.limiter.set_interval(host, wanted)


# --- helpers ------------------------------------------------------------------------------------


def _as_request(
    item: Any,
    url_of: Callable[[Any], str] | None,
    options_of: Callable[[Any], Mapping[str, Any]] | None,
) -> tuple[FetchRequest, float | None]:
    """Turn one `fetch_many` item into a FetchRequest and its host's requested rate, if any."""
    if url_of is None and isinstance(item, FetchRequest):
        return item, None
    if url_of is None and isinstance(item, str):
        url = item
    elif url_of is not None:
        url = url_of(item)
    else:
        raise TypeError(f"fetch_many needs url_of for items of type {type(item).__name__}")
    options = dict(options_of(item)) if options_of is not None else {}
    rate = options.pop("requests_per_second", None)
    unknown = set(options) - {"etag", "last_modified", "accept", "allow_private", "purpose"}
    if unknown:
        raise TypeError(f"unknown fetch options {sorted(unknown)}")
    return FetchRequest(url=url, **options), (float(rate) if rate else None)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def _same_host(url: str, other: str) -> bool:
    """Whether two URLs name the same host (scheme and port aside)."""
    return (urlsplit(url).hostname or "").lower() == (urlsplit(other).hostname or "").lower()


def _host_key(url: str) -> str:
    """host[:port] of `url`: the unit of politeness (distinct ports are distinct servers)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    return f"{host}:{port}" if port is not None else host


def _check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse non-http(s) URLs and IP-literal hosts the policy forbids (in any notation)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as error:
        raise BadUrlError(f"invalid URL {url!r}: {error}") from error
    if parts.scheme not in ("http", "https"):
        raise BadUrlError(f"refusing scheme {parts.scheme!r} in {url!r}")
    host = parts.hostname
    if not host:
        raise BadUrlError(f"no host in {url!r}")
    if parts.username or parts.password:
        raise BadUrlError(f"credentials in URL {url!r}")
    if parse_ip_host(host) is not None:
        # Literal addresses (decimal/octal/hex too) are judged here, before httpx normalises
        # or rejects the notation; names are judged at connect time after resolution.
        resolve_safe_addresses(host, parts.port or 0, policy)


def _check_content_type(
    response: httpx.Response, url: str, settings: FetchSettings, purpose: Purpose
) -> None:
    value = response.headers.get("content-type")
    if not value:
        return  # undeclared: the parser sniffs
    media_type = value.split(";", 1)[0].strip().lower()
    allowed = settings.allowed_content_types.get(purpose, frozenset({"*"}))
    if any(fnmatch.fnmatchcase(media_type, pattern) for pattern in allowed):
        return
    raise BadContentTypeError(f"{url} is {media_type}, not acceptable for a {purpose}")


def _find_cause(error: BaseException, wanted: type[BaseException]) -> BaseException | None:
    """The first exception of type `wanted` in the cause/context chain of `error`."""
    current: BaseException | None = error
    for _ in range(20):  # chains are short; the bound guards against cycles
        if current is None:
            return None
        if isinstance(current, wanted):
            return current
        current = current.__cause__ or current.__context__
    return None
