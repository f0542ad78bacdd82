"""Running workflows: every node type, routing, parallel branches, loops and failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liteagent.llm import ScriptedModel
from liteagent.workflows import (
    NodeDefinition,
    NodeHandler,
    WorkflowBuilder,
    WorkflowEngine,
    WorkflowExecutionError,
    WorkflowReducer,
    WorkflowState,
    WorkflowStatus,
    register_node_handler,
    transformer_registry,
)
from tests.unit.workflows.conftest import DictLLMClient


def two_way(threshold: int = 10) -> Any:
    return (
        WorkflowBuilder("route", "Route")
        .add_start()
        .add_condition("check", f"value > {threshold}")
        .add_agent("high", purpose="Handle high value", output_variable="answer")
        .add_agent("low", purpose="Handle low value", output_variable="answer")
        .add_end(output_variable="answer")
        .connect("start", "check")
        .connect("check", "high", "condition_result == true")
        .connect("check", "low", "condition_result == false")
        .connect("high", "end")
        .connect("low", "end")
        .build()
    )


async def test_condition_selects_the_branch(llm: DictLLMClient) -> None:
    engine = WorkflowEngine()
    definition = two_way()
    llm.answer = lambda messages: f"handled by: {messages[0]['content']}"
    high = await engine.run_to_completion(definition, engine.launch(definition, {"value": 20}),
                                          {"llm_client": llm})  # fmt: skip
    low = await engine.run_to_completion(definition, engine.launch(definition, {"value": 3}),
                                         {"llm_client": llm})  # fmt: skip
    assert high.status is WorkflowStatus.COMPLETED
    assert high.history == ["start", "check", "high", "end"]
    assert high.result == "handled by: Handle high value"
    assert "low" not in high.node_executions
    assert low.history == ["start", "check", "low", "end"]
    assert low.variables["condition_result"] is False
    assert low.result == "handled by: Handle low value"


async def test_agent_node_with_scripted_provider_reports_usage() -> None:
    model = ScriptedModel(["Paris is the capital."])
    definition = (
        WorkflowBuilder("qa", "QA").add_start()
        .add_agent("answer", agent_id="geo", purpose="You answer geography questions.",
                   input_variable="question", output_variable="answer")
        .add_end(output_variable="answer")
        .connect("start", "answer").connect("answer", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = engine.launch(definition, {"question": "Capital of France?"})
    state = await engine.run_to_completion(definition, state, {"llm_client": model})
    assert state.result == "Paris is the capital."
    messages, _ = model.calls[0]
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == "You answer geography questions."
    assert messages[1].content == "Capital of France?"
    out = state.node_executions["answer"].output_data
    assert out["agent_id"] == "geo"
    assert out["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert state.usage == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert state.node_executions["answer"].input_data == {"question": "Capital of France?"}


async def test_agent_runner_seam_and_per_agent_clients() -> None:
    seen: list[tuple[str, str]] = []

    async def runner(node: NodeDefinition, state: WorkflowState, ctx: dict) -> dict:
        seen.append((node.id, state.variables["input"]))
        return {"response": f"{node.config['agent_id']} says hi", "usage": {"prompt_tokens": 2,
                "completion_tokens": 1}, "tool_calls": 0}  # fmt: skip

    definition = (
        WorkflowBuilder("r", "R").add_start().add_agent("a", agent_id="alpha").add_end()
        .connect("start", "a").connect("a", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(
        definition, engine.launch(definition, {"input": "hello"}), {"agent_runner": runner}
    )
    assert seen == [("a", "hello")]
    assert state.variables["output"] == "alpha says hi"
    assert state.node_executions["a"].output_data["tool_calls"] == 0
    assert state.usage["total_tokens"] == 3

    special = DictLLMClient("from the alpha client")
    state = await engine.run_to_completion(
        definition, engine.launch(definition, {"input": "x"}),
        {"llm_clients": {"alpha": special}, "llm_client": DictLLMClient("generic")},
    )  # fmt: skip
    assert state.result == "from the alpha client"


async def test_parallel_branches_run_concurrently_and_merge_waits() -> None:
    barrier = asyncio.Barrier(2)
    order: list[str] = []

    async def runner(node: NodeDefinition, state: WorkflowState, ctx: dict) -> dict:
        order.append(f"enter {node.id}")
        # Both branches must be inside their node at the same time to pass the barrier:
        # run one after the other and this waits forever (bounded by the test timeout below).
        await barrier.wait()
        order.append(f"leave {node.id}")
        return {"response": node.id.upper()}

    definition = (
        WorkflowBuilder("par", "Parallel")
        .add_start().add_parallel("fan")
        .add_agent("left", output_variable="l").add_agent("right", output_variable="r")
        .add_transform("right2", "upper", "r", "r2")
        .add_merge("join", output_variable="joined")
        .add_end(output_variable="joined")
        .connect("start", "fan").connect("fan", "left").connect("fan", "right")
        .connect("left", "join").connect("right", "right2").connect("right2", "join")
        .connect("join", "end")
        .build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = engine.launch(definition)
    state = await asyncio.wait_for(
        engine.run_to_completion(definition, state, {"agent_runner": runner}), timeout=30
    )
    assert state.status is WorkflowStatus.COMPLETED, state.error
    assert order[:2] == ["enter left", "enter right"]
    # MERGE ran once, after both branches (the right one is a node longer).
    assert state.history.index("join") > state.history.index("right2")
    assert state.history.count("join") == 1
    assert set(state.result) == {"left", "right2"}
    assert state.result["right2"]["result"] == "RIGHT"


async def test_merge_after_conditional_branches_fires_when_nothing_else_runs() -> None:
    definition = (
        WorkflowBuilder("m", "M").add_start().add_condition("c", "go")
        .add_transform("yes", "expression", None, "out", template="'yes'")
        .add_transform("no", "expression", None, "out", template="'no'")
        .add_merge("join").add_end(output_variable="out")
        .connect("start", "c").connect("c", "yes", "condition_result")
        .connect("c", "no", "not condition_result")
        .connect("yes", "join").connect("no", "join").connect("join", "end")
        .build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition, {"go": True}))
    assert state.status is WorkflowStatus.COMPLETED
    assert state.result == "yes"
    assert state.node_executions["join"].output_data["branches"] == ["yes"]


async def test_loop_is_bounded_and_counts() -> None:
    definition = (
        WorkflowBuilder("loop", "Loop").add_start()
        .add_transform("init", "expression", None, "n", template="0")
        .add_loop("loop", body="inc", condition="n < 100", max_iterations=4)
        .add_transform("inc", "expression", None, "n", template="n + 1")
        .add_end(output_variable="n")
        .connect("start", "init").connect("init", "loop")
        .connect("loop", "inc").connect("inc", "loop").connect("loop", "end")
        .build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition))
    assert state.status is WorkflowStatus.COMPLETED
    assert state.result == 4  # stopped by max_iterations, not by the condition
    assert state.node_executions["inc"].runs == 4
    assert state.node_executions["loop"].output_data == {
        "continue": False, "iteration": 4, "exhausted": True,
    }  # fmt: skip
    assert state.loop_counters == {}

    cond = await engine.run_to_completion(definition, engine.launch(definition), max_steps=3)
    assert cond.status is WorkflowStatus.FAILED
    assert "did not finish within max_steps=3" in (cond.error or "")


async def test_loop_condition_sees_iteration() -> None:
    definition = (
        WorkflowBuilder("loop", "Loop").add_start()
        .add_loop("loop", body="inc", condition="iteration < 2", max_iterations=10)
        .add_transform("inc", "expression", None, "n", template="iteration")
        .add_end(output_variable="n")
        .connect("start", "loop").connect("loop", "inc").connect("inc", "loop")
        .connect("loop", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition))
    assert state.node_executions["inc"].runs == 2
    assert state.node_executions["loop"].output_data["exhausted"] is False


async def test_transforms() -> None:
    @transformer_registry.register("shout_all")
    def shout_all(state: WorkflowState) -> WorkflowState:
        state.variables["shout"] = str(state.variables["text"]).upper() + "!"
        return state

    definition = (
        WorkflowBuilder("t", "T").add_start()
        .add_transform("tpl", "template", "text", "greeting", template="Hello {{ input }}!")
        .add_transform("parse", "json_parse", "raw", "data")
        .add_transform("dump", "json_dump", "data", "again")
        .add_transform("len", "length", "text", "size")
        .add_transform("num", "number", "digits", "number")
        .add_transform("lines", "split_lines", "poem", "lines")
        .add_transform("reg", "shout_all", None, "shout")
        .add_end(output_variable="greeting")
        .connect("start", "tpl").connect("tpl", "parse").connect("parse", "dump")
        .connect("dump", "len").connect("len", "num").connect("num", "lines")
        .connect("lines", "reg").connect("reg", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = engine.launch(definition, {"text": "Ada", "raw": '{"a": [1, 2]}', "digits": " 42 ",
                                       "poem": "a\nb"})  # fmt: skip
    state = await engine.run_to_completion(definition, state)
    assert state.status is WorkflowStatus.COMPLETED, state.error
    v = state.variables
    assert state.result == "Hello Ada!"
    assert v["data"] == {"a": [1, 2]} and v["again"] == '{"a": [1, 2]}'
    assert v["size"] == 3 and v["number"] == 42 and v["lines"] == ["a", "b"]
    assert v["shout"] == "ADA!"
    assert state.node_executions["reg"].output_data["updated"] == {"shout": "ADA!"}


async def test_unknown_transform_fails_with_known_names() -> None:
    definition = (
        WorkflowBuilder("t", "T").add_start().add_transform("x", "nope", "a", "b").add_end()
        .connect("start", "x").connect("x", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition, {"a": 1}))
    assert state.status is WorkflowStatus.FAILED
    assert "unknown transform 'nope' (known: copy, expression" in (state.error or "")


async def test_wait_for_seconds_and_for_events() -> None:
    definition = (
        WorkflowBuilder("w", "W").add_start().add_wait("nap", seconds=0.01)
        .add_wait("hook", event="payment_received", output_variable="payment")
        .add_end(output_variable="payment")
        .connect("start", "nap").connect("nap", "hook").connect("hook", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition))
    assert state.status is WorkflowStatus.WAITING_EVENT
    assert state.waiting == {"hook": "event:payment_received"}
    with pytest.raises(WorkflowExecutionError, match="no node is waiting for the event 'other'"):
        await engine.send_event(definition, state, "other")
    done = await engine.send_event(definition, state, "payment_received", {"amount": 5})
    assert done.status is WorkflowStatus.COMPLETED
    assert done.result == {"amount": 5}
    assert done.node_executions["nap"].output_data == {"waited_seconds": 0.01}


async def test_custom_handler_and_unknown_handler() -> None:
    @register_node_handler("double", description="Doubles a number")
    class Double(NodeHandler):
        async def execute(self, node: NodeDefinition, state: WorkflowState, ctx: dict) -> dict:
            return {"value": state.variables[node.config["source"]] * 2}

    definition = (
        WorkflowBuilder("c", "C").add_start()
        .add_custom("d", "double", source="x", output_variable="doubled")
        .add_custom("e", "not_registered")
        .add_end(output_variable="doubled")
        .connect("start", "d").connect("d", "e", "doubled.value > 100").connect("d", "end")
        .connect("e", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition, {"x": 21}))
    assert state.result == {"value": 42}
    state = await engine.run_to_completion(definition, engine.launch(definition, {"x": 60}))
    assert state.status is WorkflowStatus.FAILED
    assert "uses handler 'not_registered', which is not registered" in (state.error or "")
    assert "double" in (state.error or "")


async def test_failure_and_timeout_are_recorded() -> None:
    async def boom(node: NodeDefinition, state: WorkflowState, ctx: dict) -> dict:
        if node.id == "slow":
            await asyncio.sleep(60)
        raise RuntimeError("upstream exploded")

    definition = (
        WorkflowBuilder("f", "F").add_start().add_agent("a").add_end()
        .connect("start", "a").connect("a", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition),
                                           {"agent_runner": boom})  # fmt: skip
    assert state.status is WorkflowStatus.FAILED
    assert state.error == "Node 'a' (agent) failed: upstream exploded"
    assert state.node_executions["a"].error == "upstream exploded"
    assert state.current_nodes == []

    slow = (
        WorkflowBuilder("f", "F").add_start().add_agent("slow", timeout=0.05).add_end()
        .connect("start", "slow").connect("slow", "end").build()
    )  # fmt: skip
    state = await engine.run_to_completion(slow, engine.launch(slow), {"agent_runner": boom})
    assert state.error == "Node 'slow' (agent) failed: timed out after 0.05s"


async def test_no_matching_edge_fails_with_the_conditions() -> None:
    definition = (
        WorkflowBuilder("e", "E").add_start().add_condition("c", "x > 1")
        .add_end().connect("start", "c").connect("c", "end", "x == 5").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition, {"x": 3}))
    assert state.status is WorkflowStatus.FAILED
    assert state.error == "no outgoing edge of node 'c' matched (edge conditions: 'x == 5')"
    bad = await engine.run_to_completion(definition, engine.launch(definition, {"x": "a"}))
    assert "failed: cannot compare string with number using '>'" in (bad.error or "")


async def test_step_by_step_with_persistence_between_steps(llm: DictLLMClient) -> None:
    definition = two_way()
    engine = WorkflowEngine()
    state = engine.launch(definition, {"value": 50})
    seen = []
    while not state.is_finished:
        state = await engine.step(definition, state, {"llm_client": llm})
        seen.append(list(state.history))
        state = WorkflowState.from_json(state.to_json())  # as if saved and loaded elsewhere
    assert seen[-1] == ["start", "check", "high", "end"]
    assert len(seen) == 4
    assert state.step_count == 4


async def test_pause_and_resume(llm: DictLLMClient) -> None:
    definition = two_way()
    engine = WorkflowEngine()
    state = await engine.step(
        definition, engine.launch(definition, {"value": 1}), {"llm_client": llm}
    )
    paused = engine.pause(state)
    assert paused.status is WorkflowStatus.PAUSED and state.status is WorkflowStatus.RUNNING
    still = await engine.run_to_completion(definition, paused, {"llm_client": llm})
    assert still.status is WorkflowStatus.PAUSED and still.history == ["start"]
    done = await engine.run_to_completion(definition, engine.resume(still), {"llm_client": llm})
    assert done.status is WorkflowStatus.COMPLETED
    with pytest.raises(WorkflowExecutionError, match="cannot pause a run that is completed"):
        engine.pause(done)


async def test_reducer_does_not_change_its_input(llm: DictLLMClient) -> None:
    definition = two_way()
    engine = WorkflowEngine()
    state = await engine.start(definition, engine.launch(definition, {"value": 11}))
    before = state.to_dict()
    after = await engine.step(definition, state, {"llm_client": llm})
    assert state.to_dict() == before
    assert after.history == ["start"] and state.history == []
    output = await WorkflowReducer().execute_node(definition, state, "check", {})
    assert output == {"condition_result": True}
