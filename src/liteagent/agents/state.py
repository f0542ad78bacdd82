"""``AgentState``: everything about one run, as plain data (factor 5: unify execution state).

A state is a thread of typed steps plus a few counters. It round-trips through JSON
(``from_dict(to_dict(s)) == s``) and has a stable content hash, so that it can be stored, resumed
in another process and checked for tampering or staleness.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from liteagent.agents.types import (
    AgentStatus,
    AgentStep,
    HumanContactRequest,
    HumanRequestType,
    StepType,
    ToolCall,
    to_json_value,
    utcnow,
)

STATE_VERSION = 1


@dataclass(frozen=True)
class FinishedCall:
    """A tool call with its result (``AgentState.finished_calls_since``).

    Attributes:
        call_id: The call's id.
        name: Tool name.
        arguments: The arguments as a JSON string, exactly as the tool received them.
        result: The result (or error, or why it did not run) as text.
        is_error: The call failed.
    """

    call_id: str
    name: str
    arguments: str
    result: str
    is_error: bool = False


def _new_run_id() -> str:
    return uuid.uuid4().hex


@dataclass
class AgentState:
    """The serialisable state of one agent run.

    Attributes:
        agent_id: The agent this run belongs to.
        status: Where the run is (see ``AgentStatus``).
        steps: The thread of events, oldest first.
        current_iteration: LLM calls made so far.
        max_iterations: LLM calls allowed before the run fails.
        created_at: When the run was launched (UTC).
        metadata: Free JSON data for callers (e.g. the proxy's session bookkeeping).
        run_id: Unique id of the run.
        pending_request: The open question to a person while ``WAITING_HUMAN``.
        queued_tool_calls: Calls decided (and approved where needed) but not run yet; the next
            step runs exactly these.
        consecutive_errors: Failed tool calls in a row; three make the agent ask a person.
        error: Why the run failed or was aborted.
        segment_started_at: Start of the current stretch of work (launch or last resume); the
            execution-time limit counts from here, so time spent waiting for a person is free.
        resolved_requests: Ids of human requests already answered (answers are applied once).
    """

    agent_id: str
    status: AgentStatus = AgentStatus.IDLE
    steps: list[AgentStep] = field(default_factory=list)
    current_iteration: int = 0
    max_iterations: int = 10
    created_at: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)
    run_id: str = field(default_factory=_new_run_id)
    pending_request: HumanContactRequest | None = None
    queued_tool_calls: list[ToolCall] = field(default_factory=list)
    consecutive_errors: int = 0
    error: str | None = None
    segment_started_at: datetime | None = None
    resolved_requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = AgentStatus(self.status)
        self.metadata = to_json_value(self.metadata)

    # ------------------------------------------------------------------ thread
    def add_step(self, step: AgentStep) -> None:
        """Append ``step`` to the thread."""
        self.steps.append(step)

    def last_step(self, step_type: StepType | None = None) -> AgentStep | None:
        """The newest step (of ``step_type`` when given)."""
        for step in reversed(self.steps):
            if step_type is None or step.step_type == step_type:
                return step
        return None

    @property
    def final_answer(self) -> str | None:
        """The last assistant message when the run completed."""
        if self.status != AgentStatus.COMPLETED:
            return None
        step = self.last_step(StepType.ASSISTANT_MESSAGE)
        return str(step.content) if step is not None else None

    def finished_calls_since(self, before: AgentState) -> list[FinishedCall]:
        """The tool calls whose results this state added to ``before`` (an earlier copy of the
        same run), oldest first, with the arguments they ran with."""
        calls = {
            str(s.content.get("id")): ToolCall.from_dict(s.content)
            for s in self.steps
            if s.step_type == StepType.TOOL_CALL and isinstance(s.content, dict)
        }
        finished: list[FinishedCall] = []
        for step in self.steps[len(before.steps) :]:
            if step.step_type != StepType.TOOL_RESULT or not isinstance(step.content, dict):
                continue
            call_id = str(step.content.get("tool_call_id", ""))
            call = calls.get(call_id)
            finished.append(
                FinishedCall(
                    call_id=call_id,
                    name=str(step.content.get("name", "")),
                    arguments=call.arguments_json() if call else "{}",
                    result=str(step.content.get("content", "")),
                    is_error=bool(step.metadata.get("is_error")),
                )
            )
        return finished

    def get_context_messages(self) -> list[dict[str, Any]]:
        """The thread as OpenAI chat messages (without the system prompt).

        Consecutive tool calls of one model answer become one assistant message with
        ``tool_calls``; each result becomes a ``tool`` message. Human answers reach the model as
        the result of the call that asked (``request_human_input``) or as a user message
        (guidance after repeated errors). Approval requests are for people only: the model sees
        their outcome as the results of the held calls.
        """
        messages: list[dict[str, Any]] = []
        for step in self.steps:
            kind = step.step_type
            if kind == StepType.USER_MESSAGE:
                messages.append({"role": "user", "content": str(step.content)})
            elif kind == StepType.ASSISTANT_MESSAGE:
                messages.append({"role": "assistant", "content": str(step.content)})
            elif kind == StepType.TOOL_CALL:
                call = ToolCall.from_dict(step.content)
                last = messages[-1] if messages else None
                if (
                    last is not None
                    and last["role"] == "assistant"
                    and "tool_calls" in last
                    and last.get("_batch") == step.metadata.get("batch")
                ):
                    last["tool_calls"].append(call.to_openai())
                else:
                    messages.append(
                        {
                            "role": "assistant",
                            "content": step.metadata.get("assistant_text") or None,
                            "tool_calls": [call.to_openai()],
                            "_batch": step.metadata.get("batch"),
                        }
                    )
            elif kind == StepType.TOOL_RESULT:
                content = step.content if isinstance(step.content, Mapping) else {}
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": str(content.get("tool_call_id", "")),
                        "name": str(content.get("name", "")),
                        "content": str(content.get("content", "")),
                    }
                )
            elif (
                kind == StepType.HUMAN_RESPONSE
                and step.metadata.get("request_type") == HumanRequestType.CLARIFICATION.value
            ):
                messages.append(
                    {"role": "user", "content": f"[guidance from a person] {step.content}"}
                )
        for msg in messages:
            msg.pop("_batch", None)
        return messages

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (see ``from_dict``)."""
        return {
            "version": STATE_VERSION,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "status": self.status.value,
            "steps": [s.to_dict() for s in self.steps],
            "current_iteration": self.current_iteration,
            "max_iterations": self.max_iterations,
            "created_at": self.created_at.isoformat(),
            "metadata": self.metadata,
            "pending_request": self.pending_request.to_dict() if self.pending_request else None,
            "queued_tool_calls": [c.to_dict() for c in self.queued_tool_calls],
            "consecutive_errors": self.consecutive_errors,
            "error": self.error,
            "segment_started_at": (
                self.segment_started_at.isoformat() if self.segment_started_at else None
            ),
            "resolved_requests": list(self.resolved_requests),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentState:
        """Rebuild a state from ``to_dict`` output (or its JSON)."""
        version = int(data.get("version", STATE_VERSION))
        if version > STATE_VERSION:
            raise ValueError(f"agent state version {version} is newer than this LiteAgent")
        pending = data.get("pending_request")
        segment = data.get("segment_started_at")
        return cls(
            agent_id=str(data["agent_id"]),
            run_id=str(data.get("run_id") or _new_run_id()),
            status=AgentStatus(data.get("status", AgentStatus.IDLE.value)),
            steps=[AgentStep.from_dict(s) for s in data.get("steps", [])],
            current_iteration=int(data.get("current_iteration", 0)),
            max_iterations=int(data.get("max_iterations", 10)),
            created_at=datetime.fromisoformat(data["created_at"]),
            metadata=dict(data.get("metadata") or {}),
            pending_request=HumanContactRequest.from_dict(pending) if pending else None,
            queued_tool_calls=[ToolCall.from_dict(c) for c in data.get("queued_tool_calls", [])],
            consecutive_errors=int(data.get("consecutive_errors", 0)),
            error=data.get("error"),
            segment_started_at=datetime.fromisoformat(segment) if segment else None,
            resolved_requests=[str(r) for r in data.get("resolved_requests", [])],
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the form that is stored and hashed."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> AgentState:
        return cls.from_dict(json.loads(text))

    def compute_hash(self) -> str:
        """SHA-256 of the canonical JSON: equal states hash equal, in any process."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def copy(self) -> AgentState:
        """A deep, independent copy (via the serialised form)."""
        return AgentState.from_dict(json.loads(self.to_json()))
