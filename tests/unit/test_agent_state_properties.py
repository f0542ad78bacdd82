"""Property tests: whatever valid events happen, ``AgentState`` stays serialisable and stable."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from liteagent.agents import (
    Agent,
    AgentConfig,
    AgentState,
    AgentStatus,
    AgentStep,
    LLMClient,
    StepType,
    tool,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
arguments = st.dictionaries(st.sampled_from(["a", "b", "amount", "to", "question"]), json_values)
tool_names = st.sampled_from(["add", "transfer", "fail", "request_human_input", "missing"])


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


@tool(requires_human_approval=True)
def transfer(amount: float, to: str) -> str:
    """Move money."""
    return f"{amount} to {to}"


@tool
def fail() -> str:
    """Fail."""
    raise RuntimeError("failed")


class NextAnswer(LLMClient):
    """Returns whatever the state machine queued as the next model answer."""

    def __init__(self) -> None:
        self.next: dict[str, Any] = {"content": "done"}

    async def chat(self, messages, tools=None, tool_choice=None):  # type: ignore[no-untyped-def,override]
        json.dumps(messages)  # what the model is sent is JSON too
        return {"choices": [{"message": self.next}], "usage": {"prompt_tokens": 1}}


class AgentEvents(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.llm = NextAnswer()
        self.agent = Agent(
            AgentConfig("prop", "Test.", tools=[add, transfer, fail], llm_client=self.llm)
        )
        self.state = self.agent.launch("start")

    def _step(self) -> None:
        self.state = asyncio.run(self.agent.step(self.state))

    @precondition(lambda self: self.state.status == AgentStatus.RUNNING)
    @rule(text=st.text(max_size=40))
    def model_answers(self, text: str) -> None:
        self.llm.next = {"content": text}
        self._step()

    @precondition(lambda self: self.state.status == AgentStatus.RUNNING)
    @rule(calls=st.lists(st.tuples(tool_names, arguments), min_size=1, max_size=3))
    def model_calls_tools(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.llm.next = {
            "content": None,
            "tool_calls": [
                {"id": f"c{i}", "function": {"name": name, "arguments": json.dumps(args)}}
                for i, (name, args) in enumerate(calls)
            ],
        }
        self._step()

    @precondition(lambda self: self.state.status == AgentStatus.WAITING_HUMAN)
    @rule(text=st.text(max_size=40), approved=st.booleans())
    def human_answers(self, text: str, approved: bool) -> None:
        self.state = self.agent.provide_human_response(self.state, text, approved)

    @precondition(
        lambda self: self.state.status in (AgentStatus.RUNNING, AgentStatus.WAITING_HUMAN)
    )
    @rule()
    def pause_and_resume(self) -> None:
        paused = self.agent.pause(self.state)
        self.check_round_trip(paused)
        self.state = self.agent.resume(paused)

    @rule(reason=st.text(max_size=30))
    def abort(self, reason: str) -> None:
        self.state = self.agent.abort(self.state, reason)

    @rule(
        kind=st.sampled_from(list(StepType)),
        content=json_values,
        metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        when=st.datetimes(timezones=st.just(UTC)),
    )
    def any_step_is_recorded(
        self, kind: StepType, content: Any, metadata: dict[str, Any], when: Any
    ) -> None:
        state = self.state.copy()
        state.add_step(AgentStep(kind, content, when, metadata))
        self.check_round_trip(state)

    @precondition(lambda self: self.state.status.is_terminal)
    @rule(text=st.text(max_size=20))
    def new_run(self, text: str) -> None:
        self.state = self.agent.launch(text, history=self.state.get_context_messages())

    @staticmethod
    def check_round_trip(state: AgentState) -> None:
        text = json.dumps(state.to_dict())
        copy = AgentState.from_dict(json.loads(text))
        assert copy == state
        assert copy.compute_hash() == state.compute_hash()
        assert AgentState.from_json(state.to_json()).to_json() == state.to_json()

    @invariant()
    def serialisable(self) -> None:
        self.check_round_trip(self.state)
        json.dumps(self.state.get_context_messages())


AgentEvents.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAgentEvents = AgentEvents.TestCase
