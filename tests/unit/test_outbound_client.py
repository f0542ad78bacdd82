"""The outbound client against real loopback servers: redirects, credentials, connections.

Host A listens on 127.0.0.1 and host B on 127.0.0.2 (another loopback address, so another
origin). Every request each one receives is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.security.outbound_client import OutboundClient, ResponseTooLargeError, read_capped
from tests.servers.http import serve_app

CREDENTIALS = {
    "Authorization": "Bearer s3cret-token",
    "X-Api-Key": "k3y",
    "Cookie": "session=abc",
    "PRIVATE-TOKEN": "glpat-xyz",
    "X-Custom-Secret": "marked",
}


class Recorder:
    """A server that records requests and answers with what it received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.other = ""  # the other server's base URL (for cross-origin redirects)

    async def echo(self, request: Request) -> Response:
        self.seen.append({"path": request.url.path, "headers": dict(request.headers)})
        return JSONResponse(
            {
                "headers": dict(request.headers),
                "method": request.method,
                "body": (await request.body()).decode(),
            }
        )

    async def redirect(self, request: Request) -> Response:
        self.seen.append({"path": request.url.path, "headers": dict(request.headers)})
        status = int(request.query_params.get("status", "302"))
        target = request.query_params.get("to", "/go")
        if target == "other":
            target = f"{self.other}/echo"
        response = RedirectResponse(target, status_code=status)
        response.set_cookie("sid", "set-by-the-redirecting-host")
        return response

    async def big(self, request: Request) -> Response:
        return Response(b"x" * 5000, media_type="text/plain")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/echo", self.echo, methods=["GET", "POST"]),
                Route("/go", self.redirect, methods=["GET", "POST"]),
                Route("/big", self.big),
            ]
        )


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[Recorder, str, Recorder, str]]:
    a, b = Recorder(), Recorder()
    with serve_app(a.app()) as url_a, serve_app(b.app(), host="127.0.0.2") as url_b:
        a.other, b.other = url_b, url_a
        yield a, url_a, b, url_b


@pytest.fixture(autouse=True)
def _forget(hosts: tuple[Recorder, str, Recorder, str]) -> None:
    hosts[0].seen.clear()
    hosts[2].seen.clear()


async def get_json(
    policy: OutboundPolicy, url: str, *, method: str = "GET", **kwargs: Any
) -> tuple[int, Any]:
    async with (
        OutboundClient(policy, timeout=10) as client,
        client.stream(method, url, **kwargs) as response,
    ):
        await response.aread()
        return response.status_code, response.json()


async def test_same_origin_redirect_keeps_the_credentials(
    hosts: tuple[Recorder, str, Recorder, str],
) -> None:
    _, url_a, _, _ = hosts
    policy = OutboundPolicy(allow_hosts=("127.0.0.1",))
    _, body = await get_json(policy, f"{url_a}/go?to=/echo", headers=CREDENTIALS)
    assert body["headers"]["authorization"] == "Bearer s3cret-token"
    assert body["headers"]["private-token"] == "glpat-xyz"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_cross_origin_redirect_drops_every_credential(
    hosts: tuple[Recorder, str, Recorder, str], status: int
) -> None:
    _, url_a, b, _ = hosts
    policy = OutboundPolicy(allow_hosts=("127.0.0.1", "127.0.0.2"))
    _, body = await get_json(
        policy,
        f"{url_a}/go?to=other&status={status}",
        headers={**CREDENTIALS, "X-Trace": "t-1"},
        secret_headers=["X-Custom-Secret"],
        auth=("alice", "basic-secret"),
    )
    received = body["headers"]
    assert received["x-trace"] == "t-1"  # ordinary headers still go along
    for name in ("authorization", "x-api-key", "cookie", "private-token", "x-custom-secret"):
        assert name not in received, name
    assert len(b.seen) == 1


async def test_cross_origin_redirect_to_a_host_not_allowed_is_refused(
    hosts: tuple[Recorder, str, Recorder, str],
) -> None:
    a, url_a, b, _ = hosts
    policy = OutboundPolicy(allow_hosts=("127.0.0.1",))
    with pytest.raises(OutboundURLError) as info:
        await get_json(policy, f"{url_a}/go?to=other", headers=CREDENTIALS)
    assert info.value.host == "127.0.0.2"
    assert "127.0.0.2 is a loopback address; allow it with LITEAGENT_OUTBOUND_ALLOW_HOSTS" in (
        info.value.message
    )
    assert len(a.seen) == 1 and b.seen == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://[2002:a9fe:a9fe::]/",
        "file:///etc/passwd",
    ],
)
async def test_redirects_to_refused_addresses_are_not_followed(
    hosts: tuple[Recorder, str, Recorder, str], target: str
) -> None:
    a, url_a, _, _ = hosts
    policy = OutboundPolicy(allow_hosts=("127.0.0.1",))
    with pytest.raises(OutboundURLError):
        await get_json(policy, f"{url_a}/go?to={target}")
    assert len(a.seen) == 1


async def test_a_body_is_not_resent_to_another_origin(
    hosts: tuple[Recorder, str, Recorder, str],
) -> None:
    _, url_a, b, _ = hosts
    policy = OutboundPolicy(allow_hosts=("127.0.0.1", "127.0.0.2"))
    with pytest.raises(OutboundURLError, match="re-send the request body to another host"):
        await get_json(
            policy, f"{url_a}/go?to=other&status=307", method="POST", data={"secret": "x"}
        )
    assert b.seen == []
    # Same origin: 307 keeps method and body; 302 turns a POST into a GET without body.
    _, kept = await get_json(
        policy, f"{url_a}/go?to=/echo&status=307", method="POST", json_body={"k": 1}
    )
    assert (kept["method"], kept["body"]) == ("POST", '{"k":1}')
    _, dropped = await get_json(
        policy, f"{url_a}/go?to=/echo&status=302", method="POST", json_body={"k": 1}
    )
    assert (dropped["method"], dropped["body"]) == ("GET", "")


async def test_redirect_hops_are_bounded(hosts: tuple[Recorder, str, Recorder, str]) -> None:
    a, url_a, _, _ = hosts
    policy = OutboundPolicy(allow_hosts=("127.0.0.1",), max_redirects=2)
    await get_json(policy, f"{url_a}/go?to=/go%3Fto%3D/echo")  # 2 hops: fine
    with pytest.raises(OutboundURLError, match="more than 2 redirects"):
        await get_json(policy, f"{url_a}/go?to=/go")  # /go without a target: loops
    assert [r["path"] for r in a.seen] == ["/go", "/go", "/echo", "/go", "/go", "/go"]


async def test_nothing_is_sent_to_a_refused_url(hosts: tuple[Recorder, str, Recorder, str]) -> None:
    a, url_a, _, _ = hosts
    port = url_a.rsplit(":", 1)[1]
    for url in (f"{url_a}/echo", f"http://2130706433:{port}/echo", f"http://0x7f.1:{port}/echo"):
        with pytest.raises(OutboundURLError, match=re.escape("127.0.0.1 is a loopback address")):
            await get_json(OutboundPolicy(), url, headers=CREDENTIALS)
    assert a.seen == []
    # Allowed explicitly, the same address works in any spelling.
    status, _ = await get_json(
        OutboundPolicy(allow_hosts=("127.0.0.1",)), f"http://2130706433:{port}/echo"
    )
    assert status == 200 and len(a.seen) == 1


async def test_the_connection_goes_to_the_address_that_was_checked(
    hosts: tuple[Recorder, str, Recorder, str],
) -> None:
    a, url_a, b, _ = hosts
    port = int(url_a.rsplit(":", 1)[1])
    answers = {"svc.test": ["127.0.0.1"], "rebound.test": ["127.0.0.2"]}

    async def resolve(host: str, _: int) -> list[str]:
        return answers.get(host, [])

    policy = OutboundPolicy(allow_hosts=("127.0.0.1",), resolver=resolve)
    # svc.test exists only in this table: reaching host A proves the client connected to the
    # address the policy resolved and checked, not to a second, unchecked DNS answer.
    status, body = await get_json(policy, f"http://svc.test:{port}/echo")
    assert status == 200 and body["headers"]["host"] == f"svc.test:{port}"
    with pytest.raises(OutboundURLError, match=re.escape("rebound.test resolves to 127.0.0.2")):
        await get_json(policy, f"http://rebound.test:{port}/echo")
    assert len(a.seen) == 1 and b.seen == []


async def test_bodies_are_read_up_to_a_limit(hosts: tuple[Recorder, str, Recorder, str]) -> None:
    _, url_a, _, _ = hosts
    async with (
        OutboundClient(OutboundPolicy(allow_hosts=("127.0.0.1",)), timeout=10) as client,
        client.stream("GET", f"{url_a}/big") as response,
    ):
        with pytest.raises(ResponseTooLargeError, match="larger than the 4096-byte limit"):
            await read_capped(response, 4096)


async def test_another_port_is_another_origin(hosts: tuple[Recorder, str, Recorder, str]) -> None:
    _, url_a, _, _ = hosts
    c = Recorder()
    with serve_app(c.app()) as url_c:
        policy = OutboundPolicy(allow_hosts=("127.0.0.1",))
        target = quote(f"{url_c}/echo", safe="")
        _, body = await get_json(policy, f"{url_a}/go?to={target}", headers=CREDENTIALS)
    received = body["headers"]
    assert "authorization" not in received and "private-token" not in received
    assert "cookie" not in received  # not even the one host A set while redirecting
    assert len(c.seen) == 1
