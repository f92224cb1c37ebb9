"""The fetcher's typed failures, each named for what a caller should do with it.

`TransientError` subclasses are worth another attempt later; `PermanentError` subclasses are
recorded and the caller moves on. `RETRY_AT_ONCE` names the failures the fetcher itself retries
within one call (with backoff); the others go back to the caller at once.
"""

from __future__ import annotations

from connectors.robots import RobotsDisallowedError, RobotsUnavailableError
from connectors.safety import ForbiddenAddressError
from schemas.errors import PermanentError, TransientError

__all__ = [
    "RETRY_AT_ONCE",
    "BadContentTypeError",
    "BadUrlError",
    "ConnectionFailedError",
    "DecompressionBombError",
    "FetchTimeoutError",
    "ForbiddenAddressError",
    "HttpClientError",
    "HttpServerError",
    "RateLimitedError",
    "RedirectLoopError",
    "RobotsDisallowedError",
    "RobotsUnavailableError",
    "TlsError",
    "TooLargeError",
    "TooManyRedirectsError",
    "TooSlowError",
]


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


# Failures a second attempt a few seconds later may well fix. Not `TooSlowError` (a slow-drip
# server stays slow), not `TlsError` (an operator must look), not `RobotsUnavailableError` (its
# verdict is cached for a while): those go back to the caller, whose retry comes much later.
RETRY_AT_ONCE: tuple[type[TransientError], ...] = (
    FetchTimeoutError,
    ConnectionFailedError,
    RateLimitedError,
    HttpServerError,
)
