"""End to end: the management API mounted on two real proxy replicas sharing one PostgreSQL.

An agent created through replica 1's API answers as ``liteagent/<name>`` through the ``openai``
SDK and is listed in ``/v1/models`` on both replicas; a new system prompt is used by the next
answer; deleted, it is gone from both. A provider's API key never appears in a response, a log
line or a database cell.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer
from tests.servers.pgvector_server import embedded_postgres
from tests.servers.postgres_db import scratch_database

pytestmark = [pytest.mark.e2e]

CATALOG = """
models:
  yaml-bot:
    system_prompt: You are the YAML bot.
    model: openai/gpt-test
"""
PROVIDER_KEY = "sk-e2e-provider-secret-9d8c7b6a5f4e"
API = "/liteagent/api"
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def database_url() -> Iterator[str]:
    with embedded_postgres() as uri, scratch_database(uri) as url:
        yield url


def _cells(url: str) -> list[str]:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    cells: list[str] = []
    with psycopg.connect(libpq) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                cells += [str(v) for v in row if v is not None]
    return cells


def _client(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def _models(proxy: Proxy) -> set[str]:
    return {m.id for m in _client(proxy).models.list()}


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _a2a_agents(proxy: Proxy) -> set[str]:
    r = httpx.get(f"{proxy.base_url}/liteagent/a2a/")
    assert r.status_code == 200, r.text
    return {agent["name"] for agent in r.json()["agents"]}


def _answer(proxy: Proxy, model: str) -> str:
    reply = _client(proxy).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}]
    )
    return (reply.choices[0].message.content or "").strip()


def _system_prompt(server: OpenAIWireServer) -> str:
    return str(server.requests[-1]["body"]["messages"][0]["content"])


def test_runtime_agents_on_two_replicas(tmp_path: Path, database_url: str) -> None:
    server = OpenAIWireServer()
    with serve_app(server.app) as upstream:
        env = {
            "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
            "OPENAI_BASE_URL": f"{upstream}/v1",
            "LITEAGENT_DATABASE_URL": database_url,
            "LITEAGENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "LITEAGENT_CATALOG_REFRESH_SECONDS": "1",
        }
        folders = [tmp_path / "one", tmp_path / "two"]
        for folder in folders:
            folder.mkdir()
        with (
            run_proxy(make_project(folders[0], CATALOG), env, wait_for="liteagent/yaml-bot") as one,
            run_proxy(
                make_project(folders[1], CATALOG),
                env,
                command="litellm",
                wait_for="liteagent/yaml-bot",
            ) as two,
        ):
            _check(one, two, server, f"{upstream}/v1", database_url)


def _check(
    one: Proxy, two: Proxy, server: OpenAIWireServer, upstream: str, database_url: str
) -> None:
    api = httpx.Client(base_url=f"{one.base_url}{API}", timeout=30)
    responses: list[str] = []
    # mounted on both start paths (liteagent serve, litellm --config), with LiteLLM's keys
    for proxy in (one, two):
        assert httpx.get(f"{proxy.base_url}{API}/openapi.json").status_code == 200
        assert httpx.get(f"{proxy.base_url}{API}/agents").status_code == 401
        wrong = httpx.get(
            f"{proxy.base_url}{API}/agents", headers={"Authorization": "Bearer sk-wrong-000000"}
        )
        assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    # a name liteagent.yaml uses: refused
    r = api.post("/agents", json={"name": "yaml-bot", "system_prompt": "x"}, headers=ADMIN)
    assert r.status_code == 409

    r = api.post(
        "/providers",
        json={
            "name": "team-llm",
            "provider_type": "openai",
            "model_name": "gpt-team",
            "api_key": PROVIDER_KEY,
            "base_url": upstream,
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    responses.append(r.text)
    provider = r.json()
    r = api.post(
        "/agents",
        json={"name": "api-bot", "system_prompt": "Prompt one.", "provider_id": provider["id"]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    responses.append(r.text)
    agent = r.json()

    # served at once by the replica that stored it, listed in /v1/models
    assert "liteagent/api-bot" in _models(one)
    server.reply_text("first answer")
    assert _answer(one, "liteagent/api-bot") == "first answer"
    assert _system_prompt(server) == "Prompt one."
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert "api-bot" in _a2a_agents(one)  # an A2A agent too
    # and by the other replica within the refresh interval
    _wait(lambda: "liteagent/api-bot" in _models(two), "replica 2 to list the agent")
    assert "api-bot" in _a2a_agents(two)
    server.reply_text("second answer")
    assert _answer(two, "liteagent/api-bot") == "second answer"

    # chat through the API: through LiteLLM (its call id), then the handler, streamed or not
    server.reply_text("api answer")
    r = api.post(f"/agents/{agent['id']}/chat", json={"message": "hi"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["content"].strip() == "api answer" and r.json()["litellm_call_id"]
    server.reply_text("streamed api answer")
    with api.stream(
        "POST",
        f"/agents/{agent['id']}/chat",
        json={"message": "hi", "stream": True},
        headers=ADMIN,
    ) as streamed:
        assert streamed.status_code == 200
        lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(
        (c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices")
    )
    assert text.strip() == "streamed api answer"
    # a wrong key: refused before anything runs
    r = api.post(
        f"/agents/{agent['id']}/chat",
        json={"message": "hi"},
        headers={"Authorization": "Bearer sk-not-a-key-0000"},
    )
    assert r.status_code == 401

    # a new system prompt: the next answer on either replica uses it
    r = api.patch(f"/agents/{agent['id']}", json={"system_prompt": "Prompt two."}, headers=ADMIN)
    assert r.status_code == 200
    responses.append(r.text)
    server.reply_text("third answer")
    assert _answer(one, "liteagent/api-bot") == "third answer"
    assert _system_prompt(server) == "Prompt two."
    version = api.get("/meta/models", headers=ADMIN).json()["catalog_version"]

    def caught_up() -> bool:
        meta = httpx.get(f"{two.base_url}{API}/meta/models", headers=ADMIN).json()
        return bool(meta["catalog_version"] == version)

    _wait(caught_up, "replica 2 to load the change")
    server.reply_text("fourth answer")
    assert _answer(two, "liteagent/api-bot") == "fourth answer"
    assert _system_prompt(server) == "Prompt two."

    # deleted: 404 and gone from the lists of both replicas
    assert api.delete(f"/agents/{agent['id']}", headers=ADMIN).status_code == 204
    assert "liteagent/api-bot" not in _models(one)
    with pytest.raises(openai.NotFoundError):
        _answer(one, "liteagent/api-bot")
    _wait(lambda: "liteagent/api-bot" not in _models(two), "replica 2 to drop the agent")
    with pytest.raises(openai.NotFoundError):
        _answer(two, "liteagent/api-bot")
    assert "api-bot" not in _a2a_agents(one) and "api-bot" not in _a2a_agents(two)

    # the provider's key: in no response, no log line, no database cell
    for path in ("/providers", f"/providers/{provider['id']}", "/meta/models"):
        responses.append(api.get(path, headers=ADMIN).text)
    assert all(PROVIDER_KEY not in text for text in responses)
    assert PROVIDER_KEY not in one.log_text() and PROVIDER_KEY not in two.log_text()
    cells = _cells(database_url)
    assert any(c.startswith("enc:v1:") for c in cells)
    assert not [c for c in cells if PROVIDER_KEY in c]
