"""Host names and IP addresses in canonical form, and the outbound allow-list's entries.

Kept at the bottom of the package (no LiteAgent imports) because both the settings
(``LITEAGENT_OUTBOUND_ALLOW_HOSTS`` is validated when they load) and the outbound-URL policy
(``liteagent.security.outbound``) read hosts the same way.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from typing import Final

__all__ = [
    "ALLOW_HOSTS_VARIABLE",
    "IPAddress",
    "canonical_host",
    "parse_allow_hosts",
    "unmapped",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_HOSTS_VARIABLE: Final = "LITEAGENT_OUTBOUND_ALLOW_HOSTS"


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``inet_aton`` spellings: 1-4 parts, each decimal, ``0x`` hex or ``0``-prefixed octal."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        text = part.lower()
        try:
            if text.startswith("0x"):
                numbers.append(int(text[2:] or "0", 16))
            elif len(text) > 1 and text.startswith("0"):
                numbers.append(int(text[1:], 8))
            elif text.isdigit():
                numbers.append(int(text))
            else:
                return None
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def canonical_host(host: str) -> str | IPAddress:
    """A URL host as the connection would see it: an IP address, or a lower-case name.

    Brackets, an IPv6 zone (``%eth0``) and one trailing dot are removed; every IPv4 spelling
    that the system resolver accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) becomes the
    address it means.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    with contextlib.suppress(ValueError):  # not an address literal: a name, or a legacy form
        return ipaddress.ip_address(text)
    legacy = _legacy_ipv4(text)
    return legacy if legacy is not None else text


def unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_allow_hosts(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate ``LITEAGENT_OUTBOUND_ALLOW_HOSTS`` entries; return them in canonical form.

    Raises:
        ValueError: an entry is a wildcard, a network, a URL, has a port, or means "every
            address" (``0.0.0.0``, ``::``).
    """
    out: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if "*" in entry:
            raise ValueError(
                f"{ALLOW_HOSTS_VARIABLE}: '{entry}' is a wildcard; list each host or address "
                "exactly (wildcards are not accepted)"
            )
        if "/" in entry:
            raise ValueError(
                f"{ALLOW_HOSTS_VARIABLE}: '{entry}' is a URL or a network; list each host name "
                "or IP address exactly (for example jira.intranet.example,10.0.0.5)"
            )
        host = canonical_host(entry)
        if isinstance(host, str):
            if ":" in host or not host or any(c.isspace() for c in host):
                raise ValueError(
                    f"{ALLOW_HOSTS_VARIABLE}: '{entry}' is not a host name or an IP address "
                    "(leave out ports)"
                )
            out.append(host.encode("idna").decode("ascii") if not host.isascii() else host)
            continue
        if host.is_unspecified:
            raise ValueError(
                f"{ALLOW_HOSTS_VARIABLE}: '{entry}' means every address; list each address exactly"
            )
        out.append(str(unmapped(host)))
    return tuple(dict.fromkeys(out))
