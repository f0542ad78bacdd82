"""The built-in ``http_request`` node against a real local HTTP server, and its URL rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from liteagent.config import Settings
from liteagent.workflows import (
    UnsafeURLError,
    WorkflowBuilder,
    WorkflowDefinition,
    WorkflowEngine,
    WorkflowStatus,
    WorkflowValidationError,
    node_handler_registry,
)
from liteagent.workflows.http import HTTPRequestHandler, check_url
from tests.servers.http import serve_app

BIG = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    async def data(request: Request) -> JSONResponse:
        return JSONResponse(
            {"user": request.path_params["user_id"], "q": dict(request.query_params)}
        )

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"got": await request.json(), "auth": request.headers.get("x-token")})

    async def big(request: Request) -> Response:
        return PlainTextResponse("x" * BIG)

    async def big_stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(64):
                yield b"y" * 65536

        return StreamingResponse(chunks(), media_type="text/plain")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(2)
        return PlainTextResponse("late")

    async def to_file(request: Request) -> Response:
        return RedirectResponse("file:///etc/passwd", status_code=302)

    async def to_data(request: Request) -> Response:
        return RedirectResponse("/data/redirected", status_code=302)

    async def loop(request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    async def to(request: Request) -> Response:
        status = int(request.query_params.get("status", "302"))
        return RedirectResponse(request.query_params["url"], status_code=status)

    app = Starlette(
        routes=[
            Route("/data/{user_id}", data),
            Route("/echo", echo, methods=["POST"]),
            Route("/big", big),
            Route("/big-stream", big_stream),
            Route("/slow", slow),
            Route("/to-file", to_file),
            Route("/to-data", to_data),
            Route("/loop", loop),
            Route("/to", to),
        ]
    )
    with serve_app(app) as url:
        yield url


def one_request(**config: object) -> WorkflowDefinition:
    return (
        WorkflowBuilder("http", "HTTP").add_start()
        .add_custom("call", "http_request", output_variable="response", **config)
        .add_end(output_variable="response")
        .connect("start", "call").connect("call", "end").build()
    )  # fmt: skip


async def run(  # type: ignore[no-untyped-def]
    definition: WorkflowDefinition, settings: Settings | None = None, **variables: object
):
    engine = WorkflowEngine()
    context = {"settings": settings} if settings is not None else None
    state = engine.launch(definition, dict(variables))
    return await engine.run_to_completion(definition, state, context=context)


@pytest.fixture(scope="module")
def other_host() -> Iterator[tuple[list[dict[str, str]], str]]:
    """A second server, on 127.0.0.2 (another origin), recording the headers it receives."""
    seen: list[dict[str, str]] = []

    async def echo(request: Request) -> JSONResponse:
        seen.append(dict(request.headers))
        return JSONResponse({"headers": dict(request.headers)})

    with serve_app(Starlette(routes=[Route("/echo", echo)]), host="127.0.0.2") as url:
        yield seen, url


def test_builtin_is_registered_through_its_entry_point() -> None:
    assert node_handler_registry.get_class("http_request") is HTTPRequestHandler
    assert node_handler_registry.get_metadata("http_request").source == "entry_point"


def test_config_is_checked_at_build_time() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        one_request(url="http://x", method="BREW", max_bytes=10**9)
    assert info.value.problems == [
        "node 'call' (custom: http_request): field 'method': Input should be 'GET', 'POST', "
        "'PUT', 'PATCH', 'DELETE' or 'HEAD'",
        "node 'call' (custom: http_request): field 'max_bytes': Input should be less than or "
        "equal to 10485760",
    ]


async def test_loopback_is_refused_by_default(server: str) -> None:
    state = await run(one_request(url=server + "/data/1"))
    assert state.status is WorkflowStatus.FAILED
    assert state.error is not None
    assert (
        "Refused to connect to 127.0.0.1: 127.0.0.1 is a loopback address; allow it with "
        "LITEAGENT_OUTBOUND_ALLOW_HOSTS (or set allow_private_network: true on the node)"
    ) in state.error


async def test_allowed_private_request_with_quoted_placeholders(server: str) -> None:
    definition = one_request(url=server + "/data/${user}?tag=${tag}", allow_private_network=True)
    state = await run(definition, user="a b&c", tag="x@evil.com/#")
    assert state.status is WorkflowStatus.COMPLETED, state.error
    assert state.result["status_code"] == 200
    assert state.result["body"] == {"user": "a b&c", "q": {"tag": "x@evil.com/#"}}
    assert state.result["headers"]["content-type"] == "application/json"


async def test_post_json_with_headers(server: str) -> None:
    definition = one_request(url=server + "/echo", method="POST", body={"k": [1, 2]},
                             headers={"X-Token": "t0k"}, allow_private_network=True)  # fmt: skip
    state = await run(definition)
    assert state.result["body"] == {"got": {"k": [1, 2]}, "auth": "t0k"}


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
async def test_size_limit(server: str, path: str) -> None:
    state = await run(one_request(url=server + path, allow_private_network=True))
    assert state.status is WorkflowStatus.FAILED
    assert "response is larger than max_bytes=1048576" in state.error
    small = await run(one_request(url=server + path, max_bytes=4 * BIG, allow_private_network=True))
    assert small.status is WorkflowStatus.COMPLETED and len(small.result["body"]) >= BIG


async def test_time_limit(server: str) -> None:
    state = await run(one_request(url=server + "/slow", timeout=0.2, allow_private_network=True))
    assert state.status is WorkflowStatus.FAILED
    assert "took longer than 0.2s" in state.error or "timed out after 0.2s" in state.error


async def test_redirects_are_checked_and_bounded(server: str) -> None:
    ok = await run(one_request(url=server + "/to-data", allow_private_network=True))
    assert ok.result["body"]["user"] == "redirected"
    refused = await run(one_request(url=server + "/to-file", allow_private_network=True))
    assert "only http and https URLs are allowed, not 'file:'" in refused.error
    looping = await run(one_request(url=server + "/loop", allow_private_network=True))
    assert "more than 5 redirects" in looping.error


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://localhost:8080/x", "localhost is a loopback name"),
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://192.168.0.1/", "192.168.0.1"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://[::1]/", "::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://100.64.0.1/", "100.64.0.1"),
        ("http://224.0.0.1/", "224.0.0.1"),
        ("ftp://example.com/x", "only http and https"),
        ("http://user:pw@93.184.216.34/", "credentials in URLs are refused"),
        ("http:///nohost", "no host"),
    ],
)
async def test_url_rules(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError) as info:
        await check_url(url)
    assert message in info.value.message


async def test_public_addresses_pass_the_check() -> None:
    parsed = await check_url("https://93.184.216.34:8443/path?q=1")
    assert parsed.host == "93.184.216.34" and parsed.port == 8443
    assert (await check_url("http://10.0.0.1/", allow_private_network=True)).host == "10.0.0.1"


@pytest.mark.parametrize("status", [302, 307])
async def test_credentials_are_not_forwarded_to_another_host(
    server: str, other_host: tuple[list[dict[str, str]], str], status: int
) -> None:
    seen, other = other_host
    seen.clear()
    url = f"{server}/to?status={status}&url={quote(other + '/echo', safe='')}"
    headers = {"Authorization": "Bearer t0k", "X-Api-Key": "k3y", "X-Trace": "t-1"}
    state = await run(one_request(url=url, headers=headers, allow_private_network=True))
    assert state.status is WorkflowStatus.COMPLETED, state.error
    received = state.result["body"]["headers"]
    assert received["x-trace"] == "t-1"
    assert "authorization" not in received and "x-api-key" not in received
    assert len(seen) == 1


async def test_allow_list_from_the_settings(
    server: str, other_host: tuple[list[dict[str, str]], str]
) -> None:
    seen, other = other_host
    seen.clear()
    settings = Settings(outbound_allow_hosts="127.0.0.1")
    ok = await run(one_request(url=server + "/data/7"), settings)
    assert ok.status is WorkflowStatus.COMPLETED and ok.result["body"]["user"] == "7"
    # A redirect to a host the list does not name is refused; that host sees nothing.
    url = f"{server}/to?url={quote(other + '/echo', safe='')}"
    refused = await run(one_request(url=url), settings)
    assert refused.status is WorkflowStatus.FAILED and seen == []
    assert "Refused to connect to 127.0.0.2: 127.0.0.2 is a loopback address" in refused.error
