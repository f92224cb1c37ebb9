"""robots.txt rules, interpreted as Google documents them, cached per origin.

- 2xx: the file's rules apply (parsed by protego, which also reads Crawl-delay, Request-rate and
  Sitemap lines).
- 4xx (incl. 401/403/404): no restrictions (there is no robots.txt to honour).
- 5xx: assume complete disallow for a short while (a transient "robots-unavailable"), then ask
  again. An unreachable host is reported as the connection error it is, and not cached.

The fetcher loads the file itself (through its own safety checks and caps) and hands status and
body to `parse_robots`; `RobotsCache` makes sure concurrent workers load each origin once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from schemas.errors import PermanentError, TransientError

__all__ = [
    "ROBOTS_MAX_BYTES",
    "RobotsCache",
    "RobotsDisallowedError",
    "RobotsRules",
    "RobotsUnavailableError",
    "origin_of",
    "parse_robots",
]

# Google reads the first 500 KiB of a robots.txt and ignores the rest.
ROBOTS_MAX_BYTES = 500 * 1024


class RobotsDisallowedError(PermanentError):
    """robots.txt of the host disallows the URL for our user agent."""

    kind = "robots-disallowed"


class RobotsUnavailableError(TransientError):
    """robots.txt answered 5xx: Google's rule is to crawl nothing there until it recovers."""

    kind = "robots-unavailable"


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """The robots.txt verdicts for one origin (scheme://host:port)."""

    origin: str
    parser: Protego | None = None
    disallow_all: bool = False
    reason: str = ""

    def can_fetch(self, url: str, agent: str) -> bool:
        """True when `agent` may fetch `url` (the robots.txt URL itself is always allowed)."""
        if urlsplit(url).path == "/robots.txt":
            return True
        if self.disallow_all:
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, agent))

    def delay(self, agent: str) -> float | None:
        """Seconds to wait between requests asked by Crawl-delay or Request-rate, if any."""
        if self.parser is None:
            return None
        delays: list[float] = []
        crawl_delay = self.parser.crawl_delay(agent)
        if crawl_delay:
            delays.append(float(crawl_delay))
        rate = self.parser.request_rate(agent)
        if rate is not None and rate.requests:
            delays.append(float(rate.seconds) / float(rate.requests))
        return max(delays) if delays else None

    @property
    def sitemaps(self) -> tuple[str, ...]:
        """Sitemap URLs the file announces."""
        return tuple(self.parser.sitemaps) if self.parser is not None else ()


def origin_of(url: str) -> str:
    """scheme://host[:port] of `url`, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme}://{host}{suffix}"


def parse_robots(origin: str, status: int | None, body: bytes) -> RobotsRules:
    """Interpret a robots.txt response (`status` None means unreachable) as rules for `origin`."""
    if status is None or status >= 500 or status == 429:
        return RobotsRules(origin, disallow_all=True, reason=f"robots.txt unavailable ({status})")
    if status >= 400:
        return RobotsRules(origin, reason=f"no robots.txt ({status})")
    text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
    return RobotsRules(origin, parser=Protego.parse(text))


class RobotsCache:
    """Per-origin robots rules with a time to live; one load per origin even under concurrency."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 24 * 3600,
        unavailable_ttl_seconds: float = 600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._unavailable_ttl = unavailable_ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, RobotsRules]] = {}
        self._loading: dict[str, threading.Lock] = {}

    def get(self, origin: str, load: Callable[[str], RobotsRules]) -> RobotsRules:
        """Return cached rules for `origin`, calling `load(origin)` when missing or expired."""
        cached = self._fresh(origin)
        if cached is not None:
            return cached
        with self._lock:
            origin_lock = self._loading.setdefault(origin, threading.Lock())
        with origin_lock:
            cached = self._fresh(origin)
            if cached is not None:
                return cached
            rules = load(origin)
            ttl = self._unavailable_ttl if rules.disallow_all else self._ttl
            with self._lock:
                self._entries[origin] = (self._clock() + ttl, rules)
            return rules

    def peek(self, origin: str) -> RobotsRules | None:
        """Cached rules for `origin` if fresh, without loading."""
        return self._fresh(origin)

    def _fresh(self, origin: str) -> RobotsRules | None:
        with self._lock:
            entry = self._entries.get(origin)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None
