"""The polite, safe HTTP fetcher: the only place that talks HTTP to outlets.

What it guarantees for every request (including every redirect hop):
- robots.txt honoured, cached per origin, Crawl-delay / Request-rate widen the host interval;
- a per-host minimum interval and per-host concurrency shared by all work of one `Fetcher`
  (`connectors.http.ratelimit`);
- the target address checked after DNS resolution, at connect time, and the connection made to
  the checked address; connect/read timeouts plus a total deadline per response; the body size
  capped while streaming, gzip/deflate inflation capped (`connectors.http.transport`);
- a redirect limit with loop detection; content types checked per purpose;
- retries with exponential backoff and jitter on the failures in `RETRY_AT_ONCE` (timeouts,
  connection errors, 429 and 5xx), honouring Retry-After (seconds or HTTP date) up to a cap;
- conditional GET (If-None-Match / If-Modified-Since) returning a 304 `RawPage`.

Failures are typed (`connectors.http.errors`).
"""

from __future__ import annotations

import fnmatch
import logging
import math
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urljoin

import httpx

from connectors.http.errors import (
    RETRY_AT_ONCE,
    BadContentTypeError,
    BadUrlError,
    ConnectionFailedError,
    FetchTimeoutError,
    HttpClientError,
    HttpServerError,
    RateLimitedError,
    RedirectLoopError,
    TlsError,
    TooLargeError,
    TooManyRedirectsError,
    TooSlowError,
)
from connectors.http.ratelimit import HostLimiter, host_key, parse_retry_after
from connectors.http.transport import (
    BodyDecoder,
    DeadlineExceededError,
    ForbiddenConnectError,
    GuardedTransport,
    check_url,
    find_cause,
    response_deadline,
    same_host,
    sent_at,
)
from connectors.robots import (
    ROBOTS_MAX_BYTES,
    RobotsCache,
    RobotsDisallowedError,
    RobotsRules,
    RobotsUnavailableError,
    origin_of,
    parse_robots,
)
from connectors.safety import AddressPolicy, ForbiddenAddressError
from schemas.errors import MediamonError, PermanentError, TransientError
from schemas.records import RawPage

__all__ = ["FetchRequest", "FetchSettings", "Fetcher", "PageFetcher", "Purpose"]

logger = logging.getLogger(__name__)

Purpose = Literal["page", "feed", "sitemap", "robots"]
T = TypeVar("T")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
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
        key = host_key(url_or_host) if "://" in url_or_host else url_or_host.lower()
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
                if not isinstance(error, RETRY_AT_ONCE) or attempt >= self.settings.retries:
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
            host = host_key(request.url)
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
                    transport=GuardedTransport(
                        settings.policy(allow_private),
                        verify_tls=settings.verify_tls,
                        max_connections=settings.max_connections,
                    ),
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
            private = granted if same_host(current, url) else self.settings.allow_private
            check_url(current, self.settings.policy(private))
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
        host = host_key(url)
        settings = self.settings
        # Built before the slot is taken so the first request's setup (CA bundle loading) does
        # not eat into the interval the server observes.
        client = self._client(private)
        self.limiter.acquire(host)
        token = response_deadline.set(time.monotonic() + settings.total_timeout)
        sent: list[float] = []
        sent_token = sent_at.set(sent)
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
                if find_cause(error, DeadlineExceededError) is not None:
                    raise TooSlowError(
                        f"{url} did not complete within {settings.total_timeout}s"
                    ) from error
                raise FetchTimeoutError(f"timeout fetching {url}: {error!r}") from error
            except httpx.ConnectError as error:
                refused = find_cause(error, ForbiddenConnectError)
                if refused is not None:
                    raise ForbiddenAddressError(str(refused)) from error
                if find_cause(error, ssl.SSLCertVerificationError) is not None:
                    raise TlsError(f"certificate of {url} not trusted: {error}") from error
                raise ConnectionFailedError(f"cannot connect to {url}: {error}") from error
            except httpx.InvalidURL as error:
                raise BadUrlError(f"invalid URL {url!r}: {error}") from error
            except (httpx.TransportError, httpx.DecodingError) as error:
                raise ConnectionFailedError(
                    f"transfer of {url} failed: {type(error).__name__}: {error}"
                ) from error
        finally:
            response_deadline.reset(token)
            sent_at.reset(sent_token)
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
        decoder = BodyDecoder(
            response.headers.get("content-encoding"), settings.max_decompressed_bytes
        )
        raw_size = 0
        parts: list[bytes] = []
        deadline = response_deadline.get()
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
        host = host_key(origin)
        wanted = min(delay, self.settings.max_crawl_delay)
        if wanted > self.limiter.interval(host):
            self.limiter.set_interval(host, wanted)


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
