import pytest

from liteagent.errors import ConfigurationError, ProviderNotFoundError
from liteagent.llm import (
    BaseLLMProvider,
    ScriptedModel,
    create_provider,
    llm_registry,
    parse_model_id,
)
from liteagent.llm.openai_provider import OpenAIProvider
from liteagent.registry import ProviderRegistry


def test_builtins_come_from_entry_points() -> None:
    names = llm_registry.list_providers()
    assert {"local", "openai", "scripted"} <= set(names)
    assert llm_registry.get_metadata("openai").source == "entry_point"
    assert llm_registry.get_class("openai") is OpenAIProvider


def test_register_decorator_factory_and_errors() -> None:
    reg: ProviderRegistry[object] = ProviderRegistry("widget")

    @reg.register("a", description="first")
    class A:
        def __init__(self, size: int = 1) -> None:
            self.size = size

    reg.register_factory("b", lambda **kw: A(size=kw.get("size", 2)))
    assert reg.get("a", size=3).size == 3
    assert reg.get("b").size == 2
    reg.set_default("a")
    assert isinstance(reg.get(), A)
    with pytest.raises(ProviderNotFoundError, match="Available: a, b"):
        reg.get("zzz")
    reg.unregister("a")
    assert not reg.has("a") and reg.get_default() is None


def test_model_ids() -> None:
    assert parse_model_id("openai/gpt-4o-mini") == ("openai", "gpt-4o-mini")
    with pytest.raises(ConfigurationError, match="<provider>/<model>"):
        parse_model_id("gpt-4o")
    with pytest.raises(ProviderNotFoundError, match="Unknown LLM provider 'nope'"):
        create_provider("nope/model")


async def test_scripted_model_replays_and_reports_usage() -> None:
    model = ScriptedModel(
        ["hello there", {"tool_calls": [{"name": "calc", "arguments": {"x": 1}}]}]
    )
    first = await model.chat([{"role": "user", "content": "say hi"}])
    assert first.content == "hello there" and first.usage.prompt_tokens == 2
    chunks = [c async for c in model.stream([{"role": "user", "content": "go"}])]
    assert chunks[-1].tool_calls[0].parsed_arguments() == {"x": 1}
    assert chunks[-1].finish_reason == "tool_calls"
    assert isinstance(model, BaseLLMProvider) and model.call_count == 2
