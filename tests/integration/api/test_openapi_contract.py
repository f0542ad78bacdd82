"""The OpenAPI document is the contract: every documented status of every operation is reached
by an explicit request, and schemathesis finds no server error anywhere in the schema."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from liteagent.api import LiteLLMKeyAuthenticator, create_app
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from liteagent.storage import get_database
from liteagent.storage.catalog_models import ApiAgentRecord
from liteagent.storage.catalog_store import CatalogRepository, new_id
from tests.integration.api.support import (
    MASTER,
    TEAM_A,
    TEAM_B,
    YAML_CATALOG,
    Api,
    auth,
    litellm_check,
    running_api,
)
from tests.servers.http import free_port, serve_app

pytestmark = pytest.mark.integration

LONG_ID = "x" * 65


class Coverage:
    """Explicit requests, each expecting one status; records (method, path, status) reached."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.reached: set[tuple[str, str, int]] = set()

    async def hit(
        self, method: str, template: str, status: int, token: str | None = MASTER, **kw: Any
    ) -> httpx.Response:
        ids = kw.pop("ids", {})
        headers = auth(token) if token else {}
        r = await self.client.request(method, template.format(**ids), headers=headers, **kw)
        assert r.status_code == status, (method, template, r.status_code, r.text)
        if status >= 400:
            assert r.json()["error"]["message"], r.text  # a clear OpenAI-shaped error
        self.reached.add((method.lower(), template, status))
        return r


def documented(app: Any) -> set[tuple[str, str, int]]:
    spec = app.openapi()
    return {
        (method, re.sub(r"\{\w+_id\}", "{id}", path), int(status))
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }


@pytest.fixture
def page_server() -> Iterator[tuple[dict[str, Any], str]]:
    state: dict[str, Any] = {"fail": False}

    async def page(_: Request) -> Response:
        if state["fail"]:
            return Response("down", status_code=500)
        return HTMLResponse("<html><body><p>Release notes</p></body></html>")

    with serve_app(Starlette(routes=[Route("/page", page)])) as url:
        yield state, f"{url}/page"


async def test_every_documented_status_is_reached(
    tmp_path: Path, page_server: tuple[dict[str, Any], str]
) -> None:
    state, page = page_server
    async with running_api(tmp_path, url_allow_private=True) as api:
        c = Coverage(api.client)
        await _providers(c)
        await _agents(c, api)
        await _datasources(c, state, page)
        for path in ("/meta/models", "/meta/rate-limit-status"):
            await c.hit("GET", path, 200)
            await c.hit("GET", path, 401, token=None)
        await c.hit("GET", "/health", 200, token=None)
        missing = documented(api.client._transport.app) - c.reached  # type: ignore[attr-defined]
    await _unhealthy(c, tmp_path)
    missing -= c.reached
    assert not missing, f"documented but never reached: {sorted(missing)}"


async def _providers(c: Coverage) -> None:
    body = {
        "name": "p1",
        "provider_type": "openai",
        "model_name": "m",
        "api_key": "sk-abc-12345678",
    }
    p = (await c.hit("POST", "/providers", 201, json=body)).json()
    await c.hit("POST", "/providers", 201, json={**body, "name": "p2"})
    await c.hit("POST", "/providers", 401, token=None, json=body)
    await c.hit("POST", "/providers", 409, json=body)
    await c.hit("POST", "/providers", 422, json={"name": "p3"})
    await c.hit("GET", "/providers", 200)
    await c.hit("GET", "/providers", 401, token=None)
    await c.hit("GET", "/providers", 422, params={"active_only": "perhaps"})
    one = "/providers/{id}"
    ids = {"id": p["id"]}
    await c.hit("GET", one, 200, ids=ids)
    await c.hit("GET", one, 401, token=None, ids=ids)
    await c.hit("GET", one, 404, token=TEAM_B, ids=ids)
    await c.hit("GET", one, 422, ids={"id": LONG_ID})
    await c.hit("PATCH", one, 200, ids=ids, json={"model_name": "m2"})
    await c.hit("PATCH", one, 401, token=None, ids=ids, json={})
    await c.hit("PATCH", one, 404, token=TEAM_A, ids=ids, json={})
    await c.hit("PATCH", one, 409, ids=ids, json={"name": "p2"})
    await c.hit("PATCH", one, 422, ids=ids, json={"provider_type": "nope"})
    await c.hit("POST", "/agents", 201, json={"name": "uses-p1", "system_prompt": "x",
                                              "provider_id": p["id"]})  # fmt: skip
    await c.hit("DELETE", one, 409, ids=ids)
    await c.hit("DELETE", one, 401, token=None, ids=ids)
    await c.hit("DELETE", one, 404, token=TEAM_B, ids=ids)
    await c.hit("DELETE", one, 422, ids={"id": LONG_ID})
    agents = (await c.client.get("/agents", headers=auth(MASTER))).json()
    await c.client.delete(f"/agents/{agents[0]['id']}", headers=auth(MASTER))
    await c.hit("DELETE", one, 204, ids=ids)


async def _agents(c: Coverage, api: Api) -> None:
    body = {"name": "cov-bot", "system_prompt": "Be brief.", "model": "openai/gpt-test"}
    a = (await c.hit("POST", "/agents", 201, json=body)).json()
    await c.hit("POST", "/agents", 401, token=None, json=body)
    await c.hit("POST", "/agents", 409, json={**body, "name": "yaml-bot"})
    await c.hit("POST", "/agents", 422, json={**body, "name": "x2", "tools": ["nope"]})
    await c.hit("GET", "/agents", 200)
    await c.hit("GET", "/agents", 401, token=None)
    one = "/agents/{id}"
    ids = {"id": a["id"]}
    await c.hit("GET", one, 200, ids=ids)
    await c.hit("GET", one, 401, token=None, ids=ids)
    await c.hit("GET", one, 404, token=TEAM_B, ids=ids)
    await c.hit("GET", one, 422, ids={"id": LONG_ID})
    await c.hit("PATCH", one, 200, ids=ids, json={"description": "short answers"})
    await c.hit("PATCH", one, 401, token=None, ids=ids, json={})
    await c.hit("PATCH", one, 404, token=TEAM_B, ids=ids, json={})
    await c.hit("PATCH", one, 409, ids=ids, json={"name": "yaml-bot"})
    await c.hit("PATCH", one, 422, ids=ids, json={"temperature": 7})
    chat = "/agents/{id}/chat"
    api.upstream.reply_text("Hi.")
    await c.hit("POST", chat, 200, ids=ids, json={"message": "hello"})
    await c.hit("POST", chat, 401, token=None, ids=ids, json={"message": "hello"})
    await c.hit("POST", chat, 404, token=TEAM_B, ids=ids, json={"message": "hello"})
    await c.hit("POST", chat, 422, ids=ids, json={"message": ""})
    api.upstream.reply_error(500, "upstream broke", sticky=True)
    await c.hit("POST", chat, 503, ids=ids, json={"message": "hello"})
    api.upstream.replies.clear()
    shadowed = await _shadowed_agent(api)
    await c.hit("POST", chat, 409, ids={"id": shadowed}, json={"message": "hello"})
    await c.hit("DELETE", one, 204, ids=ids)
    await c.hit("DELETE", one, 401, token=None, ids=ids)
    await c.hit("DELETE", one, 404, ids=ids)
    await c.hit("DELETE", one, 422, ids={"id": LONG_ID})


async def _shadowed_agent(api: Api) -> str:
    """A database agent named like a YAML entry (stored before the YAML entry existed)."""
    record = ApiAgentRecord(
        id=new_id(),
        name="yaml-bot",
        kind="agent",
        provider_id=None,
        definition=json.dumps({"system_prompt": "hidden"}),
        owner="team:team-a",
    )
    await CatalogRepository(get_database(api.handler.settings.database_url)).add_row(record)
    await api.handler.catalog_changed()
    return record.id


async def _datasources(c: Coverage, state: dict[str, Any], page: str) -> None:
    text = {"name": "t", "source_type": "text", "source": "Some text"}
    t = (await c.hit("POST", "/datasources", 201, json=text)).json()
    await c.hit("POST", "/datasources", 401, token=None, json=text)
    await c.hit("POST", "/datasources", 422, json={**text, "source_type": "ftp"})
    closed = f"http://127.0.0.1:{free_port()}/gone"
    await c.hit("POST", "/datasources", 502, json={"name": "u", "source_type": "url",
                                                   "source": closed})  # fmt: skip
    url = {"name": "u", "source_type": "url", "source": page}
    u = (await c.hit("POST", "/datasources", 201, json=url)).json()
    upload = "/datasources/upload"
    f = (await c.hit("POST", upload, 201, files={"file": ("a.md", b"# A", "text/markdown")})).json()
    await c.hit("POST", upload, 401, token=None, files={"file": ("a.md", b"# A", "text/markdown")})
    await c.hit("POST", upload, 422, files={"file": ("a.exe", b"MZ", "application/x-msdownload")})
    await c.hit("GET", "/datasources", 200)
    await c.hit("GET", "/datasources", 401, token=None)
    one = "/datasources/{id}"
    await c.hit("GET", one, 200, ids={"id": t["id"]})
    await c.hit("GET", one, 401, token=None, ids={"id": t["id"]})
    await c.hit("GET", one, 404, token=TEAM_B, ids={"id": t["id"]})
    await c.hit("GET", one, 422, ids={"id": LONG_ID})
    await c.hit("PATCH", one, 200, ids={"id": t["id"]}, json={"name": "renamed"})
    await c.hit("PATCH", one, 401, token=None, ids={"id": t["id"]}, json={})
    await c.hit("PATCH", one, 404, token=TEAM_B, ids={"id": t["id"]}, json={})
    await c.hit("PATCH", one, 409, ids={"id": f["id"]}, json={"source": "b.md"})
    await c.hit("PATCH", one, 422, ids={"id": t["id"]}, json={"name": None})
    await c.hit("PATCH", one, 502, ids={"id": u["id"]}, json={"source": closed})
    refresh = "/datasources/{id}/refresh"
    await c.hit("POST", refresh, 200, ids={"id": u["id"]})
    await c.hit("POST", refresh, 401, token=None, ids={"id": u["id"]})
    await c.hit("POST", refresh, 404, token=TEAM_B, ids={"id": u["id"]})
    await c.hit("POST", refresh, 409, ids={"id": f["id"]})
    await c.hit("POST", refresh, 422, ids={"id": LONG_ID})
    state["fail"] = True
    r = await c.hit("POST", refresh, 502, ids={"id": u["id"]})
    assert r.json()["error"]["message"]
    failed = (await c.client.get(f"/datasources/{u['id']}", headers=auth(MASTER))).json()
    assert failed["status"] == "error" and failed["error"]
    await c.hit("DELETE", one, 204, ids={"id": t["id"]})
    await c.hit("DELETE", one, 401, token=None, ids={"id": t["id"]})
    await c.hit("DELETE", one, 404, ids={"id": t["id"]})
    await c.hit("DELETE", one, 422, ids={"id": LONG_ID})


async def _unhealthy(c: Coverage, tmp_path: Path) -> None:
    """A handler whose database does not answer: /health says so with a 503."""
    closed = f"postgresql+psycopg://liteagent:secret@127.0.0.1:{free_port()}/liteagent"
    handler = LiteAgentLLM(
        settings=Settings(database_url=closed),
        catalog=parse_catalog(YAML_CATALOG),
    )
    app = create_app(handler=handler, authenticator=LiteLLMKeyAuthenticator(litellm_check))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as h:
        r = await h.get("/health")
        assert r.status_code == 503 and r.json()["status"] == "unhealthy"
        c.reached.add(("get", "/health", 503))
    await handler.aclose()


# ----------------------------------------------------------------- schemathesis
def _schema_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("schemathesis")
    handler = LiteAgentLLM(
        settings=Settings(
            database_url=f"sqlite+aiosqlite:///{folder}/liteagent.db",
            catalog_refresh_seconds=0,
            environment="test",
            openai_api_key="sk-none-000000000000",
            openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
        ),
        catalog=parse_catalog(YAML_CATALOG),
    )
    return create_app(handler=handler, authenticator=LiteLLMKeyAuthenticator(litellm_check))


@pytest.fixture(scope="module")
def schema_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _schema_app(tmp_path_factory)


def test_no_server_error_anywhere(schema_app: Any) -> None:
    """Every operation, with bodies and parameters generated from the schema, as an admin, a
    team and nobody: never a 500, always an OpenAI-shaped error body."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", schema_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    seen: dict[int, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            for token in (MASTER, TEAM_A, None):
                response = case.call(headers=auth(token) if token else {})
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                assert response.status_code < 500 or response.status_code in (502, 503), (
                    case.method,
                    case.formatted_path,
                    response.status_code,
                    response.text[:500],
                )
                if response.status_code >= 400:
                    assert response.json()["error"]["message"]

        check()

    # the generated requests were served, refused and challenged, not all stopped at the door
    assert {200, 201, 401, 404, 422} <= set(seen), seen
    assert sum(seen.values()) >= 3 * len(operations), seen


def test_openapi_docs_are_served(schema_app: Any) -> None:
    async def fetch() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=schema_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://d") as client:
            return (await client.get("/docs")).status_code, (
                await client.get("/openapi.json")
            ).status_code

    assert asyncio.run(fetch()) == (200, 200)
