"""Webhook URL guard: what it refuses, what an allow-list lets through, how it resolves.

Host names other than localhost go through a fake resolver (the DNS edge), so no test
sends a query beyond this machine.
"""

from __future__ import annotations

import socket

import pytest

from opscopilot.core.errors import ValidationFailed
from opscopilot.notify.urlguard import (
    Allowlist,
    UnsafeURLError,
    URLResolutionError,
    blocked_reason,
    check_url,
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:8080/hook", "loopback"),
        ("http://LOCALHOST./hook", "loopback"),
        ("http://127.0.0.1/hook", "loopback"),
        ("http://[::1]:9000/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),  # decimal 127.0.0.1
        ("http://0x7f.0.0.1/hook", "loopback"),  # hex
        ("http://127.1/hook", "loopback"),  # short form
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.9/hook", "private"),
        ("http://192.168.1.20/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://2852039166/latest/meta-data/", "cloud metadata"),  # decimal 169.254.169.254
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("http://169.254.10.1/hook", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://100.64.0.1/hook", "non-global"),  # carrier-grade NAT
        ("https://user:pw@10.0.0.1/hook", "private"),
    ],
)
async def test_refuses_internal_targets(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        await check_url(url)
    assert caught.value.details["reason"] == reason
    assert caught.value.status_code == 422


async def test_public_address_passes_and_is_kept_for_pinning() -> None:
    checked = await check_url("https://93.184.216.34:8443/hooks?x=1")
    assert [str(a) for a in checked.addresses] == ["93.184.216.34"]
    assert (checked.host, checked.port) == ("93.184.216.34", 8443)
    assert str(checked.pinned(checked.addresses[0])) == "https://93.184.216.34:8443/hooks?x=1"


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1"),
        ("http://127.0.0.1:8080/hook", "127.0.0.0/8"),
        ("http://2130706433/hook", "127.0.0.1"),
        ("http://localhost:8080/hook", "localhost"),
        ("http://[::1]:8080/hook", "[::1]"),
        ("http://[::ffff:127.0.0.1]/hook", "127.0.0.0/8"),
    ],
)
async def test_allow_listed_loopback_passes(url: str, allow: str) -> None:
    checked = await check_url(url, allowlist=[allow])
    assert checked.addresses


async def test_allowlist_does_not_open_other_addresses() -> None:
    with pytest.raises(UnsafeURLError, match="10.0.0.1"):
        await check_url("http://10.0.0.1/hook", allowlist=["127.0.0.1", "localhost"])


async def test_every_resolved_address_is_checked_after_one_lookup() -> None:
    lookups: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return ["93.184.216.34", "10.0.0.5"]

    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.5"):
        await check_url("https://hooks.plant.example/in", resolver=resolver)
    assert lookups == [("hooks.plant.example", 443)]


async def test_name_resolving_to_public_addresses_passes() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"]

    checked = await check_url("https://hooks.plant.example/in", resolver=resolver)
    assert [str(a) for a in checked.addresses] == [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
    ]


async def test_allow_listed_host_name_passes_whatever_it_resolves_to() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["10.20.30.40"]

    checked = await check_url(
        "https://erp.plant.internal/hook", allowlist=["ERP.plant.internal"], resolver=resolver
    )
    assert [str(a) for a in checked.addresses] == ["10.20.30.40"]


async def test_resolution_failure_is_its_own_error() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(URLResolutionError, match="cannot resolve"):
        await check_url("https://nowhere.plant.example/", resolver=resolver)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/x",
        "file:///etc/passwd",
        "http:///path-only",
        "not a url",
        "http://0177.0.0.1/hook",  # octal 127.0.0.1: httpx refuses to parse it at all
    ],
)
async def test_refuses_non_http_or_hostless_urls(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        await check_url(url)


def test_errors_are_validation_failures_for_the_api() -> None:
    assert issubclass(UnsafeURLError, ValidationFailed)
    assert issubclass(URLResolutionError, ValidationFailed)


def test_allowlist_parsing() -> None:
    rules = Allowlist.parse(["127.0.0.1", " 10.0.0.0/8 ", "Hooks.Example.", "[::1]", ""])
    assert rules.hosts == frozenset({"hooks.example"})
    assert [str(n) for n in rules.networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


def test_public_addresses_have_no_blocked_reason() -> None:
    import ipaddress

    for text in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert blocked_reason(ipaddress.ip_address(text)) is None
