"""OllamaProvider against a local server speaking Ollama's native API."""

from __future__ import annotations

import pytest

from liteagent.errors import LLMProviderError, LLMUnavailableError
from liteagent.llm import ChatOptions, LLMMessage
from liteagent.llm.ollama_provider import OllamaProvider

pytestmark = pytest.mark.integration

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            },
        },
    },
)


def provider(url: str, **kw) -> OllamaProvider:
    return OllamaProvider(model_name="llama3.2", base_url=url, **kw)


async def test_list_local_models(ollama_server) -> None:
    server, url = ollama_server
    server.models = ["llama3.2:latest", "mistral:7b", "nomic-embed-text:latest"]
    assert await provider(url).list_local_models() == [
        "llama3.2:latest",
        "mistral:7b",
        "nomic-embed-text:latest",
    ]


async def test_chat_options_and_usage(ollama_server) -> None:
    server, url = ollama_server
    server.reply_text("Paris.", prompt_eval_count=25, eval_count=2)
    resp = await provider(url, keep_alive="10m").chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        ChatOptions(temperature=0.1, max_tokens=20),
    )
    assert resp.content == "Paris."
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (25, 2)
    body = server.requests[0]["body"]
    assert body["stream"] is False
    assert body["options"] == {"temperature": 0.1, "num_predict": 20}
    assert body["keep_alive"] == "10m"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_stream_ndjson_and_usage(ollama_server) -> None:
    server, url = ollama_server
    server.reply_text("red green blue", thinking="Colours...", prompt_eval_count=9, eval_count=3)
    chunks = [c async for c in provider(url).stream([{"role": "user", "content": "colours"}])]
    assert "".join(c.content for c in chunks) == "red green blue"
    assert sum(1 for c in chunks if c.content) == 3
    assert "".join(c.reasoning for c in chunks) == "Colours..."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert chunks[-1].finish_reason == "stop"
    assert server.requests[0]["body"]["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_call_round_trip(ollama_server, stream: bool) -> None:
    server, url = ollama_server
    p = provider(url)
    server.reply_tool_call("add", {"a": 2, "b": 3})
    server.reply_text("2 + 3 = 5")
    history: list = [{"role": "user", "content": "add 2 and 3"}]
    opts = ChatOptions(tools=TOOLS)
    if stream:
        chunks = [c async for c in p.stream(history, opts)]
        calls = chunks[-1].tool_calls
        assert chunks[-1].finish_reason == "tool_calls"
    else:
        first = await p.chat(history, opts)
        calls = first.tool_calls
        assert first.finish_reason == "tool_calls"
    assert calls[0].name == "add" and calls[0].parsed_arguments() == {"a": 2, "b": 3}
    assert server.requests[0]["body"]["tools"][0]["function"]["name"] == "add"

    history += [
        LLMMessage(role="assistant", content="", tool_calls=calls),
        LLMMessage(role="tool", content="5", tool_call_id=calls[0].id),
    ]
    answer = await p.chat(history, opts)
    assert answer.content == "2 + 3 = 5"
    sent = server.requests[1]["body"]["messages"]
    # Ollama wants arguments as an object and the tool named on the result.
    assert sent[1]["tool_calls"] == [{"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]
    assert sent[2] == {"role": "tool", "content": "5", "tool_name": "add"}


async def test_errors(ollama_server) -> None:
    server, url = ollama_server
    server.reply_error(404, "model 'llama3.2' not found, try pulling it first")
    with pytest.raises(LLMProviderError, match="not found") as missing:
        await provider(url).chat([{"role": "user", "content": "x"}])
    assert missing.value.upstream_status == 404
    server.reply_error(503, "server busy")
    with pytest.raises(LLMUnavailableError, match="HTTP 503"):
        async for _ in provider(url).stream([{"role": "user", "content": "x"}]):
            pass


async def test_bearer_key_and_headers(ollama_server) -> None:
    server, url = ollama_server
    server.reply_text("hi")
    await provider(url, api_key="proxy-token-123456", headers={"X-Team": "ml"}).chat(
        [{"role": "user", "content": "x"}]
    )
    headers = server.requests[0]["headers"]
    assert headers["authorization"] == "Bearer proxy-token-123456"
    assert headers["x-team"] == "ml"


async def test_seed_factory_interface(ollama_server) -> None:
    from liteagent.llm import LLMProviderFactory, ProviderType

    server, url = ollama_server
    server.reply_text("via the factory")
    p = LLMProviderFactory.create(ProviderType.OLLAMA, None, "llama3.2", base_url=url)
    assert isinstance(p, OllamaProvider)
    assert (await p.chat([{"role": "user", "content": "x"}])).content == "via the factory"
    assert "llama3.2" in LLMProviderFactory.get_available_models(ProviderType.OLLAMA)
    assert LLMProviderFactory.get_available_models("anthropic")
