"""Refuse webhook targets that would let a stored URL reach inside the network (SSRF).

Checked when a preference is saved and again right before each send. The host is resolved
once and every address it resolves to must be publicly routable, unless the host, the
address or a network containing it is allow-listed (setting `notify.webhook_allowlist`).
The sender then connects to an address from this check, never resolving again, so a DNS
answer that changes between check and connect (rebinding) cannot slip through.
Numeric host spellings (``2130706433``, ``0x7f.1``) go through the same resolver as the
connection would, so they are judged by the address they really mean.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from opscopilot.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURLError(ValidationFailed):
    """The URL may not be used as a webhook target."""


class URLResolutionError(ValidationFailed):
    """The host did not resolve; may be temporary."""


@dataclass(frozen=True, slots=True)
class Allowlist:
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Entries are host names, IP addresses or CIDR networks (``[::1]`` brackets ok)."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(_normalise_host(entry))
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        if host in self.hosts:
            return True
        return any(a in n for a in _views(address) for n in self.networks if a.version == n.version)


@dataclass(frozen=True, slots=True)
class CheckedURL:
    url: httpx.URL
    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    def pinned(self, address: IPAddress) -> httpx.URL:
        """The URL aimed at one checked address; send Host/SNI for `host` alongside."""
        return self.url.copy_with(host=str(address))


async def check_url(
    url: str,
    *,
    allowlist: Allowlist | Iterable[str] = (),
    resolver: Resolver | None = None,
) -> CheckedURL:
    """Resolve `url` once and refuse it unless every address is safe or allow-listed."""
    rules = allowlist if isinstance(allowlist, Allowlist) else Allowlist.parse(allowlist)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeURLError(f"not a valid URL: {exc}", field="url") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError("webhook URL must use http or https", field="url")
    if not parsed.host:
        raise UnsafeURLError("webhook URL has no host", field="url")
    host = _normalise_host(parsed.host)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)

    addresses = await _resolve(host, port, resolver or _system_resolver)
    for address in addresses:
        reason = blocked_reason(address)
        if reason is not None and not rules.allows(host, address):
            raise UnsafeURLError(
                f"webhook host {host} resolves to {address}, a {reason} address; "
                "allow-list it in notify.webhook_allowlist to permit it",
                field="url",
                details={"host": host, "address": str(address), "reason": reason},
            )
    return CheckedURL(url=parsed, host=host, port=port, addresses=addresses)


def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` must not be a webhook target, or None if it is publicly routable."""
    # An embedded IPv4 address says more than its IPv6 wrapper (often merely "reserved").
    for view in reversed(_views(address)):
        if view in _METADATA:
            return "cloud metadata"
        for reason, flag in (
            ("loopback", view.is_loopback),
            ("link-local", view.is_link_local),
            ("multicast", view.is_multicast),
            ("unspecified", view.is_unspecified),
            ("reserved", view.is_reserved),
            ("private", view.is_private),
            ("non-global", not view.is_global),
        ):
            if flag:
                return reason
    return None


def _views(address: IPAddress) -> list[IPAddress]:
    """The address plus any IPv4 address embedded in it (mapped, NAT64, 6to4, Teredo)."""
    views: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            views.append(address.ipv4_mapped)
        if address in _NAT64:
            views.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            views.append(address.sixtofour)
        if address.teredo is not None:
            views.append(address.teredo[1])
    return views


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


async def _resolve(host: str, port: int, resolver: Resolver) -> tuple[IPAddress, ...]:
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        raw = await resolver(host, port)
    except OSError as exc:
        raise URLResolutionError(f"cannot resolve {host}: {exc}", field="url") from None
    addresses: list[IPAddress] = []
    for text in raw:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise URLResolutionError(f"{host} resolved to no address", field="url")
    return tuple(addresses)


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
