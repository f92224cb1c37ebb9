"""Address checks that keep the fetcher away from private networks (SSRF defence).

A URL from a feed or a redirect is attacker-controlled: it may name a loopback, private, link-local
or cloud-metadata address directly, in a disguised form (decimal ``http://2130706433/``, octal
``0177.0.0.1``, hex ``0x7f.1``, IPv4-mapped IPv6 ``[::ffff:127.0.0.1]``), or through a host name
that resolves there. `check_address` judges one resolved address; `resolve_safe_addresses`
resolves a host and refuses it if *any* address is forbidden. The fetcher calls the latter at
connect time and connects to the very addresses it checked, so DNS rebinding between the check
and the connection cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from schemas.errors import PermanentError

__all__ = [
    "METADATA_ADDRESSES",
    "AddressPolicy",
    "ForbiddenAddressError",
    "check_address",
    "parse_ip_host",
    "resolve_safe_addresses",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# Cloud instance-metadata endpoints: refused even when private addresses are allowed, unless an
# allowed network names them explicitly (AWS, GCP, Azure, OpenStack use 169.254.169.254; AWS
# IPv6 uses fd00:ec2::254; Alibaba 100.100.100.200).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
# Ranges that `ipaddress`'s is_private/is_reserved flags do not cover but that never host a
# public news site: carrier-grade NAT and the IPv6 NAT64 / 6to4 forms that embed IPv4.
_EXTRA_FORBIDDEN: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
)


class ForbiddenAddressError(PermanentError):
    """The URL's host is (or resolves to) an address the settings do not allow."""

    kind = "forbidden-address"


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which non-public addresses may be reached.

    `allow_private` opens every private/loopback/link-local address except metadata endpoints;
    `allowed_hosts` opens named hosts (compared lower-case, as written in the URL);
    `allowed_networks` opens address ranges (e.g. ``127.0.0.1/32`` for the demo).
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        allow_private: bool = False,
        allowed_hosts: Iterable[str] = (),
        allowed_networks: Iterable[str] = (),
    ) -> AddressPolicy:
        """Build a policy from plain strings (host names, CIDR networks or single addresses)."""
        return cls(
            allow_private=allow_private,
            allowed_hosts=frozenset(host.lower().rstrip(".") for host in allowed_hosts),
            allowed_networks=tuple(
                ipaddress.ip_network(network, strict=False) for network in allowed_networks
            ),
        )


def parse_ip_host(host: str) -> IPAddress | None:
    """Return the address a URL host denotes if it is an IP literal in any form, else None.

    Accepts dotted decimal, the shorthand/decimal/octal/hex forms that `inet_aton` (and so the
    connecting socket) accepts, bracketed IPv6 and IPv6 zone identifiers.
    """
    value = host.strip().strip("[]").rstrip(".")
    if not value:
        return None
    if "%" in value:
        value = value.split("%", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        pass
    if all(ch in "0123456789abcdefxABCDEFX." for ch in value) and value[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(value))
        except OSError:
            return None
    return None


def check_address(address: IPAddress, policy: AddressPolicy, *, host: str = "") -> str | None:
    """Return why `address` is forbidden under `policy`, or None when it may be reached."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = check_address(embedded, policy, host=host)
            if reason is not None:
                return f"{reason} (embedded in {address})"
    if any(address in network for network in policy.allowed_networks):
        return None
    if host and host.lower().rstrip(".") in policy.allowed_hosts:
        return None if address not in METADATA_ADDRESSES else f"{address} is a metadata endpoint"
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata endpoint"
    category = _category(address)
    if category is None:
        return None
    if policy.allow_private and category in ("private", "loopback", "link-local"):
        return None
    return f"{address} is a {category} address"


def resolve_safe_addresses(
    host: str,
    port: int,
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
) -> list[str]:
    """Resolve `host` and return its addresses, raising ForbiddenAddressError if any is forbidden.

    Refusing when *any* address is bad (not just the first) stops a name that resolves to both a
    public and a private address from being used to reach the private one.
    """
    literal = parse_ip_host(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = (resolver or _resolve)(host, port)
        except OSError as error:
            raise _ResolutionError(f"cannot resolve {host}: {error}") from error
        if not addresses:
            raise _ResolutionError(f"{host} resolves to no address")
    for text in addresses:
        reason = check_address(ipaddress.ip_address(text.split("%", 1)[0]), policy, host=host)
        if reason is not None:
            raise ForbiddenAddressError(f"refusing {host}: {reason}")
    return addresses


class _ResolutionError(OSError):
    """Host name resolution failed (a connection problem, retried like one)."""


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0])
        if text not in seen:
            seen.append(text)
    return seen


def _category(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_reserved:
        return "reserved"
    if address.is_private or any(address in network for network in _EXTRA_FORBIDDEN):
        return "private"
    if not address.is_global:
        return "non-global"
    return None
