"""The outbound-URL policy's decisions: every spelling of a non-public address is refused.

Policy decisions only: nothing here opens a connection, and host names are resolved through a
table, never DNS.
"""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from liteagent.config import Settings
from liteagent.security.outbound import (
    OutboundPolicy,
    OutboundURLError,
    canonical_host,
    parse_allow_hosts,
)

REFUSED = [
    # IPv4 loopback in every spelling the system resolver accepts
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.1/", "127.0.0.1 is a loopback address"),
    ("http://2130706433/", "127.0.0.1 is a loopback address"),
    ("http://017700000001/", "127.0.0.1 is a loopback address"),
    ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
    ("http://0x7f.1/", "127.0.0.1 is a loopback address"),
    ("http://0177.0.0.1/", "the URL is not valid"),  # httpx refuses dotted octal
    ("http://0X7F.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.0.0.1./", "127.0.0.1 is a loopback address"),
    ("http://127.255.255.254:8080/x", "127.255.255.254 is a loopback address"),
    # loopback names
    ("http://localhost/", "localhost is a loopback name"),
    ("http://LocalHost./", "localhost is a loopback name"),
    ("http://api.localhost:9000/", "api.localhost is a loopback name"),
    # "this host"
    ("http://0/", "0.0.0.0 is an unspecified address"),
    ("http://0.0.0.0:8000/", "0.0.0.0 is an unspecified address"),
    ("http://[::]/", ":: is an unspecified address"),
    # IPv6 loopback and IPv4 embedded in IPv6
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://[0:0:0:0:0:0:0:1]/", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped address of 127.0.0.1, a loopback address"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped address of 127.0.0.1, a loopback address"),
    ("http://[::FFFF:169.254.169.254]/", "of 169.254.169.254, a link-local"),
    ("http://[::ffff:10.0.0.1]:8080/", "IPv4-mapped address of 10.0.0.1, a private address"),
    ("http://[2002:7f00:1::]/", "6to4 address of 127.0.0.1, a loopback address"),
    ("http://[2002:a00:1::]/", "6to4 address of 10.0.0.1, a private address"),
    ("http://[2002:a9fe:a9fe::1]/", "6to4 address of 169.254.169.254, a link-local"),
    ("http://[64:ff9b::7f00:1]/", "NAT64 address of 127.0.0.1, a loopback address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 address of 169.254.169.254"),
    ("http://[64:ff9b::192.168.0.1]/", "NAT64 address of 192.168.0.1, a private address"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo address of 127.0.0.1"),
    ("http://[::127.0.0.1]/", "IPv4-compatible address of 127.0.0.1"),
    ("http://[64:ff9b:1::a00:1]/", "local-use NAT64"),
    # other IPv6 ranges
    ("http://[fe80::1]/", "fe80::1 is a link-local"),
    ("http://[fe80::1%25eth0]/", "fe80::1 is a link-local"),
    ("http://[fc00::1]/", "fc00::1 is a private address"),
    ("http://[fd12:3456::1]/", "fd12:3456::1 is a private address"),
    ("http://[fec0::1]/", "fec0::1 is a site-local address"),
    ("http://[ff02::1]/", "ff02::1 is a multicast address"),
    ("http://[2001:db8::1]/", "2001:db8::1 is"),
    # cloud metadata, private, shared and reserved IPv4
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local"),
    ("http://2852039166/", "169.254.169.254 is a link-local"),
    ("http://0xa9fea9fe/", "169.254.169.254 is a link-local"),
    ("http://10.0.0.1/", "10.0.0.1 is a private address"),
    ("http://012.0.0.1/", "the URL is not valid"),
    ("http://167772161/", "10.0.0.1 is a private address"),
    ("http://172.16.0.1/", "172.16.0.1 is a private address"),
    ("http://192.168.1.1/", "192.168.1.1 is a private address"),
    ("http://100.64.0.1/", "100.64.0.1 is a shared (carrier-grade NAT) address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://255.255.255.255/", "255.255.255.255 is"),
    ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("http://198.18.0.1/", "198.18.0.1 is a benchmarking address"),
    ("http://192.0.0.8/", "192.0.0.8 is a reserved address"),
    # credentials, schemes, malformed URLs
    ("http://good@127.0.0.1/", "credentials in URLs are refused"),
    ("http://127.0.0.1:80@evil.example/", "credentials in URLs are refused"),
    ("http://user:pw@93.184.216.34/", "credentials in URLs are refused"),
    ("ftp://93.184.216.34/x", "only http and https URLs are allowed, not 'ftp:'"),
    ("file:///etc/passwd", "only http and https URLs are allowed, not 'file:'"),
    ("gopher://127.0.0.1:70/", "only http and https URLs are allowed, not 'gopher:'"),
    ("http:///nohost", "the URL has no host"),
    ("http://[::1/", "the URL is not valid"),
]

PUBLIC = [
    ("http://93.184.216.34/", "93.184.216.34"),
    ("https://8.8.8.8:8443/x?q=1", "8.8.8.8"),
    ("http://134744072/", "134744072"),  # 8.8.8.8, in decimal
    ("http://0x8.0x8.0x8.0x8/", "0x8.0x8.0x8.0x8"),
    ("http://[2606:4700:4700::1111]/", "2606:4700:4700::1111"),
    ("http://[2002:808:808::1]/", "2002:808:808::1"),  # 6to4 of a public address
    ("https://Jira.Example.COM/rest", "jira.example.com"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused_forms(url: str, reason: str) -> None:
    with pytest.raises(OutboundURLError) as info:
        OutboundPolicy().parse(url)
    assert reason in info.value.message
    assert info.value.status_code == 400


def test_the_matrix_is_large_enough() -> None:
    assert len(REFUSED) + len(PUBLIC) >= 40


@pytest.mark.parametrize(("url", "host"), PUBLIC)
def test_public_forms_pass(url: str, host: str) -> None:
    assert OutboundPolicy().parse(url).host == host


def test_the_error_names_the_host_and_the_way_to_allow_it() -> None:
    with pytest.raises(OutboundURLError) as info:
        OutboundPolicy().parse("http://10.0.0.5:8080/rest/api/2/myself")
    error = info.value
    assert error.message == (
        "Refused to connect to 10.0.0.5: 10.0.0.5 is a private address; allow it with "
        "LITEAGENT_OUTBOUND_ALLOW_HOSTS."
    )
    assert (error.host, error.allowable, error.error_code) == (
        "10.0.0.5",
        True,
        "outbound_url_refused",
    )
    with pytest.raises(OutboundURLError) as unspecified:
        OutboundPolicy().parse("http://0.0.0.0/")
    assert "ALLOW_HOSTS" not in unspecified.value.message  # no entry can allow "every address"


def table(**names: list[str]) -> OutboundPolicy:
    """A policy whose resolver answers from ``names`` (dots written as ``_``)."""

    async def resolve(host: str, port: int) -> list[str]:
        return names.get(host.replace(".", "_"), [])

    return OutboundPolicy(resolver=resolve)


async def test_every_resolved_address_is_checked() -> None:
    policy = table(
        public_example=["93.184.216.34"],
        rebind_example=["93.184.216.34", "10.0.0.1"],
        mapped_example=["2606:4700::1", "::ffff:127.0.0.1"],
    )
    assert (await policy.check("https://public.example/")).host == "public.example"
    with pytest.raises(OutboundURLError) as info:
        await policy.check("https://rebind.example/")
    assert "rebind.example resolves to 10.0.0.1: 10.0.0.1 is a private address" in str(info.value)
    with pytest.raises(OutboundURLError, match=re.escape("IPv4-mapped address of 127.0.0.1")):
        await policy.check("https://mapped.example/")
    with pytest.raises(OutboundURLError, match=re.escape("nowhere.example could not be resolved")):
        await policy.check("https://nowhere.example/")


async def test_allow_list_entries_are_exact() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return {
            "jira.intranet.example": ["10.0.0.5"],
            "wiki.intranet.example": ["10.0.0.6"],
            "alias.intranet.example": ["10.0.0.7"],
        }.get(host, [])

    policy = OutboundPolicy(
        allow_hosts=("JIRA.intranet.example.", "10.0.0.7", "127.0.0.1"), resolver=resolve
    )
    assert policy.allow_hosts == ("jira.intranet.example", "10.0.0.7", "127.0.0.1")
    await policy.check("https://jira.intranet.example/rest")
    await policy.check("https://Jira.Intranet.Example./rest")
    await policy.check("https://alias.intranet.example/")  # resolves to a listed address
    await policy.check("http://127.0.0.1:8080/")
    await policy.check("http://2130706433:8080/")  # the listed address, spelled in decimal
    await policy.check("http://[::ffff:127.0.0.1]/")
    for refused in (
        "https://wiki.intranet.example/",
        "http://10.0.0.6/",
        "http://127.0.0.2/",
        "http://localhost/",  # a name entry is needed for a name
        "http://169.254.169.254/",
    ):
        with pytest.raises(OutboundURLError):
            await policy.check(refused)


def test_allow_private_keeps_metadata_and_unspecified_refused() -> None:
    policy = OutboundPolicy(allow_private=True)
    for allowed in ("http://10.0.0.1/", "http://127.0.0.1/", "http://[fd00::1]/"):
        policy.parse(allowed)
    for refused in ("http://169.254.169.254/", "http://0.0.0.0/", "http://224.0.0.1/"):
        with pytest.raises(OutboundURLError):
            policy.parse(refused)


def test_the_connected_peer_is_checked() -> None:
    policy = OutboundPolicy(allow_hosts=("127.0.0.1",))
    policy.check_peer("jira.example.com", "93.184.216.34")
    policy.check_peer("svc.test", "127.0.0.1")
    with pytest.raises(OutboundURLError, match=re.escape("the connection reached 10.0.0.1")):
        policy.check_peer("jira.example.com", "10.0.0.1")
    with pytest.raises(OutboundURLError, match=re.escape("6to4 address of 127.0.0.2")):
        policy.check_peer("jira.example.com", "2002:7f00:2::")


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("[::FFFF:7F00:1]", "::ffff:7f00:1"),
        ("Example.COM.", "example.com"),
        ("4294967296", "4294967296"),  # too large: a (strange) name, not an address
        ("0x1g.0.0.1", "0x1g.0.0.1"),
    ],
)
def test_canonical_host(host: str, canonical: str) -> None:
    assert str(canonical_host(host)) == canonical


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("*", "is a wildcard"),
        ("*.intranet.example", "is a wildcard"),
        ("0.0.0.0/0", "is a URL or a network"),
        ("10.0.0.0/8", "is a URL or a network"),
        ("https://jira.intranet.example/", "is a URL or a network"),
        ("0.0.0.0", "means every address"),
        ("0", "means every address"),
        ("::", "means every address"),
        ("jira.intranet.example:8443", "leave out ports"),
    ],
)
def test_allow_list_refuses_wildcards_at_settings_load(
    entry: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_allow_hosts([entry])
    monkeypatch.setenv("LITEAGENT_OUTBOUND_ALLOW_HOSTS", f"jira.intranet.example,{entry}")
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "LITEAGENT_OUTBOUND_ALLOW_HOSTS" in str(info.value) and message in str(info.value)


def test_allow_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITEAGENT_OUTBOUND_ALLOW_HOSTS", " Jira.Intranet.Example , 10.0.0.5,,")
    monkeypatch.setenv("LITEAGENT_OUTBOUND_MAX_REDIRECTS", "2")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    policy = OutboundPolicy.from_settings(settings)
    assert policy.allow_hosts == ("jira.intranet.example", "10.0.0.5")
    assert policy.max_redirects == 2
    monkeypatch.delenv("LITEAGENT_OUTBOUND_ALLOW_HOSTS")
    assert Settings(_env_file=None).outbound_allow_hosts == ()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "url",
    [
        "http://[2001:db8::1]/",
        "http://192.0.0.8/",
        "http://[2002:a9fe:a9fe::]/",
        "http://240.0.0.1/",
    ],
)
def test_allow_private_lifts_only_intranet_networks(url: str) -> None:
    with pytest.raises(OutboundURLError):
        OutboundPolicy(allow_private=True).parse(url)
    OutboundPolicy(allow_private=True).parse("http://[::ffff:192.168.1.1]/")
