"""The guarded transport: every connection checked against the address policy, every read bounded.

- the target address is checked after DNS resolution, at connect time, and the connection is made
  to the checked address (private, loopback, link-local, multicast, reserved and metadata
  addresses are refused unless the policy allows them);
- a total deadline per response defeats slow-drip servers (`response_deadline`);
- Content-Encoding is undone with a cap on the inflated size (`BodyDecoder`).
"""

from __future__ import annotations

import contextvars
import ssl
import time
import typing
import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpcore
import httpx

from connectors.http.errors import BadUrlError, DecompressionBombError
from connectors.safety import (
    AddressPolicy,
    ForbiddenAddressError,
    parse_ip_host,
    resolve_safe_addresses,
)
from schemas.errors import PermanentError

__all__ = [
    "BodyDecoder",
    "DeadlineExceededError",
    "ForbiddenConnectError",
    "GuardedTransport",
    "check_url",
    "find_cause",
    "response_deadline",
    "same_host",
    "sent_at",
]

_CHUNK = 64 * 1024

# The deadline (time.monotonic) of the response being read by the current thread, if any.
response_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "deadline", default=None
)


# When the current thread's request was written to the socket (filled in by the stream).
sent_at: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "sent_at", default=None
)


class DeadlineExceededError(httpcore.ReadTimeout):
    """Raised from a socket read once the response's total deadline has passed."""


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads never outlast the current response's total deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = response_deadline.get()
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError("total response deadline exceeded")
            timeout = remaining if timeout is None else min(timeout, remaining)
        try:
            return self._inner.read(max_bytes, timeout)
        except httpcore.ReadTimeout:
            if deadline is not None and time.monotonic() >= deadline - 0.001:
                raise DeadlineExceededError("total response deadline exceeded") from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        sent = sent_at.get()
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
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
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
            raise ForbiddenConnectError(error.message) from error
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
            return DeadlineStream(stream)
        assert last_error is not None
        raise last_error

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class ForbiddenConnectError(httpcore.ConnectError):
    """The connect-time address check refused the host (mapped back to ForbiddenAddressError)."""


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool built on the guarded network backend."""

    def __init__(self, policy: AddressPolicy, *, verify_tls: bool, max_connections: int) -> None:
        super().__init__(trust_env=False, retries=0)
        # httpx offers no public hook for the network backend; its own __init__ builds exactly
        # this pool, so replacing it keeps every other behaviour of the transport.
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify_tls, trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=GuardedBackend(policy),
        )


class BodyDecoder:
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


def same_host(url: str, other: str) -> bool:
    """Whether two URLs name the same host (scheme and port aside)."""
    return (urlsplit(url).hostname or "").lower() == (urlsplit(other).hostname or "").lower()


def check_url(url: str, policy: AddressPolicy) -> None:
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


def find_cause(error: BaseException, wanted: type[BaseException]) -> BaseException | None:
    """The first exception of type `wanted` in the cause/context chain of `error`."""
    current: BaseException | None = error
    for _ in range(20):  # chains are short; the bound guards against cycles
        if current is None:
            return None
        if isinstance(current, wanted):
            return current
        current = current.__cause__ or current.__context__
    return None
