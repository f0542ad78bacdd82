"""What a run emits while it works; the handler maps these to OpenAI chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from liteagent.agents.state import FinishedCall
from liteagent.llm.base import LLMToolCall, Usage


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning (rendered as Open WebUI's "Thought for N seconds")."""

    text: str


@dataclass(frozen=True)
class StatusUpdate:
    """Progress shown above the message ("Searching the handbook…")."""

    description: str
    done: bool = False


@dataclass(frozen=True)
class ToolStep(FinishedCall):
    """A finished tool call, shown as a collapsed "Tool Executed" block in Open WebUI (its fields:
    ``FinishedCall``)."""


@dataclass(frozen=True)
class SourcesEvent:
    """Sources an answer cites, as Open WebUI ``source`` event payloads, numbered in order
    (the first is ``[1]`` in the text). Streams send one ``event`` chunk per source."""

    sources: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class UsageReport:
    """Tokens spent by one inner LLM call; the handler sums them."""

    usage: Usage
    model: str = ""


@dataclass(frozen=True)
class ClientToolCalls:
    """Calls of the client's own tools (``client_tools: offer``), returned to the client as
    OpenAI ``tool_calls``; the client runs them and sends the results back."""

    calls: tuple[LLMToolCall, ...]


@dataclass(frozen=True)
class RunFinished:
    """The run's end, with its finish reason and any metadata for the response."""

    finish_reason: str = "stop"
    metadata: dict[str, Any] = field(default_factory=dict)


RunEvent = (
    TextDelta
    | ReasoningDelta
    | StatusUpdate
    | ToolStep
    | SourcesEvent
    | UsageReport
    | ClientToolCalls
    | RunFinished
)
