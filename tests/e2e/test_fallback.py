"""End to end: a catalog agent whose primary model is down answers through its fallback chain,
through the real LiteLLM proxy, and the response says which model answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

PRIMARY_KEY = "sk-primary-secret-0123456789abcdef"
BACKUP_KEY = "sk-backup-secret-0123456789abcdef"

CATALOG = """
providers:
  primary:
    type: openai
    base_url: {primary}
    api_key: os.environ/PRIMARY_UPSTREAM_KEY
    circuit_breaker: {{failure_threshold: 3, recovery_timeout: 3600}}
  backup:
    type: openai
    base_url: {backup}
    api_key: os.environ/BACKUP_UPSTREAM_KEY
  resilient:
    fallbacks: [primary/gpt-primary, backup/gpt-backup]
    retry: {{max_retries: 0}}

models:
  sturdy:
    description: Answers through a fallback chain.
    model: resilient
    system_prompt: You are sturdy.
  offline-rescue:
    description: Falls back to the bundled local model.
    model:
      fallbacks: [primary/gpt-primary, local/smollm2]
      retry: {{max_retries: 0}}
    max_tokens: 24
    system_prompt: You are a helpful assistant. Answer briefly.
"""


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[OpenAIWireServer, OpenAIWireServer, str, str]]:
    primary, backup = OpenAIWireServer(), OpenAIWireServer()
    primary.reply_error(503, "primary is down for maintenance", sticky=True)
    with serve_app(primary.app) as p_url, serve_app(backup.app) as b_url:
        yield primary, backup, f"{p_url}/v1", f"{b_url}/v1"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstreams) -> Iterator[Proxy]:
    _, _, primary_url, backup_url = upstreams
    catalog = CATALOG.format(primary=primary_url, backup=backup_url)
    project = make_project(tmp_path_factory.mktemp("fallback"), catalog)
    env = {"PRIMARY_UPSTREAM_KEY": PRIMARY_KEY, "BACKUP_UPSTREAM_KEY": BACKUP_KEY}
    with run_proxy(project, env, wait_for="liteagent/offline-rescue") as p:
        yield p


@pytest.fixture
def client(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=120, max_retries=0
    )


def test_primary_503_answers_through_the_fallback(client: openai.OpenAI, upstreams) -> None:
    primary, backup, _, _ = upstreams
    backup.reply_text("The backup model answered.", prompt_tokens=12, completion_tokens=5)
    raw = client.chat.completions.with_raw_response.create(
        model="liteagent/sturdy", messages=[{"role": "user", "content": "Are you there?"}]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content.strip() == "The backup model answered."
    assert resp.usage is not None and resp.usage.completion_tokens == 5
    meta: dict[str, Any] = (resp.model_extra or {})["liteagent"]
    assert meta["model"] == "backup/gpt-backup"
    assert meta["requested_model"] == "primary/gpt-primary"
    assert meta["fallback_used"] is True
    assert meta["attempts"] == [{"model": "primary/gpt-primary", "reason": "unavailable"}]
    # The same facts as response headers (LiteLLM prefixes provider headers).
    assert raw.headers["llm_provider-x-liteagent-model"] == "backup/gpt-backup"
    assert raw.headers["llm_provider-x-liteagent-requested-model"] == "primary/gpt-primary"
    assert raw.headers["llm_provider-x-liteagent-fallback"] == "true"
    # Credentials from os.environ/ references reached the right servers.
    assert primary.requests[-1]["headers"]["authorization"] == f"Bearer {PRIMARY_KEY}"
    assert backup.requests[-1]["headers"]["authorization"] == f"Bearer {BACKUP_KEY}"


def test_streamed_answer_names_the_model_in_its_last_chunk(
    client: openai.OpenAI, upstreams
) -> None:
    _, backup, _, _ = upstreams
    backup.reply_text("streamed from the backup")
    stream = client.chat.completions.create(
        model="liteagent/sturdy",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream please."}],
    )
    text, metas = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if (chunk.model_extra or {}).get("liteagent"):
            metas.append(chunk.model_extra["liteagent"])
    assert "".join(text).strip() == "streamed from the backup"
    assert len(metas) == 1 and metas[0]["model"] == "backup/gpt-backup"
    assert metas[0]["requested_model"] == "primary/gpt-primary"


def test_circuit_opens_and_the_primary_is_no_longer_called(
    client: openai.OpenAI, upstreams, proxy: Proxy
) -> None:
    primary, backup, _, _ = upstreams
    for _ in range(4):
        backup.reply_text("ok")
        client.chat.completions.create(
            model="liteagent/sturdy", messages=[{"role": "user", "content": "ping"}]
        )
    calls_before = len(primary.requests)
    assert calls_before >= 3  # the threshold was reached
    backup.reply_text("still here")
    resp = client.chat.completions.create(
        model="liteagent/sturdy", messages=[{"role": "user", "content": "ping"}]
    )
    assert len(primary.requests) == calls_before  # skipped: no request to the broken server
    assert (resp.model_extra or {})["liteagent"]["attempts"] == [
        {"model": "primary/gpt-primary", "reason": "circuit_open"}
    ]
    events = proxy.logs()
    assert any(e.get("event") == "circuit_opened" for e in events)
    fallbacks = [e for e in events if e.get("event") == "llm_fallback"]
    assert {e["reason"] for e in fallbacks} >= {"unavailable", "circuit_open"}
    completed = [e for e in events if e.get("event") == "request_completed"]
    assert completed[-1]["llm_model"] == "backup/gpt-backup"
    assert completed[-1]["requested_llm_model"] == "primary/gpt-primary"


@pytest.mark.local_llm
def test_falls_back_to_the_bundled_local_model(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="liteagent/offline-rescue",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert resp.choices[0].message.content.strip()
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    meta = (resp.model_extra or {})["liteagent"]
    assert meta["model"] == "local/smollm2" and meta["fallback_used"] is True


def test_no_credential_reaches_logs_or_responses(
    client: openai.OpenAI, proxy: Proxy, upstreams
) -> None:
    upstreams[1].reply_text("fine")
    resp = client.chat.completions.with_raw_response.create(
        model="liteagent/sturdy", messages=[{"role": "user", "content": "hi"}]
    )
    body = resp.http_response.text
    logs = proxy.log_text()
    for secret in (PRIMARY_KEY, BACKUP_KEY):
        assert secret not in body and secret not in logs
        assert secret not in str(dict(resp.headers))
