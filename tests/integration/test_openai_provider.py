"""OpenAIProvider against a local server speaking OpenAI's wire format."""

from __future__ import annotations

import pytest

from liteagent.errors import LLMProviderError, LLMRateLimitError, LLMUnavailableError
from liteagent.llm import ChatOptions
from liteagent.llm.openai_provider import OpenAIProvider

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add numbers",
            "parameters": {"type": "object", "properties": {"a": {"type": "number"}}},
        },
    },
)


def provider(url: str) -> OpenAIProvider:
    return OpenAIProvider(api_key="sk-test-secret-000000000", model_name="gpt-test", base_url=url)


async def test_chat_and_usage(openai_server) -> None:
    server, url = openai_server
    server.reply_text("Paris is the capital.", prompt_tokens=20, completion_tokens=5)
    resp = await provider(url).chat(
        [{"role": "user", "content": "capital of France?"}],
        ChatOptions(temperature=0.2, max_tokens=50),
    )
    assert resp.content == "Paris is the capital."
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (20, 5)
    body = server.requests[0]["body"]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test-secret-000000000"


async def test_stream_text_and_usage(openai_server) -> None:
    server, url = openai_server
    server.reply_text("one two three", completion_tokens=3)
    chunks = [c async for c in provider(url).stream([{"role": "user", "content": "count"}])]
    assert "".join(c.content for c in chunks).strip() == "one two three"
    assert sum(1 for c in chunks if c.content) == 3
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(openai_server, stream: bool) -> None:
    server, url = openai_server
    server.reply_tool_call("add", {"a": 2})
    p = provider(url)
    msgs = [{"role": "user", "content": "add 2"}]
    if stream:
        calls = [c async for c in p.stream(msgs, ChatOptions(tools=TOOLS))][-1].tool_calls
    else:
        calls = (await p.chat(msgs, ChatOptions(tools=TOOLS))).tool_calls
    assert calls[0].name == "add" and calls[0].parsed_arguments() == {"a": 2}
    assert server.requests[0]["body"]["tools"][0]["function"]["name"] == "add"


async def test_errors_name_provider_not_key(openai_server) -> None:
    server, url = openai_server
    server.reply_error(500, "internal")
    with pytest.raises(LLMUnavailableError) as err:
        await provider(url).chat([{"role": "user", "content": "x"}])
    assert "openai/gpt-test" in err.value.message and "sk-test-secret" not in err.value.message
    server.reply_error(429, "slow down", headers={"retry-after": "3"})
    with pytest.raises(LLMRateLimitError) as rl:
        await provider(url).chat([{"role": "user", "content": "x"}])
    assert rl.value.retry_after == 3.0
    server.reply_error(401, "Incorrect API key provided: sk-test-secret-000000000")
    with pytest.raises(LLMProviderError) as auth:
        await provider(url).chat([{"role": "user", "content": "x"}])
    assert "authentication failed" in auth.value.message
    assert "sk-test-secret" not in auth.value.message


async def test_connection_refused_is_unavailable() -> None:
    from tests.servers.http import free_port

    with pytest.raises(LLMUnavailableError, match="could not connect"):
        await provider(f"http://127.0.0.1:{free_port()}/v1").chat(
            [{"role": "user", "content": "x"}]
        )


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_call_round_trip(openai_server, stream: bool) -> None:
    from liteagent.llm import LLMMessage

    server, url = openai_server
    p = provider(url)
    server.reply_tool_call("add", {"a": 2})
    server.reply_text("The sum is 2.", prompt_tokens=30, completion_tokens=4)
    history: list = [{"role": "user", "content": "add 2"}]
    if stream:
        calls = [c async for c in p.stream(history, ChatOptions(tools=TOOLS))][-1].tool_calls
    else:
        calls = (await p.chat(history, ChatOptions(tools=TOOLS))).tool_calls
    history += [
        LLMMessage(role="assistant", content=None, tool_calls=calls),
        LLMMessage(role="tool", content="2", tool_call_id=calls[0].id),
    ]
    answer = await p.chat(history, ChatOptions(tools=TOOLS))
    assert answer.content == "The sum is 2." and answer.usage.total_tokens == 34
    sent = server.requests[1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2}'}
    assert sent[2] == {"role": "tool", "content": "2", "tool_call_id": calls[0].id}


async def test_no_key_sends_no_authorization_header(openai_server) -> None:
    server, url = openai_server
    server.reply_text("open server")
    await OpenAIProvider(model_name="m", base_url=url).chat([{"role": "user", "content": "x"}])
    assert "authorization" not in server.requests[0]["headers"]
