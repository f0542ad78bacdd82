"""The 12-factor agent: a stateless reducer over ``AgentState``.

``Agent.step(state)`` takes a state and returns a new one; it keeps nothing between calls and
never changes the state it was given (factor 12). The caller owns the loop (factor 8): load a
state, step it, save it, stop whenever it likes. A step either

- runs the tool calls queued in the state (approved ones included, exactly as stored), or
- asks the LLM for the next move: a final answer (``COMPLETED``), tool calls to queue, or calls
  that need a person first (``WAITING_HUMAN`` with a ``HumanContactRequest``).

A failing tool's error goes back to the model in compact form (factor 9), and so does a proposed
call to an unknown tool or with arguments that do not fit the tool's schema: such a call is
never queued nor held for approval, so the model corrects it before anyone is asked. After
``max_consecutive_errors`` failures in a row the agent asks a person instead of looping.
``max_iterations`` (LLM calls) and ``max_execution_time`` (seconds of one stretch of work) end
a run ``FAILED`` with the reason in ``state.error``.

This module performs no I/O of its own: the LLM client and tool handlers are injected.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from liteagent.agents.memory import ConversationMemory, MemoryStrategy
from liteagent.agents.prompts import AgentPrompts
from liteagent.agents.state import AgentState
from liteagent.agents.tools import Tool, ToolExecutor, ToolRegistry, as_tool, compact_error
from liteagent.agents.types import (
    AgentStatus,
    AgentStep,
    HumanContactRequest,
    HumanRequestType,
    StepType,
    ToolCall,
    ToolDefinition,
    utcnow,
)
from liteagent.security.validation import label_untrusted

__all__ = [
    "EXTERNAL_TOOL_CALLS",
    "HUMAN_INPUT_TOOL",
    "Agent",
    "AgentConfig",
    "AgentStateError",
    "LLMClient",
]

ToolChoice = str | dict[str, Any]

HUMAN_INPUT_TOOL = "request_human_input"
_HUMAN_INPUT_DEFINITION = ToolDefinition(
    name=HUMAN_INPUT_TOOL,
    description="Ask the user a question and wait for the answer.",
    parameters={
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "The question to ask the user."}
        },
        "required": ["question"],
    },
)


class LLMClient(ABC):
    """What the agent needs from a model: one chat call returning an OpenAI-shaped dict.

    The result has ``choices[0].message`` with ``content`` and optional ``tool_calls``
    (``reasoning_content`` too, when the model thinks aloud) and an optional ``usage``.
    """

    @abstractmethod
    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> dict[str, Any]:
        """Answer ``messages``; ``tool_choice`` is passed only when it is not ``"auto"``."""


async def drive_to_completion(
    step: Callable[[AgentState], Awaitable[AgentState]],
    answer_human: Callable[[AgentState, str, bool, str | None], AgentState],
    state: AgentState,
    human_callback: HumanCallback | None = None,
) -> AgentState:
    """The caller-owned loop (factor 8): step while running; answer a waiting person through
    ``human_callback`` when one is given; return when the run ends or waits unanswered."""
    while True:
        if state.status in (AgentStatus.IDLE, AgentStatus.RUNNING):
            state = await step(state)
            continue
        if state.status == AgentStatus.WAITING_HUMAN and human_callback is not None:
            request = state.pending_request
            assert request is not None
            answer = await human_callback(request)
            text, approved = answer if isinstance(answer, tuple) else (answer, True)
            state = answer_human(state, text, approved, request.request_id)
            continue
        return state


def label_tool_results(messages: Sequence[Any]) -> list[Any]:
    """``messages`` with every tool result that an input check flags wrapped and labelled as
    untrusted data (``liteagent.security.validation.label_untrusted``): a tool's output (a web
    page, an issue, an MCP server's answer) is data for the model, never instructions."""
    out: list[Any] = []
    names: dict[str, str] = {}  # tool call id -> tool name, from the assistant's calls
    for message in messages:
        if not isinstance(message, dict):
            out.append(message)
            continue
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                names[str(call.get("id"))] = str(call["function"].get("name") or "")
        content = message.get("content")
        if message.get("role") == "tool" and isinstance(content, str) and content:
            name = message.get("name") or names.get(str(message.get("tool_call_id"))) or "tool"
            source = f"the result of the tool {name}"
            text, result = label_untrusted(content, source)
            if result.findings:
                message = {**message, "content": text}
        out.append(message)
    return out


class AgentStateError(ValueError):
    """A transition that the state's status does not allow (e.g. resuming a finished run)."""


HumanCallback = Callable[[HumanContactRequest], Awaitable[str | tuple[str, bool]]]


@dataclass
class AgentConfig:
    """How an agent behaves.

    Attributes:
        agent_id: Name of the agent (stored in every state).
        purpose: What the agent is for: the start of its system prompt.
        tools: ``ToolDefinition``s, ``Tool``s or plain functions.
        max_iterations: LLM calls one run may make.
        llm_client: The model.
        max_execution_time: Seconds one stretch of work may take (``None``: no limit).
        memory: Trims the conversation before each LLM call (``None``: send all of it).
        human_input_tool: Offer ``request_human_input`` so the agent can ask the user.
        tool_choice: ``"auto"``, ``"required"`` (first call after a user message must use a
            tool), ``"none"``, or ``{"type": "function", "function": {"name": …}}`` (the first
            call after a user message must call that tool).
        external_tools: Tools the caller runs, not the agent (a chat client's own tools). A
            model answer that calls one ends the run ``COMPLETED`` with those calls in
            ``state.metadata["external_tool_calls"]``; their results come back as
            ``TOOL_RESULT`` steps of a later run.
        force_named_tools: When the user's newest message names a tool ("use the calculator"),
            the next LLM call is made to call that tool. Reliable even with small models.
        max_consecutive_errors: Failed tool calls in a row before the agent asks a person.
        tool_timeout: Default per-call tool time limit in seconds.
        max_error_chars: Tool errors are cut to this length for the model.
        clock: Source of the current time (injectable for tests).
    """

    agent_id: str
    purpose: str
    tools: list[Any] = field(default_factory=list)
    max_iterations: int = 10
    llm_client: LLMClient | None = None
    max_execution_time: float | None = 300.0
    memory: MemoryStrategy | ConversationMemory | None = None
    human_input_tool: bool = True
    tool_choice: ToolChoice = "auto"
    force_named_tools: bool = True
    max_consecutive_errors: int = 3
    tool_timeout: float = 60.0
    max_error_chars: int = 500
    clock: Callable[[], datetime] = utcnow
    external_tools: list[ToolDefinition] = field(default_factory=list)


EXTERNAL_TOOL_CALLS = "external_tool_calls"


def _name_pattern(name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in re.split(r"[_\-\s]+", name) if w]
    return re.compile(r"(?<![\w])" + r"[\s_\-]?".join(words) + r"(?![\w])", re.IGNORECASE)


class Agent:
    """A purpose, tools and a model, driven one ``step`` at a time.

    Example::

        agent = Agent(AgentConfig(agent_id="helper", purpose="Be helpful.", llm_client=client))
        state = agent.launch("Hello")
        state = await agent.run_to_completion(state)
        assert state.status == AgentStatus.COMPLETED
    """

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        tools: list[Tool] = [as_tool(t) for t in config.tools]
        self.registry = ToolRegistry(tools)
        self.executor = ToolExecutor(
            self.registry,
            default_timeout=config.tool_timeout,
            max_error_chars=config.max_error_chars,
        )
        definitions = self.registry.definitions()
        if config.human_input_tool and HUMAN_INPUT_TOOL not in self.registry:
            definitions.append(_HUMAN_INPUT_DEFINITION)
        own = {d.name for d in definitions}
        external = [d for d in config.external_tools if d.name not in own]
        self._external = {d.name for d in external}
        definitions += external
        self.definitions: list[ToolDefinition] = definitions
        self._by_name = {d.name: d for d in definitions}
        self._named = [
            (d.name, _name_pattern(d.name))
            for d in definitions
            if d.name != HUMAN_INPUT_TOOL and d.name not in self._external
        ]
        strategy = config.memory
        self.memory: MemoryStrategy | None = (
            strategy.strategy if isinstance(strategy, ConversationMemory) else strategy
        )

    # ------------------------------------------------------------------ lifecycle
    def launch(
        self,
        user_message: str,
        *,
        history: Sequence[dict[str, Any]] = (),
        metadata: dict[str, Any] | None = None,
    ) -> AgentState:
        """Start a run for ``user_message`` after an optional earlier ``history``.

        ``history`` holds the conversation before the message as OpenAI dicts (``user`` and
        ``assistant`` turns); the memory strategy decides later how much of it the model sees.
        """
        now = self.config.clock()
        state = AgentState(
            agent_id=self.config.agent_id,
            status=AgentStatus.RUNNING,
            max_iterations=self.config.max_iterations,
            created_at=now,
            metadata=dict(metadata or {}),
            segment_started_at=now,
        )
        for msg in history:
            role, content = msg.get("role"), msg.get("content")
            if role == "user":
                state.add_step(AgentStep(StepType.USER_MESSAGE, str(content or ""), now))
            elif role == "assistant" and content:
                state.add_step(AgentStep(StepType.ASSISTANT_MESSAGE, str(content), now))
        state.add_step(AgentStep(StepType.USER_MESSAGE, user_message, now))
        return state

    def pause(self, state: AgentState) -> AgentState:
        """Stop stepping until ``resume``; a pending human request is kept."""
        if state.status.is_terminal or state.status == AgentStatus.PAUSED:
            raise AgentStateError(f"cannot pause a run that is {state.status.value}")
        s = state.copy()
        s.metadata["paused_from"] = s.status.value
        s.status = AgentStatus.PAUSED
        return s

    def resume(self, state: AgentState) -> AgentState:
        """Continue a paused run (back to waiting when a human request is still open)."""
        if state.status != AgentStatus.PAUSED:
            raise AgentStateError(f"cannot resume a run that is {state.status.value}")
        s = state.copy()
        s.metadata.pop("paused_from", None)
        s.status = AgentStatus.WAITING_HUMAN if s.pending_request else AgentStatus.RUNNING
        s.segment_started_at = self.config.clock()
        return s

    def interrupt_calls(
        self, state: AgentState, call_ids: Sequence[str], reason: str
    ) -> AgentState:
        """Settle calls that were started but whose outcome is unknown (the process died or the
        client left while they ran): they are taken off the queue and never run again; each
        gets an error result carrying ``reason``, so the model can tell the person."""
        s = state.copy()
        wanted = set(call_ids)
        calls = [c for c in s.queued_tool_calls if c.id in wanted]
        s.queued_tool_calls = [c for c in s.queued_tool_calls if c.id not in wanted]
        now = self.config.clock()
        for call in calls:
            self._add_result(s, call, reason, now, is_error=True)
        return s

    def abort(self, state: AgentState, reason: str = "aborted") -> AgentState:
        """End a run for good; queued and held tool calls are dropped, never run."""
        if state.status.is_terminal:
            return state.copy()
        s = state.copy()
        s.status = AgentStatus.ABORTED
        s.error = reason
        s.queued_tool_calls = []
        s.add_step(AgentStep(StepType.ERROR, reason, self.config.clock(), {"kind": "aborted"}))
        return s

    def provide_human_response(
        self,
        state: AgentState,
        response: str,
        approved: bool = True,
        request_id: str | None = None,
    ) -> AgentState:
        """Answer the pending human request.

        For an approval, ``approved=True`` queues the held calls exactly as stored; ``False``
        gives each held call a "rejected" result carrying ``response`` as the reason. For a
        question, ``response`` becomes the answer. When there is no pending request, or
        ``request_id`` names another one (it was answered already), nothing changes.
        """
        req = state.pending_request
        if (
            req is None
            or state.status != AgentStatus.WAITING_HUMAN
            or (request_id is not None and request_id != req.request_id)
            or req.request_id in state.resolved_requests
        ):
            return state.copy()
        s = state.copy()
        now = self.config.clock()
        kind = HumanRequestType(req.request_type)
        s.add_step(
            AgentStep(
                StepType.HUMAN_RESPONSE,
                response,
                now,
                {
                    "request_id": req.request_id,
                    "request_type": kind.value,
                    "approved": bool(approved),
                },
            )
        )
        s.pending_request = None
        s.resolved_requests.append(req.request_id)
        if kind == HumanRequestType.APPROVAL:
            held = req.tool_calls
            if approved:
                s.queued_tool_calls = [*s.queued_tool_calls, *held]
            else:
                for call in held:
                    self._add_result(s, call, AgentPrompts.rejected(response), now, rejected=True)
        elif kind == HumanRequestType.INPUT:
            call_id = str(req.context.get("tool_call_id", ""))
            self._add_result(s, ToolCall(call_id, HUMAN_INPUT_TOOL), response, now)
        else:
            s.consecutive_errors = 0
        s.status = AgentStatus.RUNNING
        s.segment_started_at = now
        return s

    async def run_to_completion(
        self, state: AgentState, human_callback: HumanCallback | None = None
    ) -> AgentState:
        """Step until the run ends, or waits for a person and no ``human_callback`` answers.

        ``human_callback(request)`` returns the answer text, or ``(text, approved)``.
        """
        return await drive_to_completion(
            self.step, self.provide_human_response, state, human_callback
        )

    # ------------------------------------------------------------------ the reducer
    async def step(self, state: AgentState) -> AgentState:
        """One unit of work; returns a new state and leaves ``state`` untouched."""
        s = state.copy()
        now = self.config.clock()
        if s.status == AgentStatus.IDLE:
            s.status = AgentStatus.RUNNING
            s.segment_started_at = now
        if s.status != AgentStatus.RUNNING:
            return s
        started = s.segment_started_at or now
        s.segment_started_at = started
        limit = self.config.max_execution_time
        remaining = None if limit is None else limit - (now - started).total_seconds()
        if remaining is not None and remaining <= 0:
            return self._fail(s, self._time_limit_reason(), "max_execution_time")
        deadline = asyncio.timeout(remaining)
        try:
            async with deadline:
                if s.queued_tool_calls:
                    return await self._run_queued(s)
                if s.current_iteration >= s.max_iterations:
                    return self._fail(
                        s,
                        f"Stopped after {s.max_iterations} model calls without a final answer "
                        "(max_iterations).",
                        "max_iterations",
                    )
                return await self._call_llm(s)
        except TimeoutError:
            if not deadline.expired():
                raise
            return self._fail(state.copy(), self._time_limit_reason(), "max_execution_time")

    def _time_limit_reason(self) -> str:
        return (
            f"Stopped after {self.config.max_execution_time:g} s of work without a final answer "
            "(max_execution_time)."
        )

    def _fail(self, s: AgentState, reason: str, kind: str) -> AgentState:
        s.status = AgentStatus.FAILED
        s.error = reason
        s.add_step(AgentStep(StepType.ERROR, reason, self.config.clock(), {"kind": kind}))
        return s

    def system_prompt(self) -> str:
        return AgentPrompts.system_prompt(self.config.purpose, self.definitions)

    async def context_messages(self, state: AgentState) -> list[dict[str, Any]]:
        """The messages the next LLM call gets: system prompt plus the (trimmed) thread."""
        thread = label_tool_results(state.get_context_messages())
        if self.memory is not None:
            thread = await self.memory.aselect(thread)
        return [{"role": "system", "content": self.system_prompt()}, *thread]

    def _tool_choice(self, state: AgentState) -> ToolChoice | None:
        if not self.definitions:
            return None
        last = state.steps[-1] if state.steps else None
        fresh_turn = last is not None and last.step_type == StepType.USER_MESSAGE
        if fresh_turn and self.config.force_named_tools:
            text = str(last.content) if last is not None else ""
            hits = [(m.start(), name) for name, pat in self._named if (m := pat.search(text))]
            if hits:
                name = min(hits)[1]
                return {"type": "function", "function": {"name": name}}
        choice = self.config.tool_choice
        if (choice == "required" or isinstance(choice, dict)) and not fresh_turn:
            return "auto"
        return choice

    async def _call_llm(self, s: AgentState) -> AgentState:
        client = self.config.llm_client
        if client is None:
            raise AgentStateError(f"agent '{self.config.agent_id}' has no llm_client")
        messages = await self.context_messages(s)
        tools = [d.to_openai_format() for d in self.definitions] or None
        choice = self._tool_choice(s)
        if choice is None or choice == "auto":
            response = await client.chat(messages, tools)
        else:
            response = await client.chat(messages, tools, tool_choice=choice)
        now = self.config.clock()
        s.current_iteration += 1
        message, usage = _parse_response(response)
        _add_usage(s, usage)
        content = str(message.get("content") or "")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        raw_calls = message.get("tool_calls") or []
        if not raw_calls:
            extra = {"reasoning": str(reasoning)} if reasoning else {}
            s.add_step(AgentStep(StepType.ASSISTANT_MESSAGE, content, now, extra))
            s.status = AgentStatus.COMPLETED
            return s
        batch = f"b{s.current_iteration}"
        calls: list[ToolCall] = []
        broken: list[tuple[ToolCall, str]] = []
        for i, raw in enumerate(raw_calls):
            call, problem = _parse_call(raw, f"call_{s.current_iteration}_{i}")
            meta: dict[str, Any] = {"batch": batch}
            if content:
                meta["assistant_text"] = content
            if reasoning and i == 0:
                meta["reasoning"] = str(reasoning)
            s.add_step(AgentStep(StepType.TOOL_CALL, call.to_dict(), now, meta))
            if problem is None:
                problem = self._check_call(call)
            if problem is None:
                calls.append(call)
            else:
                broken.append((call, problem))
        for call, problem in broken:
            self._add_error(s, call, problem, now)
        external = [c for c in calls if c.name in self._external]
        if external:
            # the caller runs these: the run ends here, returning them (other calls of this
            # answer are not run; the model sees the results and may ask again)
            s.metadata[EXTERNAL_TOOL_CALLS] = [c.to_dict() for c in external]
            s.status = AgentStatus.COMPLETED
            return s
        asks = [c for c in calls if c.name == HUMAN_INPUT_TOOL]
        held = [c for c in calls if self._by_name[c.name].requires_human_approval]
        safe = [c for c in calls if c not in asks and c not in held]
        if held:
            for other in asks:
                self._add_error(s, other, "Ask the user separately, after the approval.", now)
            self._open_request(
                s,
                HumanRequestType.APPROVAL,
                AgentPrompts.approval_request(held),
                {"tool_calls": [c.to_dict() for c in held]},
                now,
            )
        elif asks:
            first, *rest = asks
            for other in rest:
                self._add_error(s, other, "Ask one question at a time.", now)
            question = str(first.arguments.get("question") or "").strip() or "Please clarify."
            self._open_request(
                s,
                HumanRequestType.INPUT,
                AgentPrompts.input_request(question),
                {"tool_call_id": first.id, "question": question},
                now,
            )
        s.queued_tool_calls = [*s.queued_tool_calls, *safe]
        if s.status == AgentStatus.RUNNING:
            self._maybe_escalate(s, now)
        return s

    async def _run_queued(self, s: AgentState) -> AgentState:
        calls, s.queued_tool_calls = s.queued_tool_calls, []
        results = await self.executor.execute_all(calls)
        now = self.config.clock()
        for call, result in zip(calls, results, strict=True):
            if result.is_error:
                self._add_error(s, call, result.content, now, duration_ms=result.duration_ms)
            else:
                s.consecutive_errors = 0
                self._add_result(s, call, result.content, now, duration_ms=result.duration_ms)
        self._maybe_escalate(s, now)
        return s

    # ------------------------------------------------------------------ helpers
    def _check_call(self, call: ToolCall) -> str | None:
        """What is wrong with a proposed call (unknown tool, arguments that do not fit the
        schema), or ``None``. Runs before a call is queued or held for approval, so a person
        is only ever asked to approve a call that can run."""
        if call.name not in self._by_name:
            available = ", ".join(self._by_name) or "none"
            return f"Unknown tool '{call.name}'. Available tools: {available}."
        tool = self.registry.get(call.name)
        if tool is None or call.name == HUMAN_INPUT_TOOL:  # the engine answers it itself
            return None
        return tool.validate_arguments(call.arguments)

    def _add_result(
        self,
        s: AgentState,
        call: ToolCall,
        content: str,
        now: datetime,
        *,
        is_error: bool = False,
        rejected: bool = False,
        duration_ms: float | None = None,
    ) -> None:
        meta: dict[str, Any] = {"is_error": is_error}
        if rejected:
            meta["rejected"] = True
        if duration_ms is not None:
            meta["duration_ms"] = duration_ms
        s.add_step(
            AgentStep(
                StepType.TOOL_RESULT,
                {"tool_call_id": call.id, "name": call.name, "content": content},
                now,
                meta,
            )
        )

    def _add_error(
        self,
        s: AgentState,
        call: ToolCall,
        error: str,
        now: datetime,
        *,
        duration_ms: float | None = None,
    ) -> None:
        short = compact_error(error, self.config.max_error_chars)
        s.consecutive_errors += 1
        self._add_result(
            s,
            call,
            AgentPrompts.error_context(short, call.name),
            now,
            is_error=True,
            duration_ms=duration_ms,
        )
        s.metadata["last_error"] = short

    def _open_request(
        self,
        s: AgentState,
        kind: HumanRequestType,
        message: str,
        context: dict[str, Any],
        now: datetime,
    ) -> None:
        request = HumanContactRequest(
            request_id=uuid.uuid4().hex, request_type=kind.value, message=message, context=context
        )
        s.pending_request = request
        s.status = AgentStatus.WAITING_HUMAN
        s.add_step(AgentStep(StepType.HUMAN_REQUEST, request.to_dict(), now))

    def _maybe_escalate(self, s: AgentState, now: datetime) -> None:
        limit = self.config.max_consecutive_errors
        if limit < 1 or s.consecutive_errors < limit or s.pending_request is not None:
            return
        error = str(s.metadata.get("last_error", "unknown error"))
        s.queued_tool_calls = []
        self._open_request(
            s,
            HumanRequestType.CLARIFICATION,
            AgentPrompts.clarification_request(error, s.consecutive_errors),
            {"error": error, "count": s.consecutive_errors},
            now,
        )


def _parse_response(response: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    choices = response.get("choices") or []
    message = dict((choices[0] if choices else {}).get("message") or {})
    usage = response.get("usage") or {}
    return message, {
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
    }


def _add_usage(s: AgentState, usage: dict[str, int]) -> None:
    total = s.metadata.get("usage") or {}
    s.metadata["usage"] = {
        key: int(total.get(key, 0)) + usage[key] for key in ("prompt_tokens", "completion_tokens")
    }


def _parse_call(raw: dict[str, Any], fallback_id: str) -> tuple[ToolCall, str | None]:
    """A model's tool call as ``ToolCall`` plus a problem description when it is malformed."""
    fn = raw.get("function") or raw
    name = str(fn.get("name") or "")
    call_id = str(raw.get("id") or fallback_id)
    arguments = fn.get("arguments")
    if isinstance(arguments, dict):
        return ToolCall(call_id, name, arguments), None
    text = str(arguments or "").strip() or "{}"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return ToolCall(call_id, name, {"_raw": text[:500]}), (
            f"The arguments are not valid JSON ({exc.msg} at position {exc.pos}). "
            "Send a JSON object."
        )
    if not isinstance(parsed, dict):
        return ToolCall(call_id, name, {"_raw": text[:500]}), "The arguments must be a JSON object."
    return ToolCall(call_id, name, parsed), None
