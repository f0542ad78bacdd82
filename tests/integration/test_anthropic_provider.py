"""AnthropicProvider against a local server speaking Anthropic's Messages API."""

from __future__ import annotations

import json

import pytest

from liteagent.errors import (
    ConfigurationError,
    ContextWindowExceededError,
    LLMProviderError,
    LLMRateLimitError,
    LLMUnavailableError,
)
from liteagent.llm import ChatOptions, LLMMessage, LLMToolCall
from liteagent.llm.anthropic_provider import AnthropicProvider

pytestmark = pytest.mark.integration

KEY = "sk-ant-test-secret-0123456789"
TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
)


def provider(url: str, **kw) -> AnthropicProvider:
    return AnthropicProvider(api_key=KEY, model_name="claude-test", base_url=url, **kw)


async def test_chat_system_prompt_and_usage(anthropic_server) -> None:
    server, url = anthropic_server
    server.reply_text("Bonjour!", input_tokens=21, output_tokens=3)
    resp = await provider(url).chat(
        [
            {"role": "system", "content": "Answer in French."},
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        ChatOptions(temperature=0.2, max_tokens=64),
    )
    assert resp.content == "Bonjour!"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (21, 3)
    assert resp.finish_reason == "stop"
    request = server.requests[0]
    body = request["body"]
    assert body["system"] == "Answer in French.\n\nBe brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Say hello"}]}
    ]
    assert body["max_tokens"] == 64 and body["temperature"] == 0.2
    assert request["headers"]["x-api-key"] == KEY
    assert "anthropic-version" in request["headers"]


async def test_max_tokens_default_is_sent(anthropic_server) -> None:
    server, url = anthropic_server
    server.reply_text("ok")
    await provider(url, default_max_tokens=321).chat([{"role": "user", "content": "hi"}])
    assert server.requests[0]["body"]["max_tokens"] == 321


async def test_stream_text_reasoning_and_usage(anthropic_server) -> None:
    server, url = anthropic_server
    server.reply_text(
        "one two three four", thinking="Let me count.", input_tokens=30, output_tokens=4
    )
    chunks = [c async for c in provider(url).stream([{"role": "user", "content": "count"}])]
    assert "".join(c.content for c in chunks) == "one two three four"
    assert sum(1 for c in chunks if c.content) == 4  # streamed piece by piece
    assert "".join(c.reasoning for c in chunks) == "Let me count."
    last = chunks[-1]
    assert last.usage is not None and (last.usage.prompt_tokens, last.usage.completion_tokens) == (
        30,
        4,
    )
    assert last.finish_reason == "stop"
    assert server.requests[0]["body"]["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_use_round_trip(anthropic_server, stream: bool) -> None:
    server, url = anthropic_server
    p = provider(url)
    server.reply_tool_use("get_weather", {"city": "Paris"}, text="Let me check.")
    server.reply_text("It is sunny in Paris.")
    history: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    opts = ChatOptions(tools=TOOLS, tool_choice="required")
    if stream:
        chunks = [c async for c in p.stream(history, opts)]
        calls, text = chunks[-1].tool_calls, "".join(c.content for c in chunks)
        assert chunks[-1].finish_reason == "tool_calls"
    else:
        first = await p.chat(history, opts)
        calls, text = first.tool_calls, first.content
        assert first.finish_reason == "tool_calls"
    assert text == "Let me check."
    assert calls[0].name == "get_weather" and calls[0].parsed_arguments() == {"city": "Paris"}
    sent = server.requests[0]["body"]
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}

    # Send the tool result back: the answer comes from the model's second turn.
    history += [
        LLMMessage(role="assistant", content=text, tool_calls=calls),
        LLMMessage(role="tool", content="sunny, 24C", tool_call_id=calls[0].id),
    ]
    answer = await p.chat(history, opts)
    assert answer.content == "It is sunny in Paris."
    second = server.requests[1]["body"]["messages"]
    assert second[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": calls[0].id,
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
    }
    assert second[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny, 24C"}],
    }


async def test_two_tool_results_merge_into_one_user_turn(anthropic_server) -> None:
    server, url = anthropic_server
    server.reply_text("done")
    calls = (LLMToolCall("t1", "a", "{}"), LLMToolCall("t2", "b", json.dumps({"x": 1})))
    await provider(url).chat(
        [
            {"role": "user", "content": "go"},
            LLMMessage(role="assistant", tool_calls=calls),
            LLMMessage(role="tool", content="A", tool_call_id="t1"),
            LLMMessage(role="tool", content="B", tool_call_id="t2"),
        ]
    )
    msgs = server.requests[0]["body"]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert [b["tool_use_id"] for b in msgs[2]["content"]] == ["t1", "t2"]


async def test_errors_are_classified(anthropic_server) -> None:
    server, url = anthropic_server
    p = provider(url)
    msgs = [{"role": "user", "content": "x"}]
    server.reply_error(529, "overloaded_error", "Overloaded")
    with pytest.raises(LLMUnavailableError, match="overloaded") as overloaded:
        await p.chat(msgs)
    assert overloaded.value.upstream_status == 529
    server.reply_error(429, "rate_limit_error", "Too many", headers={"retry-after": "7"})
    with pytest.raises(LLMRateLimitError) as limited:
        await p.chat(msgs)
    assert limited.value.retry_after == 7.0
    server.reply_error(
        400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"
    )
    with pytest.raises(ContextWindowExceededError):
        await p.chat(msgs)
    server.reply_error(401, "authentication_error", f"invalid x-api-key {KEY}")
    with pytest.raises(LLMProviderError, match="authentication failed") as auth:
        await p.chat(msgs)
    assert KEY not in auth.value.message


async def test_overloaded_event_mid_stream(anthropic_server) -> None:
    server, url = anthropic_server
    server.reply_stream_error("one two three four", after=2)
    chunks = []
    with pytest.raises(LLMUnavailableError, match="overloaded") as err:
        async for chunk in provider(url).stream([{"role": "user", "content": "x"}]):
            chunks.append(chunk)
    assert "".join(c.content for c in chunks) == "one two"
    assert err.value.upstream_status == 529


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider(api_key=None, model_name="claude-test")
