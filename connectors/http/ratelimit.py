"""Per-host politeness: the minimum interval and concurrency per host, and Retry-After.

A host is `host[:port]` (distinct ports are distinct servers). Every request of one `Fetcher`
goes through one `HostLimiter`, so all workers of a run share each host's budget.
"""

from __future__ import annotations

import contextvars
import email.utils
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

__all__ = ["HostLimiter", "host_key", "parse_retry_after"]


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

    def concurrency(self, host: str) -> int:
        """How many requests to `host` may be in flight at once (the same for every host)."""
        return self._default_concurrency

    def ready_in(self, host: str) -> float:
        """Seconds until a new request to `host` could start (0 when it could start now)."""
        with self._cond:
            if self._active.get(host, 0) >= self._default_concurrency:
                return math.inf
            return max(0.0, self._next.get(host, 0.0) - self._clock())

    def defer(self, host: str, seconds: float) -> None:
        """Push the next start for `host` at least `seconds` into the future (429, Retry-After)."""
        with self._cond:
            self._next[host] = max(self._next.get(host, 0.0), self._clock() + seconds)

    def acquire(self, host: str) -> None:
        """Block until a request to `host` may start; pair with `release`."""
        with self._cond:
            while self._active.get(host, 0) >= self._default_concurrency:
                self._cond.wait()
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


def host_key(url: str) -> str:
    """host[:port] of `url`: the unit of politeness (distinct ports are distinct servers)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    return f"{host}:{port}" if port is not None else host
