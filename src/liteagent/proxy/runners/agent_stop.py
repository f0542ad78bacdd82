"""What a stop leaves of an agent run, in words for the person and the model.

A stop (Open WebUI's Stop, an abort) lets the calls the person approved finish and keeps the
run paused (``liteagent.proxy.runners.agent``); these are the sentences that tell what it did
and what the next message does, and the tool blocks of the calls that were let finish.
"""

from __future__ import annotations

import dataclasses

from liteagent.agents import AgentState, HumanRequestType, StepType
from liteagent.proxy.events import ToolStep

__all__ = [
    "ASK_AGAIN",
    "FINISH_LATER",
    "LEFT_UNFINISHED",
    "RUNNING_CALLS",
    "at_last_approval",
    "left_behind",
    "tool_steps",
]

RUNNING_CALLS = "running_calls"
"""State metadata: the ids of the calls running (saved just before they start)."""
ASK_AGAIN = (
    "It is waiting for your approval again: reply **approve** to run it, or **reject** followed "
    "by your reason to refuse."
)
FINISH_LATER = (
    "Reply **approve** to let me finish this request from there (nothing that ran is run "
    "again), or send a new message to leave it."
)
LEFT_UNFINISHED = (
    "_Your earlier request was stopped before it finished and is dropped now; of what you "
    "approved, {ran}._"
)
RESULT_CHARS = 200  # of a result the model of the next run is told


def tool_steps(before: AgentState, after: AgentState) -> list[ToolStep]:
    """The tool calls that finished between ``before`` and ``after``, as tool blocks."""
    return [ToolStep(**dataclasses.asdict(c)) for c in after.finished_calls_since(before)]


def _last_approval(state: AgentState) -> int:
    """The index of the run's last approval step (the end of its steps: none)."""
    return max(
        (
            n
            for n, step in enumerate(state.steps)
            if step.step_type == StepType.HUMAN_RESPONSE
            and step.metadata.get("request_type") == HumanRequestType.APPROVAL.value
        ),
        default=len(state.steps),
    )


def at_last_approval(state: AgentState) -> AgentState:
    """``state`` as it was when its last approval was given: what the calls that ran since are
    new against (a finished run shows them, even when the answer that ran them was cut)."""
    before = state.copy()
    before.steps = before.steps[: _last_approval(state)]
    return before


def left_behind(state: AgentState) -> tuple[str, dict[str, str]] | None:
    """What an unfinished run had done since its last approval, said when a new message closes
    it: a note for the person, and the same with the results for the model of the new run
    (``None``: nothing had started)."""
    start = _last_approval(state)
    ran: list[tuple[str, str]] = []
    for step in state.steps[start:]:
        content = step.content
        if step.step_type != StepType.TOOL_RESULT or not isinstance(content, dict):
            continue
        if step.metadata.get("rejected"):
            continue  # refused: it never ran
        result = " ".join(str(content.get("content", "")).split())
        if len(result) > RESULT_CHARS:
            result = result[: RESULT_CHARS - 1] + "…"
        ran.append((str(content.get("name", "")), result))
    running = {str(i) for i in state.metadata.get(RUNNING_CALLS) or ()}
    started = list(dict.fromkeys(c.name for c in state.queued_tool_calls if c.id in running))
    parts = []
    if ran:
        names = ", ".join(dict.fromkeys(f"`{name}`" for name, _ in ran))
        parts.append(f"{names} had already run")
    if started:
        names = ", ".join(f"`{n}`" for n in started)
        parts.append(f"{names} had started and may or may not have taken effect")
    if not parts:
        return None
    note = LEFT_UNFINISHED.format(ran="; ".join(parts))
    results = "; ".join(f"{name}: {result}" for name, result in ran)
    told = f"{note}\n\nResults: {results}" if results else note
    return note, {"role": "assistant", "content": told}
