"""Memory strategies, prompts and token counting."""

from __future__ import annotations

from typing import Any

import pytest

from liteagent.agents import (
    Agent,
    AgentConfig,
    ConversationHistory,
    MessageRole,
    PromptBuilder,
    PromptRegistry,
    PromptTemplate,
    PromptVariable,
    SlidingWindowMemory,
    SummaryMemory,
    TemplateFormat,
    TokenWindowMemory,
    count_message_tokens,
    count_tokens,
    create_sliding_window_memory,
    estimate_cost,
    get_model_pricing,
    summarizer_for,
)
from liteagent.agents.llm_client import ProviderLLMClient
from liteagent.llm import ScriptedModel
from liteagent.llm.token_counter import check_context_limit


def chat(n: int) -> list[dict[str, Any]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"} for i in range(n)
    ]


TOOL_EXCHANGE = [
    {"role": "user", "content": "add"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add"}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "3"},
    {"role": "assistant", "content": "it is 3"},
]


def test_sliding_window_keeps_the_newest_and_never_orphans_tool_results() -> None:
    memory = SlidingWindowMemory(window_size=3)
    kept = memory.select(TOOL_EXCHANGE)
    # the tool result stays with its call: 3 messages fit exactly
    assert [m["role"] for m in kept] == ["assistant", "tool", "assistant"]
    kept = SlidingWindowMemory(window_size=2).select(TOOL_EXCHANGE)
    assert [m["role"] for m in kept] == ["assistant"]
    assert SlidingWindowMemory(1).select([{"role": "tool", "content": "x"}, *chat(1)]) == chat(1)


def test_sliding_window_on_a_history_object() -> None:
    memory = create_sliding_window_memory(window_size=2)
    for i in range(5):
        memory.add_message(MessageRole.USER, f"u{i}")
    assert [m["content"] for m in memory.get_messages()] == ["u3", "u4"]
    history = ConversationHistory.from_list([{"role": "system", "content": "sys"}, *chat(4)])
    trimmed = SlidingWindowMemory(1).apply(history)
    assert trimmed.to_list() == [
        {"role": "system", "content": "sys"},
        {"role": "assistant", "content": "message 3"},
    ]


def test_token_window_fits_the_budget() -> None:
    long = [{"role": "user", "content": "word " * 400}, *chat(4)]
    kept = TokenWindowMemory(max_tokens=60).select(long)
    assert kept == chat(4)
    assert count_message_tokens(kept, "gpt-4o") <= 60
    # the newest message is kept even when it alone exceeds the budget
    assert TokenWindowMemory(max_tokens=10).select(long[:1]) == long[:1]


async def test_summary_memory_uses_the_agents_model_and_caches() -> None:
    model = ScriptedModel(["They talked about messages 0 to 5."])
    memory = SummaryMemory(summarizer_for(ProviderLLMClient(model)), keep_last=2)
    kept = await memory.aselect(chat(8))
    assert kept[0] == {
        "role": "system",
        "content": "Summary of the earlier conversation:\nThey talked about messages 0 to 5.",
    }
    assert kept[1:] == chat(8)[6:]
    prompt = model.calls[0][0][1].content or ""
    assert "user: message 0" in prompt and "message 6" not in prompt
    assert await memory.aselect(chat(8)) == kept  # same cut: no second model call
    assert model.call_count == 1
    assert memory.select(chat(8)) == kept  # the sync form reads the cache
    assert await memory.aselect(chat(2)) == chat(2)  # short chats are not summarised


async def test_agent_applies_memory_before_each_call() -> None:
    model = ScriptedModel(["fine"])
    agent = Agent(
        AgentConfig(
            "m", "Be brief.", llm_client=ProviderLLMClient(model), memory=SlidingWindowMemory(2)
        )
    )
    state = agent.launch("newest", history=chat(6))
    await agent.step(state)
    sent = [(m.role, m.content) for m in model.calls[0][0]]
    assert sent[1:] == [("assistant", "message 5"), ("user", "newest")]
    assert len(state.steps) == 7  # the state keeps the whole conversation


# ----------------------------------------------------------------------------- prompts
def test_prompt_template_formats() -> None:
    assert PromptTemplate("Hi {name}!")(name="Ada") == "Hi Ada!"
    assert PromptTemplate("Hi $name!", format=TemplateFormat.PYTHON).render(name="Ada") == "Hi Ada!"
    jinja = PromptTemplate("{% for x in xs %}{{ x }}{% endfor %}", format=TemplateFormat.JINJA2)
    assert jinja.render(xs=[1, 2]) == "12"
    template = PromptTemplate(
        "{a} {b}", variables=[PromptVariable("b", required=False, default="!")]
    )
    assert template.render(a="x") == "x !"
    result = template.validate_variables({})
    assert not result.valid and "'a'" in result.errors[0]
    with pytest.raises(ValueError, match="missing"):
        template.render()
    with pytest.raises(ValueError, match="plain name"):
        PromptTemplate("{obj.__class__}")


def test_prompt_builder() -> None:
    text = (
        PromptBuilder()
        .add_line("You are {role}.")
        .add_section("Rules", "- be brief")
        .add_if(False, "never shown")
        .set_variable("role", "a tester")
        .build()
    )
    assert text == "You are a tester.\n\nRules:\n- be brief"


def test_prompt_registry_versions() -> None:
    registry = PromptRegistry()
    registry.register("greet", PromptTemplate("v1 {x}"), version="1.0")
    registry.register("greet", PromptTemplate("v10 {x}"), version="1.10")
    registry.register("greet", PromptTemplate("v2 {x}"), version="1.2")
    assert registry.get("greet").render(x=1) == "v10 1"
    assert registry.get("greet", "1.0").render(x=1) == "v1 1"
    assert registry.versions("greet") == ["1.0", "1.2", "1.10"]
    with pytest.raises(KeyError, match="no version 3"):
        registry.get("greet", "3")


# ----------------------------------------------------------------------------- tokens
def test_token_counting_is_offline_and_real() -> None:
    assert count_tokens("hello world", "gpt-4o") == 2
    assert count_tokens("hello world", "local/smollm2") == 2
    fits, tokens, limit = check_context_limit(chat(3), "gpt-4o-mini")
    assert fits and tokens > 6 and limit == 128000
    assert get_model_pricing("gpt-4o-mini").input_per_1k == pytest.approx(0.00015)
    assert estimate_cost(1000, 1000, "local/smollm2") == 0.0
