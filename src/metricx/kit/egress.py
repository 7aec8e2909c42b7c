"""Where metricx may connect on a workspace's behalf (notification webhooks, SMTP servers):
public addresses only, unless the operator allows more.

A host a workspace admin types in is resolved, and every address it resolves to must be
public: not loopback, private (RFC 1918), shared (100.64/10), link-local (the cloud metadata
service at 169.254.169.254), unique-local (fd00:ec2::254 too), multicast, unspecified or
reserved. It is checked when a channel is saved and again at each send, and the send connects
to the very address that was checked: a DNS answer that changes in between (DNS rebinding)
cannot move it elsewhere. ``METRICX_NOTIFY_ALLOWED_HOSTS`` names hosts and networks an
operator allows anyway (an internal relay, a test receiver); metadata addresses never are.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses to try, as getaddrinfo gives them
Resolver = Callable[[str, int], list[str]]

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")  # AWS/GCP/Azure, Alibaba
)
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedDestination(Exception):
    """The host is not a destination metricx connects to; the message says why."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (::ffff:a.b.c.d, NAT64), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def non_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is no public destination (e.g. "a loopback address"), or None if it is."""
    ip = _embedded_v4(ip)
    if ip in METADATA:
        return "a cloud metadata address"
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip in UNIQUE_LOCAL, "a unique-local address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved or not ip.is_global, "a reserved, non-public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def _bare(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class AllowList:
    """Hosts (exact names) and networks (CIDR or single addresses) allowed although they are
    not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        """From ``"relay.internal, 10.1.0.0/16, 127.0.0.1"``. An entry that looks like an
        address or network but is not a valid one is an error, not a host name."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in (text or "").split(","):
            entry = _bare(raw)
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                if "/" in entry or ":" in entry or entry.replace(".", "").isdigit():
                    raise ValueError(f"not a valid address or network: {raw.strip()!r}") from None
            hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return _bare(host) in self.hosts

    def allows_address(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks if net.version == ip.version)


def checked_addresses(
    host: str, port: int, allowed: AllowList, resolve: Resolver = system_resolver
) -> list[str]:
    """The addresses of ``host`` to connect to, every one of them allowed. A host that
    resolves to any address refused is refused whole (one public address beside a private
    one is how rebinding tricks look). Raises RefusedDestination."""
    name = _bare(host)
    if not name:
        raise RefusedDestination("the destination has no host")
    try:
        found = resolve(name, port)
    except (OSError, UnicodeError) as exc:
        raise RefusedDestination(f"{name} cannot be resolved ({type(exc).__name__})") from None
    if not found:
        raise RefusedDestination(f"{name} resolves to no address")
    trusted = allowed.allows_host(name)
    for text in found:
        ip = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope (%eth0) is no part
        reason = non_public(ip)
        if reason is None:
            continue
        if reason != "a cloud metadata address" and (trusted or allowed.allows_address(ip)):
            continue
        where = f"{name} is" if _is_literal(name, ip) else f"{name} resolves to {ip},"
        raise RefusedDestination(f"{where} {reason}")
    return found


def _is_literal(name: str, ip: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(name) == ip
    except ValueError:
        return False


def check_destination(
    host: str, port: int, allowed: AllowList, resolve: Resolver = system_resolver
) -> None:
    """The check when a destination is saved: an allowed host name passes without resolving
    (the operator vouches for it; it is resolved and checked again at each send)."""
    if allowed.allows_host(host):
        return
    checked_addresses(host, port, allowed, resolve)
