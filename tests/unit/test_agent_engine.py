"""The 12-factor reducer: every status transition, driven by the in-package scripted model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liteagent.agents import (
    Agent,
    AgentConfig,
    AgentState,
    AgentStateError,
    AgentStatus,
    LLMClient,
    ParameterType,
    StepType,
    ToolDefinition,
    ToolParameter,
    tool,
)
from liteagent.agents.llm_client import ProviderLLMClient
from liteagent.llm import ScriptedModel


class Recorder:
    """Tools that record the exact arguments they ran with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

        @tool
        def add(a: int, b: int) -> int:
            """Add two integers."""
            self.calls.append(("add", {"a": a, "b": b}))
            return a + b

        @tool(requires_human_approval=True)
        def transfer(amount: float, to: str) -> str:
            """Send money to someone.

            Args:
                amount: How much.
                to: Who receives it.
            """
            self.calls.append(("transfer", {"amount": amount, "to": to}))
            return f"sent {amount} to {to}"

        @tool
        def broken(reason: str) -> str:
            """Always fails."""
            raise RuntimeError(reason)

        self.tools = [add, transfer, broken]


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def make_agent(script: list[Any], **config: Any) -> tuple[Agent, ScriptedModel, Recorder]:
    rec = Recorder()
    model = ScriptedModel(script)
    cfg = AgentConfig(
        agent_id="tester",
        purpose="You test things.",
        tools=config.pop("tools", rec.tools),
        llm_client=ProviderLLMClient(model),
        **config,
    )
    return Agent(cfg), model, rec


def sent_messages(model: ScriptedModel, index: int) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in model.calls[index][0]]


# ----------------------------------------------------------------------------- seeds' contract
async def test_seed_guide_example_completes_with_one_call() -> None:
    class MockLLMClient(LLMClient):
        def __init__(self, responses: list[dict[str, Any]]) -> None:
            self.responses = responses
            self.call_count = 0

        async def chat(self, messages, tools=None):  # type: ignore[no-untyped-def,override]
            response = self.responses[self.call_count]
            self.call_count += 1
            return response

    mock_client = MockLLMClient([{"choices": [{"message": {"content": "Task completed!"}}]}])
    config = AgentConfig(agent_id="test-agent", purpose="Test agent", llm_client=mock_client)
    agent = Agent(config)
    state = agent.launch("Hello")
    state = await agent.run_to_completion(state)
    assert state.status == AgentStatus.COMPLETED
    assert mock_client.call_count == 1
    assert state.final_answer == "Task completed!"


# ----------------------------------------------------------------------------- transitions
async def test_launch_is_running_and_a_text_answer_completes() -> None:
    agent, model, _ = make_agent(["Hi there"])
    state = agent.launch(
        "Hello",
        history=[{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}],
    )
    assert state.status == AgentStatus.RUNNING
    done = await agent.step(state)
    assert done.status == AgentStatus.COMPLETED and done.final_answer == "Hi there"
    # the whole conversation reached the model, after the system prompt
    assert sent_messages(model, 0)[1:] == [
        ("user", "earlier"),
        ("assistant", "reply"),
        ("user", "Hello"),
    ]
    assert "add: Add two integers." in (sent_messages(model, 0)[0][1] or "")


async def test_idle_state_starts_running_on_step() -> None:
    agent, _, _ = make_agent(["ok"])
    state = AgentState(agent_id="tester")
    assert state.status == AgentStatus.IDLE
    state.steps.append(agent.launch("go").steps[0])
    done = await agent.step(state)
    assert done.status == AgentStatus.COMPLETED


async def test_step_is_pure_and_leaves_its_input_untouched() -> None:
    agent, _, _ = make_agent([call("add", a=1, b=2), "3"])
    state = agent.launch("add")
    before = state.compute_hash()
    after = await agent.step(state)
    assert state.compute_hash() == before
    assert after.compute_hash() != before
    assert after.queued_tool_calls and not state.queued_tool_calls


async def test_safe_tool_call_runs_then_answer() -> None:
    agent, model, rec = make_agent([call("add", a=2, b=3), "2 + 3 = 5"])
    state = await agent.step(agent.launch("add 2 and 3"))
    assert state.status == AgentStatus.RUNNING and [c.name for c in state.queued_tool_calls] == [
        "add"
    ]
    state = await agent.step(state)  # runs the queued call
    assert rec.calls == [("add", {"a": 2, "b": 3})]
    assert state.steps[-1].step_type == StepType.TOOL_RESULT
    state = await agent.step(state)
    assert state.status == AgentStatus.COMPLETED and state.final_answer == "2 + 3 = 5"
    assert sent_messages(model, 1)[-1] == ("tool", "5")


async def test_approval_pauses_and_approve_runs_the_stored_call_exactly() -> None:
    agent, model, rec = make_agent([call("transfer", amount=12.5, to="Ada"), "Sent 12.5 to Ada."])
    state = await agent.run_to_completion(agent.launch("pay Ada 12.5"))
    assert state.status == AgentStatus.WAITING_HUMAN
    request = state.pending_request
    assert request is not None and request.request_type == "approval"
    assert "transfer" in request.message and "approve" in request.message
    assert rec.calls == []  # nothing runs before the human answers

    resumed = agent.provide_human_response(state, "approve", approved=True)
    assert resumed.status == AgentStatus.RUNNING
    done = await agent.run_to_completion(resumed)
    assert done.status == AgentStatus.COMPLETED
    assert rec.calls == [("transfer", {"amount": 12.5, "to": "Ada"})]
    assert model.call_count == 2  # the call was not re-generated by the model


async def test_reject_feeds_the_reason_back_and_never_runs_the_call() -> None:
    agent, model, rec = make_agent([call("transfer", amount=99, to="Eve"), "OK, not sending."])
    state = await agent.run_to_completion(agent.launch("pay Eve"))
    state = agent.provide_human_response(state, "Eve is a scammer", approved=False)
    state = await agent.run_to_completion(state)
    assert state.status == AgentStatus.COMPLETED
    assert rec.calls == []
    role, content = sent_messages(model, 1)[-1]
    assert (
        role == "tool" and "rejected" in (content or "") and "Eve is a scammer" in (content or "")
    )


async def test_second_answer_to_the_same_request_changes_nothing() -> None:
    agent, _, rec = make_agent([call("transfer", amount=1, to="Bo"), "done"])
    paused = await agent.run_to_completion(agent.launch("pay Bo"))
    request_id = paused.pending_request.request_id  # type: ignore[union-attr]
    once = agent.provide_human_response(paused, "yes", True, request_id)
    done = await agent.run_to_completion(once)
    again = agent.provide_human_response(done, "yes", True, request_id)
    assert again.compute_hash() == done.compute_hash()
    twice = agent.provide_human_response(once, "yes", True, request_id)  # already resolved
    assert twice.compute_hash() == once.compute_hash()
    assert len(rec.calls) == 1


async def test_request_human_input_pauses_and_the_answer_reaches_the_model() -> None:
    agent, model, _ = make_agent(
        [call("request_human_input", question="Which city?"), "Paris it is."]
    )
    state = await agent.run_to_completion(agent.launch("book a hotel"))
    assert state.status == AgentStatus.WAITING_HUMAN
    assert state.pending_request is not None
    assert state.pending_request.request_type == "input"
    assert "Which city?" in state.pending_request.message
    state = await agent.run_to_completion(agent.provide_human_response(state, "Paris"))
    assert state.final_answer == "Paris it is."
    assert sent_messages(model, 1)[-1] == ("tool", "Paris")


async def test_run_to_completion_can_answer_through_a_callback() -> None:
    agent, _, rec = make_agent([call("transfer", amount=5, to="Cy"), "done"])
    asked: list[str] = []

    async def human(request):  # type: ignore[no-untyped-def]
        asked.append(request.request_type)
        return ("fine", True)

    state = await agent.run_to_completion(agent.launch("pay Cy"), human_callback=human)
    assert state.status == AgentStatus.COMPLETED and asked == ["approval"]
    assert rec.calls == [("transfer", {"amount": 5.0, "to": "Cy"})]


async def test_pause_and_resume() -> None:
    agent, _, _ = make_agent([call("add", a=1, b=1), "2"])
    running = await agent.step(agent.launch("1+1"))
    paused = agent.pause(running)
    assert paused.status == AgentStatus.PAUSED
    assert (await agent.step(paused)).compute_hash() == paused.compute_hash()  # no work
    with pytest.raises(AgentStateError):
        agent.pause(paused)
    resumed = agent.resume(paused)
    assert resumed.status == AgentStatus.RUNNING
    assert (await agent.run_to_completion(resumed)).status == AgentStatus.COMPLETED
    with pytest.raises(AgentStateError):
        agent.resume(resumed)


async def test_pausing_a_waiting_run_keeps_its_request() -> None:
    agent, _, _ = make_agent([call("transfer", amount=1, to="Di")])
    waiting = await agent.run_to_completion(agent.launch("pay Di"))
    paused = agent.pause(waiting)
    assert paused.status == AgentStatus.PAUSED
    # answering a paused run does nothing until it is resumed
    assert agent.provide_human_response(paused, "yes").status == AgentStatus.PAUSED
    back = agent.resume(paused)
    assert back.status == AgentStatus.WAITING_HUMAN and back.pending_request is not None


async def test_abort_drops_held_calls_for_good() -> None:
    agent, _, rec = make_agent([call("transfer", amount=1, to="Ed")])
    waiting = await agent.run_to_completion(agent.launch("pay Ed"))
    aborted = agent.abort(waiting, "Cancelled by the user.")
    assert aborted.status == AgentStatus.ABORTED and aborted.error == "Cancelled by the user."
    assert agent.provide_human_response(aborted, "yes").status == AgentStatus.ABORTED
    assert (await agent.step(aborted)).status == AgentStatus.ABORTED
    assert rec.calls == []
    with pytest.raises(AgentStateError):
        agent.pause(aborted)


async def test_three_consecutive_tool_errors_ask_a_human() -> None:
    fail = call("broken", reason="disk on fire " + "x" * 2000)
    agent, model, _ = make_agent([fail, fail, fail, "Recovered with your help."])
    state = await agent.run_to_completion(agent.launch("do it"))
    assert state.status == AgentStatus.WAITING_HUMAN
    request = state.pending_request
    assert request is not None and request.request_type == "clarification"
    assert state.consecutive_errors == 3 and "disk on fire" in request.message
    # errors went back to the model compact and truncated (factor 9)
    errors = [m for m in model.calls[2][0] if m.role == "tool"]
    assert errors and all(len(m.content or "") < 700 for m in errors)
    assert "RuntimeError: disk on fire" in (errors[-1].content or "")
    state = agent.provide_human_response(state, "use the backup disk")
    assert state.consecutive_errors == 0
    state = await agent.run_to_completion(state)
    assert state.final_answer == "Recovered with your help."
    assert ("user", "[guidance from a person] use the backup disk") in sent_messages(model, 3)


async def test_a_success_resets_the_error_count() -> None:
    fail = call("broken", reason="nope")
    agent, _, _ = make_agent([fail, fail, call("add", a=1, b=1), fail, "done"])
    state = await agent.run_to_completion(agent.launch("go"))
    assert state.status == AgentStatus.COMPLETED and state.consecutive_errors == 1


async def test_malformed_and_unknown_calls_become_errors_for_the_model() -> None:
    bad_json = {"tool_calls": [{"name": "add", "arguments": '{"a": 1,'}]}
    agent, model, _ = make_agent([bad_json, call("nope"), "gave up"])
    state = await agent.run_to_completion(agent.launch("go"))
    assert state.status == AgentStatus.COMPLETED
    first_error = sent_messages(model, 1)[-1][1] or ""
    assert "not valid JSON" in first_error
    unknown = sent_messages(model, 2)[-1][1] or ""
    assert "Unknown tool 'nope'" in unknown and "add" in unknown


async def test_an_approval_call_with_missing_arguments_goes_back_to_the_model_first() -> None:
    agent, model, rec = make_agent(
        [
            call("transfer", amount=12.5),  # "to" is missing
            call("transfer", amount=12.5, to="Ada"),
            "Sent 12.5 to Ada.",
        ]
    )
    state = await agent.step(agent.launch("pay Ada 12.5"))
    # nobody is asked to approve a call that cannot run
    assert state.status == AgentStatus.RUNNING and state.pending_request is None
    assert state.queued_tool_calls == [] and state.consecutive_errors == 1
    result = state.steps[-1]
    assert result.step_type == StepType.TOOL_RESULT and result.metadata["is_error"] is True

    state = await agent.run_to_completion(state)
    assert state.status == AgentStatus.WAITING_HUMAN
    role, error = sent_messages(model, 1)[-1]
    assert role == "tool" and "invalid arguments for transfer: to: Missing required argument" in (
        error or ""
    )
    assert "Traceback" not in (error or "") and ".py" not in (error or "")
    request = state.pending_request
    assert request is not None and request.request_type == "approval"
    assert [c.arguments for c in request.tool_calls] == [{"amount": 12.5, "to": "Ada"}]
    assert rec.calls == []

    done = await agent.run_to_completion(agent.provide_human_response(state, "yes"))
    assert done.status == AgentStatus.COMPLETED and done.final_answer == "Sent 12.5 to Ada."
    assert rec.calls == [("transfer", {"amount": 12.5, "to": "Ada"})]
    assert model.call_count == 3 and done.consecutive_errors == 0


@pytest.mark.parametrize(
    ("proposed", "problem"),
    [
        (call("transfer", amount="lots", to="Ada"), "amount: Input should be a valid number"),
        (call("transfer", amount=1, to="Ada", memo="rent"), "memo: Unexpected keyword argument"),
        (call("add", a="one", b=2), "a: Input should be a valid integer"),
    ],
)
async def test_invalid_arguments_are_refused_before_a_call_is_queued_or_held(
    proposed: dict[str, Any], problem: str
) -> None:
    agent, model, rec = make_agent([proposed, "I could not do it."])
    state = await agent.step(agent.launch("go"))
    assert state.status == AgentStatus.RUNNING and state.pending_request is None
    assert state.queued_tool_calls == []
    state = await agent.run_to_completion(state)
    assert state.status == AgentStatus.COMPLETED and rec.calls == []
    assert problem in (sent_messages(model, 1)[-1][1] or "")


async def test_invalid_approval_calls_in_a_row_ask_a_person_for_guidance() -> None:
    bad = call("transfer", to="Ada")
    agent, _, rec = make_agent([bad, bad, bad])
    state = await agent.run_to_completion(agent.launch("pay Ada"))
    assert state.status == AgentStatus.WAITING_HUMAN and state.consecutive_errors == 3
    request = state.pending_request
    assert request is not None and request.request_type == "clarification"
    assert "amount: Missing required argument" in request.message
    assert rec.calls == []


async def test_hand_written_approval_tools_are_checked_against_their_schema() -> None:
    deleted: list[str] = []
    delete_file = ToolDefinition(
        name="delete_file",
        description="Delete a file.",
        parameters=[ToolParameter("path", ParameterType.STRING, "The file")],
        handler=lambda path: deleted.append(path) or f"deleted {path}",
        requires_human_approval=True,
    )
    agent, model, _ = make_agent(
        [call("delete_file", path=7), call("delete_file", path="a.txt"), "Deleted."],
        tools=[delete_file],
    )
    state = await agent.run_to_completion(agent.launch("delete a.txt"))
    assert state.status == AgentStatus.WAITING_HUMAN and model.call_count == 2
    assert "path: 7 is not of type 'string'" in (sent_messages(model, 1)[-1][1] or "")
    state = await agent.run_to_completion(agent.provide_human_response(state, "ok"))
    assert state.status == AgentStatus.COMPLETED and deleted == ["a.txt"]


async def test_max_iterations_fails_with_a_reason() -> None:
    agent, _, _ = make_agent([call("add", a=1, b=1)] * 5, max_iterations=2)
    state = await agent.run_to_completion(agent.launch("loop"))
    assert state.status == AgentStatus.FAILED
    assert state.current_iteration == 2
    assert "max_iterations" in (state.error or "") and "2 model calls" in (state.error or "")


async def test_max_execution_time_fails_with_a_reason() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    agent, _, _ = make_agent(
        [call("add", a=1, b=1), "never"], max_execution_time=30, clock=lambda: now[0]
    )
    state = await agent.step(agent.launch("slow"))
    now[0] += timedelta(seconds=31)
    state = await agent.step(state)
    assert state.status == AgentStatus.FAILED
    assert "30 s" in (state.error or "") and "max_execution_time" in (state.error or "")


async def test_a_slow_model_is_stopped_by_max_execution_time() -> None:
    class Slow(LLMClient):
        async def chat(self, messages, tools=None, tool_choice=None):  # type: ignore[no-untyped-def,override]
            await asyncio.sleep(5)
            return {"choices": [{"message": {"content": "late"}}]}

    agent = Agent(AgentConfig("slow", "p", llm_client=Slow(), max_execution_time=0.05))
    state = await agent.step(agent.launch("hi"))
    assert state.status == AgentStatus.FAILED and "max_execution_time" in (state.error or "")


async def test_naming_a_tool_forces_it_on_the_next_call_only() -> None:
    agent, model, _ = make_agent([call("add", a=12, b=7), "19"])
    await agent.run_to_completion(agent.launch("Use the ADD tool on 12 and 7"))
    assert model.calls[0][1].tool_choice == {"type": "function", "function": {"name": "add"}}
    assert model.calls[1][1].tool_choice is None  # after the result the model decides


async def test_llm_usage_is_summed_in_the_state() -> None:
    agent, _, _ = make_agent([call("add", a=1, b=1), "two words"])
    state = await agent.run_to_completion(agent.launch("one two three"))
    usage = state.metadata["usage"]
    assert usage["completion_tokens"] == 1 + 2 and usage["prompt_tokens"] > 0


async def test_state_round_trips_after_a_full_approval_run() -> None:
    agent, _, _ = make_agent([call("transfer", amount=3, to="Flo"), "done"])
    state = await agent.run_to_completion(agent.launch("pay"))
    for s in (state, agent.provide_human_response(state, "reject: no", approved=False)):
        copy = AgentState.from_dict(json.loads(json.dumps(s.to_dict())))
        assert copy == s and copy.compute_hash() == s.compute_hash()


def test_reducer_modules_import_no_io_library() -> None:
    code = (
        "import sys; import liteagent.agents, liteagent.agents.twelve_factor_agent; "
        "bad = [m for m in ('httpx', 'sqlalchemy', 'redis', 'litellm', 'aiosqlite', 'requests') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
