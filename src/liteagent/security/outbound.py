"""The outbound-URL policy: which hosts LiteAgent may connect to on a user's or a model's behalf.

Every fetch that a user, a model or a remote server can steer goes through this policy: URL
data sources, the workflow ``http_request`` node and the toolkits' service URLs (Jira, GitLab,
Google). The rules:

- Only ``http``/``https`` URLs with a host and without credentials (``user:pw@``).
- Addresses that are not publicly routable are refused: unspecified, loopback, private, shared
  (100.64/10), link-local (169.254/16 with the cloud metadata service, fe80::/10), site-local,
  multicast, documentation and reserved ranges. Every spelling of an address counts: decimal,
  octal and hex IPv4 (``2130706433``, ``0x7f.1``, ``017700000001``), IPv4-mapped and
  IPv4-compatible IPv6 (``::ffff:127.0.0.1``), 6to4 (``2002::/16``), NAT64 (``64:ff9b::/96``)
  and Teredo (``2001::/32``) addresses embedding such an IPv4 address, ``localhost`` names.
- A host name is resolved and *every* address it resolves to must pass; the connection then goes
  to one of the addresses just checked (``outbound_client`` connects by address), and the
  address actually connected to is checked once more.
- Operators allow private hosts explicitly with ``LITEAGENT_OUTBOUND_ALLOW_HOSTS``: exact host
  names (the URL's host must match, any address it resolves to is then accepted) or exact IP
  addresses (that address is accepted, whatever name led to it). Wildcards and networks are
  refused when the settings load.

``OutboundPolicy`` makes the decisions (no I/O except name resolution, which tests replace);
``liteagent.security.outbound_client`` enforces them on real connections and redirects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import httpx

from liteagent.errors import InvalidRequestError
from liteagent.hosts import (
    ALLOW_HOSTS_VARIABLE,
    IPAddress,
    canonical_host,
    parse_allow_hosts,
    unmapped,
)

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = [
    "ALLOW_HOSTS_VARIABLE",
    "IPAddress",
    "OutboundPolicy",
    "OutboundURLError",
    "Resolver",
    "address_refusal",
    "canonical_host",
    "parse_allow_hosts",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses`` (IP literals). The default asks the system resolver."""


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Ranges refused besides what ``ipaddress`` flags (older Pythons miss some of them).
_EXTRA_REFUSED: Final[tuple[tuple[_V4 | _V6, str], ...]] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.88.99.0/24"), "6to4 relay"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V6("::/96"), "IPv4-compatible"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/23"), "IETF protocol"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("fec0::/10"), "site-local"),
)
# What ``allow_private`` lifts: the networks of an intranet and of the machine itself.
_PRIVATE_KINDS: Final = frozenset(
    {"loopback", "private", "shared (carrier-grade NAT)", "site-local"}
)
_NAT64: Final = _V6("64:ff9b::/96")
_TEREDO: Final = _V6("2001::/32")


class OutboundURLError(InvalidRequestError, error_code="outbound_url_refused"):
    """LiteAgent refused to connect to a URL (scheme, credentials or address policy).

    Attributes:
        host: The host refused (as written in the URL, or the redirect target's).
        reason: Why, in a few words.
        allowable: Whether ``LITEAGENT_OUTBOUND_ALLOW_HOSTS`` could allow it (an address rule).
    """

    def __init__(self, host: str, reason: str, *, allowable: bool = False) -> None:
        self.host = host
        self.reason = reason
        self.allowable = allowable
        hint = f"; allow it with {ALLOW_HOSTS_VARIABLE}" if allowable else ""
        target = f" to {host}" if host else ""
        super().__init__(f"Refused to connect{target}: {reason}{hint}.")


# --------------------------------------------------------------------------- addresses
def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address in _TEREDO and address.teredo is not None:
        return address.teredo[1], "Teredo"
    if address in _V6("::/96") and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "IPv4-compatible"
    return None


def _kind(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata)"
    if address.is_multicast:
        return "multicast"
    for network, kind in _EXTRA_REFUSED:
        if address.version == network.version and address in network:
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "non-public"
    return None


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiouAEIOU" else f"a {kind}"


def _classify(address: IPAddress) -> tuple[str, str] | None:
    """``(kind, explanation)`` of a refused address; ``None`` for a public one.

    For an IPv6 address that embeds a refused IPv4 address, the kind is the IPv4 address's.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner, form = embedded
            inner_kind = _kind(inner)
            if inner_kind is not None:
                text = f"{address} is {_a(form)} address of {inner}, {_a(inner_kind)} address"
                return inner_kind, text
    kind = _kind(address)
    return None if kind is None else (kind, f"{address} is {_a(kind)} address")


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` must not be connected to (``None``: a public address)."""
    found = _classify(address)
    return None if found is None else found[1]


async def system_resolver(host: str, port: int) -> list[str]:
    """The system resolver's addresses for ``host`` (empty when the name does not resolve)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class OutboundPolicy:
    """Which outbound connections are allowed.

    Args:
        allow_hosts: Exact host names and IP addresses allowed even when private (entries as
            accepted by :func:`parse_allow_hosts`).
        allow_private: Allow private, loopback, shared and site-local addresses everywhere (the
            URL data sources' ``LITEAGENT_URL_ALLOW_PRIVATE``, the workflow node's
            ``allow_private_network``). Link-local (cloud metadata), multicast, unspecified and
            reserved addresses stay refused unless listed in ``allow_hosts``.
        max_redirects: Redirect hops followed.
        resolver: Name resolution (tests pass a table; the default is the system's).
    """

    allow_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    max_redirects: int = 5
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_hosts", parse_allow_hosts(self.allow_hosts))

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_private: bool = False) -> OutboundPolicy:
        """The policy ``LITEAGENT_OUTBOUND_ALLOW_HOSTS`` and ``..._MAX_REDIRECTS`` describe."""
        return cls(
            allow_hosts=tuple(settings.outbound_allow_hosts),
            allow_private=allow_private,
            max_redirects=settings.outbound_max_redirects,
        )

    # ------------------------------------------------------------------ decisions
    def _host_listed(self, host: str | IPAddress) -> bool:
        if isinstance(host, str):
            return host in self.allow_hosts
        return str(unmapped(host)) in self.allow_hosts

    def address_refusal(self, host: str | IPAddress, address: IPAddress) -> str | None:
        """Why connecting to ``address`` for URL host ``host`` is refused (``None``: allowed)."""
        if self._host_listed(host) or self._host_listed(address):
            return None
        found = _classify(address)
        if found is None or (self.allow_private and found[0] in _PRIVATE_KINDS):
            return None
        return found[1]

    def parse(self, url: str | httpx.URL) -> httpx.URL:
        """Parse ``url`` and check everything that needs no name resolution.

        Raises:
            OutboundURLError: bad scheme, no host, credentials in the URL, a refused address
                literal (in any spelling) or a ``localhost`` name.
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, UnicodeError) as exc:
            raise OutboundURLError("", f"the URL is not valid ({exc})") from None
        if parsed.scheme not in ("http", "https"):
            raise OutboundURLError(
                parsed.host, f"only http and https URLs are allowed, not '{parsed.scheme}:'"
            )
        if not parsed.host:
            raise OutboundURLError("", "the URL has no host")
        if parsed.userinfo:
            raise OutboundURLError(
                parsed.host, "credentials in URLs are refused; send them in headers"
            )
        host = canonical_host(parsed.host)
        if isinstance(host, str):
            if (host == "localhost" or host.endswith(".localhost")) and not self._host_listed(host):
                raise OutboundURLError(parsed.host, f"{host} is a loopback name", allowable=True)
            return parsed
        reason = self.address_refusal(host, host)
        if reason is not None:
            raise OutboundURLError(parsed.host, reason, allowable="unspecified" not in reason)
        return parsed

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and check every address; the addresses that may be connected to.

        Raises:
            OutboundURLError: the name does not resolve, or any address it resolves to is
                refused.
        """
        canonical = canonical_host(host)
        if not isinstance(canonical, str):
            found: list[IPAddress] = [canonical]
        else:
            found = []
            for text in await self.resolver(canonical, port):
                try:
                    found.append(ipaddress.ip_address(text.split("%", 1)[0]))
                except ValueError:
                    continue
            if not found:
                raise OutboundURLError(host, f"{host} could not be resolved")
        for address in found:
            reason = self.address_refusal(canonical, address)
            if reason is not None:
                where = "" if address == canonical else f"{host} resolves to {address}: "
                allowable = "unspecified" not in reason
                raise OutboundURLError(host, f"{where}{reason}", allowable=allowable)
        return list(dict.fromkeys(found))

    async def check(self, url: str | httpx.URL) -> httpx.URL:
        """:meth:`parse` ``url`` and resolve its host, checking every address.

        Raises:
            OutboundURLError: as :meth:`parse` and :meth:`addresses`.
        """
        parsed = self.parse(url)
        await self.addresses(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
        return parsed

    def check_peer(self, host: str, peer: str) -> None:
        """Check the address a connection for ``host`` actually reached.

        Raises:
            OutboundURLError: the peer's address is refused.
        """
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return  # a Unix socket or an in-memory test transport: no network address
        reason = self.address_refusal(canonical_host(host), address)
        if reason is not None:
            raise OutboundURLError(host, f"the connection reached {reason}", allowable=True)
