"""openai_compatible (Azure-style, vLLM…) and nvidia against a local OpenAI-wire server."""

from __future__ import annotations

import pytest

from liteagent.config import Settings
from liteagent.errors import ConfigurationError
from liteagent.llm import ChatOptions, create_provider
from liteagent.llm.openai_compatible import NvidiaProvider, OpenAICompatibleProvider

pytestmark = pytest.mark.integration


async def test_azure_style_api_version_and_key_header(openai_server) -> None:
    server, url = openai_server
    root = url.removesuffix("/v1")
    server.reply_text("from azure", prompt_tokens=4, completion_tokens=2)
    p = OpenAICompatibleProvider(
        api_key="azure-key-0123456789",
        model_name="gpt-4o",
        base_url=f"{root}/openai/deployments/my-gpt4o",
        api_version="2024-10-21",
        api_key_header="api-key",
        headers={"X-Tenant": "acme"},
    )
    resp = await p.chat([{"role": "user", "content": "hi"}])
    assert resp.content == "from azure" and resp.usage.total_tokens == 6
    req = server.requests[0]
    assert req["path"] == "/openai/deployments/my-gpt4o/chat/completions"
    assert req["query"] == {"api-version": "2024-10-21"}
    assert req["headers"]["api-key"] == "azure-key-0123456789"
    assert "authorization" not in req["headers"]
    assert req["headers"]["x-tenant"] == "acme"


async def test_vllm_style_bearer_and_stream(openai_server) -> None:
    server, url = openai_server
    server.reply_text("streamed from vllm", completion_tokens=3)
    p = OpenAICompatibleProvider(api_key="vllm-token-abcdef", model_name="qwen", base_url=url)
    chunks = [c async for c in p.stream([{"role": "user", "content": "hi"}], ChatOptions())]
    assert "".join(c.content for c in chunks).strip() == "streamed from vllm"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert server.requests[0]["headers"]["authorization"] == "Bearer vllm-token-abcdef"


def test_base_url_is_required() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_COMPATIBLE_BASE_URL"):
        create_provider("openai_compatible/x", settings=Settings(_env_file=None))


async def test_nvidia_from_settings(openai_server) -> None:
    server, url = openai_server
    server.reply_text("nim answer")
    settings = Settings(_env_file=None, nvidia_api_key="nvapi-test-0123456789", nvidia_base_url=url)
    p = create_provider("nvidia/meta/llama-3.1-8b-instruct", settings=settings)
    assert isinstance(p, NvidiaProvider)
    assert (await p.chat([{"role": "user", "content": "x"}])).content == "nim answer"
    req = server.requests[0]
    assert req["body"]["model"] == "meta/llama-3.1-8b-instruct"
    assert req["headers"]["authorization"] == "Bearer nvapi-test-0123456789"


def test_nvidia_hosted_needs_a_key() -> None:
    with pytest.raises(ConfigurationError, match="NVIDIA_API_KEY"):
        create_provider("nvidia/meta/llama-3.1-8b-instruct", settings=Settings(_env_file=None))
