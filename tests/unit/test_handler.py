"""The handler driven the way LiteLLM drives it, with the in-package scripted model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import litellm
import pytest
import yaml
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import ModelResponse

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM


def make_handler(tmp_path: Path, script: list[Any], **extra_models: dict[str, Any]) -> LiteAgentLLM:
    script_file = tmp_path / "script.yaml"
    script_file.write_text(yaml.safe_dump(script))
    models = {"bot": {"system_prompt": "You are a test bot.", "model": f"scripted/{script_file}"}}
    models.update(extra_models)
    return LiteAgentLLM(
        settings=Settings(agent_cache_size=4), catalog=parse_catalog({"models": models})
    )


def call_kwargs(user: str | None = None, **optional: Any) -> dict[str, Any]:
    headers = {"x-openwebui-user-id": user} if user else {}
    return {
        "model_response": ModelResponse(),
        "optional_params": optional,
        "litellm_params": {
            "metadata": {"user_api_key_user_id": "owui", "headers": headers},
            "litellm_call_id": "req-1",
        },
    }


async def test_completion_returns_text_and_real_usage(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, ["Hello from the bot"])
    resp = await handler.acompletion(
        "bot", [{"role": "user", "content": "hi there"}], **call_kwargs()
    )
    assert resp.choices[0].message.content == "Hello from the bot"
    assert resp.model == "liteagent/bot"
    # prompt: system prompt (5 words) + "hi there" (2 words); completion: 4 words
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (7, 4)


async def test_stream_yields_several_text_chunks_then_usage(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, ["one two three four"])
    chunks = [
        c
        async for c in handler.astreaming(
            "liteagent/bot", [{"role": "user", "content": "count"}], **call_kwargs()
        )
    ]
    texts = [c["text"] for c in chunks if isinstance(c, dict) and c["text"]]
    assert "".join(texts) == "one two three four" and len(texts) == 4
    final = chunks[-1]
    assert final["is_finished"] and final["usage"]["completion_tokens"] == 4


def tool_handler(tmp_path: Path, script: list[Any]) -> LiteAgentLLM:
    """A bot with a tool: its runner holds its user's tool context, so it is cached per user."""
    script_file = tmp_path / "script.yaml"
    script_file.write_text(yaml.safe_dump(script))
    models = {
        "bot": {
            "system_prompt": "You are a test bot.",
            "model": f"scripted/{script_file}",
            "tools": ["calculator"],
        }
    }
    settings = Settings(
        agent_cache_size=4, database_url=f"sqlite+aiosqlite:///{tmp_path}/liteagent.db"
    )
    return LiteAgentLLM(settings=settings, catalog=parse_catalog({"models": models}))


async def test_agents_with_tools_are_cached_per_user_and_options(tmp_path: Path) -> None:
    handler = tool_handler(tmp_path, ["a", "b", "c", "d"])
    msgs = [{"role": "user", "content": "hi"}]
    await handler.acompletion("bot", msgs, **call_kwargs(user="alice"))
    await handler.acompletion("bot", msgs, **call_kwargs(user="alice"))
    await handler.acompletion("bot", msgs, **call_kwargs(user="bob"))
    await handler.acompletion("bot", msgs, **call_kwargs(user="bob", temperature=0.9))
    assert len(handler.cache) == 3
    assert (handler.cache.stats.hits, handler.cache.stats.misses) == (1, 3)
    assert handler.cache.invalidate_user("owui/bob") == 2
    assert len(handler.cache) == 1


async def test_cache_is_bounded(tmp_path: Path) -> None:
    handler = tool_handler(tmp_path, ["x"] * 6)
    for i in range(6):
        await handler.acompletion(
            "bot", [{"role": "user", "content": "hi"}], **call_kwargs(user=f"user{i}")
        )
    assert len(handler.cache) == 4 and handler.cache.stats.evictions == 2


async def test_an_agent_without_tools_is_built_once_for_every_user(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, ["x"] * 81)  # one model, so one script for everyone
    msgs = [{"role": "user", "content": "hi"}]
    runners = []
    for i in range(40):  # ten times the cache's size, each user twice
        for _ in range(2):
            await handler.acompletion("bot", msgs, **call_kwargs(user=f"user{i}"))
            runners.append(next(iter(handler.cache._lru.values())))
    assert len({id(r) for r in runners}) == 1
    assert (handler.cache.stats.misses, handler.cache.stats.evictions) == (1, 0)
    assert handler.cache.stats.hits == 79
    await handler.acompletion("bot", msgs, **call_kwargs(user="user1", temperature=0.2))
    assert len(handler.cache) == 2  # options still make their own runner


async def test_history_is_sent_without_rendered_markup(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, ["ok"])
    msgs = [
        {"role": "user", "content": "first"},
        {
            "role": "assistant",
            "content": '<details type="tool_calls" done="true" id="1">\n'
            "<summary>Tool Executed</summary>\n</details>\nanswer one",
        },
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    await handler.acompletion("bot", msgs, **call_kwargs())
    runner = next(iter(handler.cache._lru.values()))
    sent, _ = runner.provider.calls[0]
    assert [(m.role, m.content) for m in sent] == [
        ("system", "You are a test bot."),
        ("user", "first"),
        ("assistant", "answer one"),
        ("user", "second"),
    ]


async def test_unknown_model_is_404_listing_models(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, ["x"])
    with pytest.raises(CustomLLMError) as err:
        await handler.acompletion(
            "liteagent/nope", [{"role": "user", "content": "hi"}], **call_kwargs()
        )
    assert err.value.status_code == 404
    assert "liteagent/bot" in err.value.message


@pytest.mark.parametrize("messages", [[], [{"role": "user"}], [{"role": "x", "content": "y"}]])
async def test_bad_messages_are_400(tmp_path: Path, messages: list[Any]) -> None:
    handler = make_handler(tmp_path, ["x"])
    with pytest.raises(CustomLLMError) as err:
        await handler.acompletion("bot", messages, **call_kwargs())
    assert err.value.status_code == 400
    with pytest.raises(CustomLLMError) as err:
        _ = [c async for c in handler.astreaming("bot", messages, **call_kwargs())]
    assert err.value.status_code == 400


async def test_upstream_failure_is_clean(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, [{"error": "boom with key sk-abcdefghijklmnopqrst"}])
    with pytest.raises(CustomLLMError) as err:
        await handler.acompletion("bot", [{"role": "user", "content": "hi"}], **call_kwargs())
    assert err.value.status_code == 502
    assert "scripted" in err.value.message
    assert "sk-abcdefghijklmnopqrst" not in err.value.message
    assert "Traceback" not in err.value.message


async def test_unexpected_errors_become_500_without_internals(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, [])
    handler.catalog = None  # type: ignore[assignment]  # any internal fault
    with pytest.raises(CustomLLMError) as err:
        await handler.acompletion("bot", [{"role": "user", "content": "hi"}], **call_kwargs())
    assert err.value.status_code == 500
    assert "request req-1" in err.value.message and "NoneType" not in err.value.message


def test_litellm_library_sync_and_stream(tmp_path: Path) -> None:
    """Library users call litellm.completion(); the sync methods drive the same async code."""
    handler = make_handler(tmp_path, ["sync answer", "streamed answer here"])
    previous = litellm.custom_provider_map
    litellm.custom_provider_map = [{"provider": "liteagent", "custom_handler": handler}]
    litellm.utils.custom_llm_setup()
    try:
        resp = litellm.completion(
            model="liteagent/bot", messages=[{"role": "user", "content": "q"}]
        )
        assert resp.choices[0].message.content == "sync answer"
        assert resp.usage.total_tokens > 0
        stream = litellm.completion(
            model="liteagent/bot", stream=True, messages=[{"role": "user", "content": "q"}]
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "streamed answer here"
    finally:
        litellm.custom_provider_map = previous
        handler.close()


async def test_runs_are_counted_by_outcome(tmp_path: Path) -> None:
    from liteagent.runtime.metrics import metrics

    handler = make_handler(tmp_path, ["Hello", "Hello again"])
    labels = {"model": "liteagent/bot"}
    started = metrics.get_counter("runs_started", labels)
    completed = metrics.get_counter("runs_completed", labels)
    cancelled = metrics.get_counter("runs_cancelled", labels)
    await handler.acompletion("bot", [{"role": "user", "content": "hi"}], **call_kwargs())
    stream = handler.astreaming(
        "liteagent/bot", [{"role": "user", "content": "hi"}], **call_kwargs("u2")
    )
    async for chunk in stream:
        if isinstance(chunk, dict) and chunk["text"]:
            break
    await stream.aclose()  # the client went away mid-answer
    assert metrics.get_counter("runs_started", labels) == started + 2
    assert metrics.get_counter("runs_completed", labels) == completed + 1
    assert metrics.get_counter("runs_cancelled", labels) == cancelled + 1
