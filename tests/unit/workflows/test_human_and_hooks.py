"""HUMAN nodes (ask, persist, answer, resume) and hooks around nodes and runs."""

from __future__ import annotations

from typing import Any

import pytest

from liteagent.workflows import (
    HumanResponseError,
    NodeDefinition,
    NodeStatus,
    WorkflowBuilder,
    WorkflowDefinition,
    WorkflowEngine,
    WorkflowHooks,
    WorkflowState,
    WorkflowStatus,
)
from tests.unit.workflows.conftest import DictLLMClient


def approval() -> WorkflowDefinition:
    return (
        WorkflowBuilder("approve", "Approval").add_start()
        .add_agent("draft", purpose="Draft a reply", output_variable="draft")
        .add_human("confirm", "Send this reply? {{ draft }}", options=["yes", "no"],
                   output_variable="decision")
        .add_transform("sent", "template", "draft", "answer", template="Sent: {{ input }}")
        .add_transform("dropped", "expression", None, "answer", template="'Not sent.'")
        .add_end(output_variable="answer")
        .connect("start", "draft").connect("draft", "confirm")
        .connect("confirm", "sent", "decision == 'yes'").connect("confirm", "dropped")
        .connect("sent", "end").connect("dropped", "end")
        .build()
    )  # fmt: skip


async def test_human_node_asks_persists_and_resumes() -> None:
    definition = approval()
    engine = WorkflowEngine()
    ctx = {"llm_client": DictLLMClient("Dear customer")}
    state = await engine.run_to_completion(
        definition, engine.launch(definition, {"input": "hi"}), ctx
    )
    assert state.status is WorkflowStatus.WAITING_HUMAN
    assert state.waiting == {"confirm": "human"}
    asked = state.node_executions["confirm"]
    assert asked.status is NodeStatus.RUNNING
    assert asked.output_data == {
        "prompt": "Send this reply? Dear customer",
        "options": ["yes", "no"],
    }

    saved = state.to_json()  # e.g. into the database; the process may restart here
    restored = WorkflowState.from_json(saved)
    still = await engine.run_to_completion(definition, restored, ctx)
    assert still.status is WorkflowStatus.WAITING_HUMAN  # stepping does not skip the question

    with pytest.raises(HumanResponseError, match="please answer with one of: yes, no"):
        await engine.provide_human_response(definition, restored, "confirm", "maybe", ctx)
    with pytest.raises(HumanResponseError, match=r"node 'draft' is not waiting .*waiting: confirm"):
        await engine.provide_human_response(definition, restored, "draft", "yes", ctx)

    done = await engine.provide_human_response(definition, restored, "confirm", "  YES ", ctx)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.variables["decision"] == "yes"
    assert done.result == "Sent: Dear customer"
    assert done.node_executions["confirm"].status is NodeStatus.COMPLETED
    assert done.node_executions["confirm"].runs == 1
    assert done.history == ["start", "draft", "confirm", "sent", "end"]

    no = await engine.provide_human_response(definition, restored, "confirm", "no", ctx)
    assert no.result == "Not sent."


async def test_answer_without_running_and_free_text_answers() -> None:
    definition = (
        WorkflowBuilder("q", "Q").add_start().add_human("ask", "Your name?").add_end(
            output_variable="human_response").connect("start", "ask").connect("ask", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition))
    answered = await engine.provide_human_response(definition, state, "ask", "Ada", run=False)
    assert answered.status is WorkflowStatus.RUNNING and answered.current_nodes == ["end"]
    done = await engine.run_to_completion(definition, answered)
    assert done.result == "Ada"


async def test_paused_run_refuses_answers_until_resumed() -> None:
    definition = approval()
    engine = WorkflowEngine()
    ctx = {"llm_client": DictLLMClient("x")}
    state = await engine.run_to_completion(definition, engine.launch(definition), ctx)
    paused = engine.pause(state)
    with pytest.raises(HumanResponseError, match="paused"):
        await engine.provide_human_response(definition, paused, "confirm", "yes", ctx)
    assert engine.resume(paused).status is WorkflowStatus.WAITING_HUMAN


async def test_other_branches_finish_before_the_question_is_the_only_thing_left() -> None:
    definition = (
        WorkflowBuilder("p", "P").add_start().add_parallel("fan")
        .add_human("ask", "Continue?", options=["ok"])
        .add_transform("a1", "expression", None, "a", template="1")
        .add_transform("a2", "expression", None, "a", template="a + 1")
        .add_merge("join").add_end(output_variable="a")
        .connect("start", "fan").connect("fan", "ask").connect("fan", "a1")
        .connect("a1", "a2").connect("a2", "join").connect("ask", "join").connect("join", "end")
        .build()
    )  # fmt: skip
    engine = WorkflowEngine()
    state = await engine.run_to_completion(definition, engine.launch(definition))
    assert state.status is WorkflowStatus.WAITING_HUMAN
    assert "a2" in state.history and "join" not in state.history  # merge waits for the human
    done = await engine.provide_human_response(definition, state, "ask", "ok")
    assert done.status is WorkflowStatus.COMPLETED and done.result == 2
    assert done.node_executions["join"].output_data["branches"] == ["a2", "ask"]


# ------------------------------------------------------------------ hooks


def simple() -> WorkflowDefinition:
    return (
        WorkflowBuilder("h", "Hooks").add_start()
        .add_agent("a", input_variable="question", output_variable="answer")
        .add_transform("after", "expression", None, "flag", template="'continued'")
        .add_end(output_variable="answer")
        .connect("start", "a").connect("a", "after").connect("after", "end").build()
    )  # fmt: skip


async def test_error_hooks_see_the_error_and_can_suppress_it(hooks: WorkflowHooks) -> None:
    calls: list[tuple[str, str]] = []

    @hooks.before_node("agent")
    async def require_question(node: NodeDefinition, state: WorkflowState) -> WorkflowState:
        if node.config["input_variable"] not in state.variables:
            raise ValueError(f"Missing required variable: {node.config['input_variable']}")
        return state

    @hooks.on_error("*")
    async def record(node: NodeDefinition, state: WorkflowState, error: Exception) -> bool:
        calls.append((node.id, str(error)))
        return False

    engine = WorkflowEngine(hooks=hooks)
    definition = simple()
    ctx = {"llm_client": DictLLMClient("42")}
    failed = await engine.run_to_completion(definition, engine.launch(definition), ctx)
    assert failed.status is WorkflowStatus.FAILED
    assert failed.error == "Node 'a' (agent) failed: Missing required variable: question"
    assert calls == [("a", "Missing required variable: question")]

    @hooks.on_error("agent")
    def suppress(node: NodeDefinition, state: WorkflowState, error: Exception) -> bool:
        return True  # plain functions work too

    @hooks.on_error("*")
    async def broken(node: NodeDefinition, state: WorkflowState, error: Exception) -> bool:
        raise RuntimeError("hook bug")

    carried_on = await engine.run_to_completion(definition, engine.launch(definition), ctx)
    assert carried_on.status is WorkflowStatus.COMPLETED
    assert carried_on.node_executions["a"].status is NodeStatus.FAILED
    assert carried_on.node_executions["a"].output_data["error_suppressed"] is True
    assert carried_on.variables["flag"] == "continued"
    assert carried_on.result is None


async def test_node_hooks_change_inputs_and_outputs(hooks: WorkflowHooks) -> None:
    seen: list[str] = []

    @hooks.before_node("agent")
    async def add_question(node: NodeDefinition, state: WorkflowState) -> WorkflowState:
        changed = state.copy()
        changed.set_variable("question", "injected by hook")
        return changed

    @hooks.after_node("agent")
    async def shout(node: NodeDefinition, state: WorkflowState, output: dict) -> dict:
        return {**output, "response": output["response"].upper()}

    @hooks.after_node()
    async def log_all(node: NodeDefinition, state: WorkflowState, output: dict) -> None:
        seen.append(node.id)

    client = DictLLMClient("quiet answer")
    engine = WorkflowEngine(hooks=hooks)
    definition = simple()
    state = await engine.run_to_completion(
        definition, engine.launch(definition), {"llm_client": client}
    )
    assert client.calls[0][-1]["content"] == "injected by hook"
    assert state.variables["question"] == "injected by hook"
    assert state.result == "QUIET ANSWER"
    assert seen == ["start", "a", "after", "end"]


async def test_workflow_start_and_complete_hooks(hooks: WorkflowHooks) -> None:
    events: list[Any] = []

    @hooks.before_workflow_start
    async def stamp(definition: WorkflowDefinition, state: WorkflowState) -> WorkflowState:
        state.set_variable("question", "from start hook")
        events.append(("start", definition.id, state.status))
        return state

    @hooks.after_workflow_complete
    def done(definition: WorkflowDefinition, state: WorkflowState) -> None:
        events.append(("complete", state.status, state.result))

    engine = WorkflowEngine(hooks=hooks)
    definition = simple()
    state = await engine.run_to_completion(
        definition, engine.launch(definition), {"llm_client": DictLLMClient("fine")}
    )
    assert events == [
        ("start", "h", WorkflowStatus.PENDING),
        ("complete", WorkflowStatus.COMPLETED, "fine"),
    ]
    assert state.variables["question"] == "from start hook"


async def test_after_hook_must_return_a_dict(hooks: WorkflowHooks) -> None:
    @hooks.after_node("transform")
    async def bad(node: NodeDefinition, state: WorkflowState, output: dict) -> Any:
        return 3

    engine = WorkflowEngine(hooks=hooks)
    definition = simple()
    state = await engine.run_to_completion(
        definition, engine.launch(definition, {"question": "q"}), {"llm_client": DictLLMClient()}
    )
    assert "after_node hook 'bad' returned int; return the output dict or None" in (
        state.error or ""
    )


async def test_hook_state_copies_do_not_undo_parallel_updates(hooks: WorkflowHooks) -> None:
    @hooks.before_node("agent")
    async def tag(node: NodeDefinition, state: WorkflowState) -> WorkflowState:
        copy = state.copy()  # taken before the sibling branch's update is applied
        copy.set_variable("tagged", node.id)
        return copy

    definition = (
        WorkflowBuilder("p", "P").add_start().add_parallel("fan")
        .add_transform("setter", "expression", None, "x", template="'new'")
        .add_agent("reader", output_variable="answer")
        .add_merge("join").add_end(output_variable="x")
        .connect("start", "fan").connect("fan", "setter").connect("fan", "reader")
        .connect("setter", "join").connect("reader", "join").connect("join", "end").build()
    )  # fmt: skip
    engine = WorkflowEngine(hooks=hooks)
    state = await engine.run_to_completion(
        definition, engine.launch(definition, {"x": "old"}), {"llm_client": DictLLMClient()}
    )
    assert state.result == "new"
    assert state.variables["tagged"] == "reader"
