"""HTTP to outlets, one module per job.

- `errors`: the typed failures (transient or permanent, and which the fetcher retries at once);
- `ratelimit`: per-host interval and concurrency, Retry-After;
- `transport`: the guarded connection (address policy after DNS, total deadline, inflation cap);
- `fetcher`: `Fetcher` (robots.txt, redirects, content types, retries, conditional GET,
  concurrent `fetch_many`) and the `PageFetcher` protocol a replay from the archive also meets.
"""

from connectors.http.errors import (
    BadContentTypeError,
    BadUrlError,
    ConnectionFailedError,
    DecompressionBombError,
    FetchTimeoutError,
    ForbiddenAddressError,
    HttpClientError,
    HttpServerError,
    RateLimitedError,
    RedirectLoopError,
    RobotsDisallowedError,
    RobotsUnavailableError,
    TlsError,
    TooLargeError,
    TooManyRedirectsError,
    TooSlowError,
)
from connectors.http.fetcher import Fetcher, FetchRequest, FetchSettings, PageFetcher, Purpose
from connectors.http.ratelimit import HostLimiter, parse_retry_after

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
