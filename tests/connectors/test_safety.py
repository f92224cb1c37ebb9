"""Address checks: every disguise of a private address is recognised and refused."""

from __future__ import annotations

import ipaddress

import pytest

from connectors.safety import (
    AddressPolicy,
    ForbiddenAddressError,
    check_address,
    parse_ip_host,
    resolve_safe_addresses,
)

STRICT = AddressPolicy()
OPEN = AddressPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # decimal
        ("0x7f000001", "127.0.0.1"),  # hex
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("127.1", "127.0.0.1"),  # shorthand
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.org", None),
        ("1e100.net", None),
        ("deadbeef.com", None),
    ],
)
def test_parse_ip_host_reads_every_notation(host, expected):
    parsed = parse_ip_host(host)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
    ],
)
def test_non_public_addresses_are_refused(address, category):
    reason = check_address(ipaddress.ip_address(address), STRICT)
    assert reason is not None
    assert category in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_pass(address):
    assert check_address(ipaddress.ip_address(address), STRICT) is None


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_ipv4_embedded_in_ipv6_is_judged_as_ipv4(address):
    assert check_address(ipaddress.ip_address(address), STRICT) is not None


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"])
def test_metadata_endpoints_stay_refused_when_private_is_allowed(address):
    reason = check_address(ipaddress.ip_address(address), OPEN)
    assert reason is not None
    assert "metadata" in reason


def test_allow_private_opens_loopback_and_private_ranges():
    for address in ("127.0.0.1", "10.0.0.1", "::1"):
        assert check_address(ipaddress.ip_address(address), OPEN) is None
    # ... but not multicast or reserved space, which never hosts a web server
    assert check_address(ipaddress.ip_address("224.0.0.1"), OPEN) is not None


def test_allowed_networks_open_only_what_they_name():
    policy = AddressPolicy.build(allowed_networks=["127.0.0.1/32"])
    assert check_address(ipaddress.ip_address("127.0.0.1"), policy) is None
    assert check_address(ipaddress.ip_address("127.0.0.2"), policy) is not None
    assert check_address(ipaddress.ip_address("10.0.0.1"), policy) is not None


def test_allowed_host_names_open_their_addresses_but_not_metadata():
    policy = AddressPolicy.build(allowed_hosts=["samples.internal"])
    loopback = ipaddress.ip_address("127.0.0.1")
    assert check_address(loopback, policy, host="samples.internal") is None
    assert check_address(loopback, policy, host="other.internal") is not None
    metadata = ipaddress.ip_address("169.254.169.254")
    assert check_address(metadata, policy, host="samples.internal") is not None


def test_name_resolving_to_any_private_address_is_refused():
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]  # a public and a private answer (rebinding setup)

    with pytest.raises(ForbiddenAddressError) as caught:
        resolve_safe_addresses("news.example", 80, STRICT, resolver=resolver)
    assert caught.value.kind == "forbidden-address"
    assert "10.0.0.7" in caught.value.message


def test_name_resolving_to_public_addresses_passes():
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    assert resolve_safe_addresses("news.example", 443, STRICT, resolver=resolver) == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]


def test_localhost_name_is_refused_after_real_resolution():
    with pytest.raises(ForbiddenAddressError):
        resolve_safe_addresses("localhost", 80, STRICT)


def test_unresolvable_name_is_a_connection_problem_not_a_refusal():
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(OSError, match="cannot resolve") as caught:
        resolve_safe_addresses("no-such-host.invalid", 80, STRICT, resolver=resolver)
    assert not isinstance(caught.value, ForbiddenAddressError)
