"""End to end: the real LiteLLM proxy, started by README's command, used with the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e, pytest.mark.local_llm]

UPSTREAM_KEY = "sk-upstream-secret-abcdef123456"
CATALOG_EXTRA = """
  flaky:
    description: An agent whose upstream is down.
    model: openai/gpt-test
    system_prompt: You are flaky.
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream) -> Iterator[Proxy]:
    _, upstream_url = upstream
    root = Path(__file__).resolve().parents[2]
    catalog = (root / "liteagent.yaml").read_text() + CATALOG_EXTRA
    project = make_project(tmp_path_factory.mktemp("project"), catalog)
    env = {
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "OPENAI_BASE_URL": upstream_url,
        "LITEAGENT_DEFAULT_MODEL": "local/smollm2",
    }
    with run_proxy(project, env, wait_for="liteagent/flaky") as p:
        yield p


@pytest.fixture
def client(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=120, max_retries=0
    )


def test_models_are_listed(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list().data]
    assert "liteagent/assistant" in ids and "liteagent/flaky" in ids
    assert "liteagent/*" not in ids


def test_chat_non_streaming(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="liteagent/assistant",
        max_tokens=40,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert resp.choices[0].message.content.strip()
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0


def test_chat_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="liteagent/assistant",
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=40,
        messages=[{"role": "user", "content": "Name three colours."}],
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert len(pieces) > 1, pieces
    assert "".join(pieces).strip()
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0


def test_each_openwebui_user_gets_its_own_agent(client: openai.OpenAI, proxy: Proxy) -> None:
    def ask(user: str) -> None:
        client.chat.completions.create(
            model="liteagent/assistant",
            max_tokens=8,
            temperature=0.55,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-OpenWebUI-User-Id": user, "X-OpenWebUI-Chat-Id": "chat-1"},
        )

    ask("e2e-alice")
    ask("e2e-bob")
    ask("e2e-alice")
    events = [
        e
        for e in proxy.logs()
        if e.get("event") in ("agent_built", "agent_cache_hit")
        and str(e.get("user", "")).endswith(("/e2e-alice", "/e2e-bob"))
    ]
    built = [e["user"].rsplit("/", 1)[1] for e in events if e["event"] == "agent_built"]
    hits = [e["user"].rsplit("/", 1)[1] for e in events if e["event"] == "agent_cache_hit"]
    assert sorted(built) == ["e2e-alice", "e2e-bob"]
    assert hits == ["e2e-alice"]


def test_unknown_model_is_404_with_the_list(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model="liteagent/nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert "liteagent/assistant" in str(err.value)


@pytest.mark.parametrize("messages", [[], [{"role": "user"}], [{"role": "wizard", "content": "x"}]])
def test_bad_messages_are_400(proxy: Proxy, messages: list) -> None:
    r = httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        timeout=30,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "liteagent/assistant", "messages": messages},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"]


def test_master_key_is_required(proxy: Proxy) -> None:
    body = {"model": "liteagent/assistant", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{proxy.base_url}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 401
    r = httpx.get(f"{proxy.base_url}/v1/models", timeout=30)
    assert r.status_code == 401


def test_upstream_failure_names_provider_not_secret(
    client: openai.OpenAI, upstream, proxy: Proxy
) -> None:
    server, _ = upstream
    server.reply_error(503, "overloaded", sticky=True)  # also for LiteAgent's own retry
    try:
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(
                model="liteagent/flaky", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        server.replies.clear()
    assert err.value.status_code == 503
    message = err.value.response.json()["error"]["message"]
    assert "openai/gpt-test" in message and "overloaded" in message
    assert UPSTREAM_KEY not in message and "Traceback" not in message
    assert UPSTREAM_KEY not in proxy.log_text()


def test_proxy_still_serves_after_errors(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="liteagent/assistant",
        max_tokens=10,
        messages=[{"role": "user", "content": "Say ok."}],
    )
    assert resp.choices[0].message.content is not None
