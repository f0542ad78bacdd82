"""The ASGI body guard: non-object JSON refused with a 400, everything else passed intact."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from liteagent.proxy.body_guard import JSONBodyGuard, install_body_guard


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"length": len(body), "body": body.decode()})


def make_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/chat/completions", echo, methods=["POST"]),
            Route("/other", echo, methods=["POST"]),
        ]
    )


async def post(app: Any, path: str, content: bytes, content_type: str = "application/json") -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, content=content, headers={"content-type": content_type})


@pytest.mark.parametrize("body", ["[]", "null", "1", "true", '"x"', " [1, 2]", "[{}]"])
async def test_non_object_json_is_a_400(body: str) -> None:
    response = await post(JSONBodyGuard(make_app()), "/v1/chat/completions", body.encode())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "request_body"
    assert "must be a JSON object" in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/v1/chat/completions", json.dumps({"model": "m", "x": "y" * 99_999}), "application/json"),
        ("/v1/chat/completions", "{not json", "application/json"),
        ("/v1/chat/completions", "[]", "text/plain"),
        ("/other", "[]", "application/json"),
        ("/v1/chat/completions", "", "application/json"),
    ],
)
async def test_everything_else_passes_with_its_body_intact(
    path: str, body: str, content_type: str
) -> None:
    response = await post(JSONBodyGuard(make_app()), path, body.encode(), content_type)
    assert response.status_code == 200
    assert response.json() == {"length": len(body.encode()), "body": body}


async def test_a_body_sent_in_chunks_is_replayed_whole() -> None:
    body = json.dumps({"model": "m", "messages": ["a" * 5000]}).encode()

    async def chunks() -> Any:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    transport = httpx.ASGITransport(app=JSONBodyGuard(make_app()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/v1/chat/completions", content=chunks())
    assert response.json()["body"] == body.decode()


async def test_install_wraps_a_built_or_unbuilt_stack_once() -> None:
    app = make_app()
    assert install_body_guard(app) is True  # not built yet: wrapped when Starlette builds it
    assert install_body_guard(app) is True
    assert (await post(app, "/v1/chat/completions", b"[]")).status_code == 400
    built = make_app()
    assert (await post(built, "/v1/chat/completions", b"{}")).status_code == 200  # builds it
    install_body_guard(built)
    assert (await post(built, "/v1/chat/completions", b"[]")).status_code == 400
    assert isinstance(built.middleware_stack, JSONBodyGuard)
