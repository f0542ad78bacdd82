"""AGENT nodes run a real LiteAgent ``Agent``: tools, catalog agents, model resolution, usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.llm import ScriptedModel
from liteagent.workflows import NodeStatus, WorkflowBuilder, WorkflowEngine, WorkflowStatus
from liteagent.workflows.agent_node import AgentNodeEvent, AgentNodeRunner
from tests.unit.workflows.conftest import DictLLMClient


def script(tmp_path: Path, name: str, items: list[Any]) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(items))
    return f"scripted/{path}"


def single(node_config: dict[str, Any]) -> Any:
    return (
        WorkflowBuilder("one", "One")
        .add_start()
        .add_node("ask", "agent", {"output_variable": "answer", **node_config})
        .add_end(output_variable="answer")
        .connect("start", "ask")
        .connect("ask", "end")
        .build()
    )


async def test_catalog_agent_runs_its_tools_and_usage_sums_every_call(tmp_path: Path) -> None:
    model = script(
        tmp_path,
        "calc",
        [
            {
                "content": "",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}],
            },
            "The answer is 42.",
        ],
    )
    catalog = parse_catalog(
        {
            "models": {
                "mathbot": {
                    "system_prompt": "You do arithmetic with the calculator.",
                    "model": model,
                    "tools": ["calculator", "save_note"],
                }
            }
        }
    )
    definition = single({"agent_id": "mathbot", "purpose": "Answer in one sentence."})
    engine = WorkflowEngine()
    state = engine.launch(definition, {"input": "What is 6 times 7?"})
    state = await engine.run_to_completion(
        definition,
        state,
        {
            "catalog": catalog,
            "settings": Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"),
        },
    )
    assert state.status is WorkflowStatus.COMPLETED, state.error
    assert state.result == "The answer is 42."
    out = state.node_executions["ask"].output_data
    assert out["agent_id"] == "mathbot"
    assert out["iterations"] == 2
    [call] = out["tool_calls"]
    assert call["name"] == "calculator" and call["result"] == "6*7 = 42"
    # two model calls, both counted (the scripted model counts words)
    assert out["usage"]["prompt_tokens"] > 0
    assert out["usage"]["completion_tokens"] == 1 + 4
    assert state.usage == out["usage"]


async def test_catalog_agent_prompt_and_approval_tools_are_not_offered(tmp_path: Path) -> None:
    provider = ScriptedModel(["fine"])
    catalog = parse_catalog(
        {"models": {"helper": {"system_prompt": "You are the helper.", "tools": ["save_note"]}}}
    )
    definition = single({"agent_id": "helper", "purpose": "Be brief."})
    engine = WorkflowEngine()
    state = await engine.run_to_completion(
        definition,
        engine.launch(definition, {"input": "hi"}),
        {
            "catalog": catalog,
            "llm_client": provider,
            "settings": Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"),
        },
    )
    assert state.result == "fine"
    messages, options = provider.calls[0]
    assert messages[0].content == "You are the helper.\n\nBe brief."
    assert options.tools == ()  # save_note asks for approval: a workflow node never offers it


async def test_model_comes_from_node_then_context_model_then_default(tmp_path: Path) -> None:
    node_model = script(tmp_path, "node", ["from the node's model"])
    flow_model = script(tmp_path, "flow", ["from the workflow's model"])
    default_model = script(tmp_path, "default", ["from LITEAGENT_DEFAULT_MODEL"])
    settings = Settings(default_model=default_model)
    engine = WorkflowEngine()

    async def answer(config: dict[str, Any], context: dict[str, Any]) -> Any:
        definition = single(config)
        state = engine.launch(definition, {"input": "hello"})
        return (await engine.run_to_completion(definition, state, context)).result

    assert await answer({"model": node_model}, {"model": flow_model}) == "from the node's model"
    assert await answer({}, {"model": flow_model, "settings": settings}) == (
        "from the workflow's model"
    )
    assert await answer({}, {"settings": settings}) == "from LITEAGENT_DEFAULT_MODEL"
    # a client passed in the context wins over every configured model
    assert await answer({"model": node_model}, {"llm_client": DictLLMClient("seed client")}) == (
        "seed client"
    )


async def test_unknown_model_fails_the_node_clearly() -> None:
    definition = single({"model": "nosuch/model"})
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition, {"input": "x"}))
    assert state.status is WorkflowStatus.FAILED
    assert state.node_executions["ask"].status is NodeStatus.FAILED
    assert "Node 'ask' (agent) failed" in (state.error or "")
    assert "nosuch" in (state.error or "")


async def test_failing_model_fails_the_node_with_the_reason() -> None:
    definition = single({})
    engine = WorkflowEngine()
    state = await engine.run_to_completion(
        definition,
        engine.launch(definition, {"input": "x"}),
        {"llm_client": ScriptedModel([{"error": "upstream is down"}])},
    )
    assert state.status is WorkflowStatus.FAILED
    assert "upstream is down" in (state.error or "")


async def test_history_variable_gives_the_agent_earlier_turns() -> None:
    provider = ScriptedModel(["Your order number is 17."])
    definition = single({"history_variable": "history", "purpose": "Support."})
    engine = WorkflowEngine()
    history = [
        {"role": "user", "content": "My order is 17."},
        {"role": "assistant", "content": "Noted."},
        {"role": "tool", "content": "ignored"},
    ]
    state = await engine.run_to_completion(
        definition,
        engine.launch(definition, {"input": "What is my order number?", "history": history}),
        {"llm_client": provider},
    )
    assert state.result == "Your order number is 17."
    messages, _ = provider.calls[0]
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Support."),
        ("user", "My order is 17."),
        ("assistant", "Noted."),
        ("user", "What is my order number?"),
    ]


async def test_runner_reports_deltas_usage_and_tool_steps_per_node(tmp_path: Path) -> None:
    model = script(
        tmp_path,
        "calc",
        [
            {
                "content": "",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "2+2"}}],
            },
            "It is 4.",
        ],
    )
    catalog = parse_catalog(
        {
            "models": {
                "calc": {"system_prompt": "Calculate.", "model": model, "tools": ["calculator"]}
            }
        }
    )
    events: list[AgentNodeEvent] = []
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    runner = AgentNodeRunner(
        agents=catalog.workflow_agents(),
        on_event=events.append,
        tools_for=lambda agent: catalog.agent_tools(agent, settings),
    )
    definition = single({"agent_id": "calc"})
    engine = WorkflowEngine()
    try:
        state = await engine.run_to_completion(
            definition, engine.launch(definition, {"input": "2+2?"}), {"agent_runner": runner}
        )
    finally:
        await runner.aclose()
    assert state.result == "It is 4."
    assert {e.node_id for e in events} == {"ask"}
    text = "".join(e.llm.text for e in events if e.llm is not None)
    assert text == "It is 4."
    usages = [e.llm.usage for e in events if e.llm is not None and e.llm.usage is not None]
    assert len(usages) == 2
    assert sum(u.total_tokens for u in usages) == state.usage["total_tokens"]
    [tool] = [e.tool for e in events if e.tool is not None]
    assert (tool.name, tool.result) == ("calculator", "2+2 = 4")


@pytest.mark.parametrize("bad", [{"max_tokens": 0}, {"history_variable": "not valid"}])
def test_agent_node_config_is_checked_at_build(bad: dict[str, Any]) -> None:
    from liteagent.workflows import WorkflowValidationError

    with pytest.raises(WorkflowValidationError) as info:
        single(bad)
    assert "node 'ask' (agent)" in str(info.value)


async def test_a_runner_without_a_tool_builder_says_why_an_agent_with_tools_cannot_run(
    tmp_path: Path,
) -> None:
    catalog = parse_catalog(
        {"models": {"calc": {"system_prompt": "Calculate.", "tools": ["calculator"]}}}
    )
    runner = AgentNodeRunner(agents=catalog.workflow_agents(), model=script(tmp_path, "x", ["4"]))
    definition = single({"agent_id": "calc"})
    engine = WorkflowEngine()
    state = await engine.run_to_completion(
        definition, engine.launch(definition, {"input": "2+2?"}), {"agent_runner": runner}
    )
    assert state.status is WorkflowStatus.FAILED
    assert "agent 'calc' has tools" in (state.error or "")
    assert "tools_for" in (state.error or "")
