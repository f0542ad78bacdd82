"""Providers share one HTTP client per event loop, and runners built per user share it too.

Building a provider per user used to build an SDK client with its own HTTP client and SSL
context (the CA bundle loaded again). These tests count objects, not time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litellm.types.utils import ModelResponse

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.llm.anthropic_provider import AnthropicProvider
from liteagent.llm.http_clients import shared_ssl_context
from liteagent.llm.openai_provider import OpenAIProvider
from liteagent.proxy.custom_llm import LiteAgentLLM


def _http(provider: Any) -> Any:
    return provider._client._client  # the SDK client's HTTP client


async def test_providers_of_a_loop_share_one_http_client_and_closing_one_keeps_it(
    openai_server: Any,
) -> None:
    server, url = openai_server
    server.reply_text("first")
    server.reply_text("second")
    a = OpenAIProvider(api_key="sk-a-000000000000", model_name="m", base_url=url)
    b = OpenAIProvider(api_key="sk-b-000000000000", model_name="m", base_url=url)
    assert _http(a) is _http(b)
    assert (await a.chat([{"role": "user", "content": "hi"}])).content == "first"
    await a.aclose()  # an evicted runner closes its provider: the shared client stays open
    assert (await b.chat([{"role": "user", "content": "hi"}])).content == "second"
    # each provider still sends its own key
    keys = [r["headers"]["authorization"] for r in server.requests]
    assert keys == ["Bearer sk-a-000000000000", "Bearer sk-b-000000000000"]


async def test_anthropic_providers_share_a_client_too(anthropic_server: Any) -> None:
    _, url = anthropic_server
    a = AnthropicProvider(api_key="sk-ant-a-0000000000", model_name="c", base_url=url)
    b = AnthropicProvider(api_key="sk-ant-b-0000000000", model_name="c", base_url=url)
    assert _http(a) is _http(b)
    assert _http(a) is not _http(OpenAIProvider(api_key="k", base_url=url))


def test_each_event_loop_gets_its_own_client_on_one_ssl_context() -> None:
    async def build() -> Any:
        return _http(OpenAIProvider(api_key="sk-x-000000000000", model_name="m"))

    first, second = asyncio.run(build()), asyncio.run(build())
    assert first is not second  # a connection pool belongs to its loop
    assert shared_ssl_context() is shared_ssl_context()


def _helper_catalog(url: str) -> Any:
    return parse_catalog(
        {
            "providers": {"up": {"type": "openai", "base_url": url, "api_key": "sk-up-00000000"}},
            "models": {
                # a tool makes the runner per user: each user gets their own runner and provider
                "helper": {
                    "model": "up/gpt-test",
                    "system_prompt": "Help.",
                    "tools": ["calculator"],
                }
            },
        }
    )


async def _ask_as(handler: LiteAgentLLM, user: str) -> None:
    """One request to ``helper`` as the Open WebUI user ``user``."""
    await handler.acompletion(
        "helper",
        [{"role": "user", "content": "hi"}],
        model_response=ModelResponse(),
        optional_params={},
        litellm_params={"metadata": {"headers": {"x-openwebui-user-id": user}}},
    )


async def test_runners_built_per_user_share_the_http_client(
    tmp_path: Path, openai_server: Any
) -> None:
    server, url = openai_server
    for _ in range(30):
        server.reply_text("ok")
    settings = Settings(
        agent_cache_size=8, database_url=f"sqlite+aiosqlite:///{tmp_path}/liteagent.db"
    )
    handler = LiteAgentLLM(settings=settings, catalog=_helper_catalog(url))
    clients = []
    for i in range(30):
        await _ask_as(handler, f"user{i}")
        runners = list(handler.cache._lru.values())
        clients.extend(_http(_provider_of(r)) for r in runners)
    assert handler.cache.stats.misses == 30 and handler.cache.stats.evictions == 22
    assert len(clients) > 30 and len({id(c) for c in clients}) == 1
    assert len(server.requests) == 30


def _provider_of(runner: Any) -> Any:
    (provider,) = runner.provider._providers.values()  # ResilientLLM builds it on first use
    return provider


async def test_the_agent_cache_keeps_runners_within_its_memory_budget(
    tmp_path: Path, openai_server: Any
) -> None:
    server, url = openai_server
    for _ in range(12):
        server.reply_text("ok")
    catalog = _helper_catalog(url)
    db = f"sqlite+aiosqlite:///{tmp_path}/liteagent.db"
    one = LiteAgentLLM(settings=Settings(database_url=db), catalog=catalog)
    await _ask_as(one, "user0")
    size = one.cache.cached_bytes  # what one user's runner holds of its own
    assert 0 < size < 1_000_000
    budget = 3.5 * size / 2**20
    handler = LiteAgentLLM(
        settings=Settings(database_url=db, agent_cache_mb=budget, agent_cache_size=100),
        catalog=catalog,
    )
    for i in range(10):
        await _ask_as(handler, f"user{i}")
    assert len(handler.cache) == 3 and handler.cache.stats.evictions == 7
    assert handler.cache.cached_bytes <= budget * 2**20
    await one.aclose()
    await handler.aclose()
