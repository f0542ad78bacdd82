"""Run events → what the client receives: one translation for streamed and whole answers.

``EventTranslator.feed`` turns each ``RunEvent`` into the pieces a client sees (text passed
through ``ContentWriter`` so Open WebUI renders it as written, reasoning, status lines, sources,
calls of the client's own tools) and keeps the outcome (usage, finish reason, provenance). The
handler's ``astreaming`` makes one chunk of each piece; ``acompletion`` joins them into one
message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from liteagent.llm.base import LLMToolCall, Usage
from liteagent.proxy.chunks import ContentWriter
from liteagent.proxy.events import (
    ClientToolCalls,
    ReasoningDelta,
    RunEvent,
    RunFinished,
    SourcesEvent,
    StatusUpdate,
    TextDelta,
    ToolStep,
    UsageReport,
)

__all__ = ["EventTranslator", "Outcome", "Piece"]

PieceKind = Literal["text", "reasoning", "status", "source", "tool_calls"]


@dataclass(frozen=True)
class Piece:
    """One thing the client receives: ``text``/``reasoning`` (``text``), a ``status`` line, a
    ``source`` (Open WebUI event payload) or ``tool_calls`` of the client's own tools."""

    kind: PieceKind
    text: str = ""
    status: StatusUpdate | None = None
    source: dict[str, Any] | None = None
    calls: tuple[LLMToolCall, ...] = ()


@dataclass
class Outcome:
    """What the run reported besides its content."""

    usage: Usage = field(default_factory=Usage)
    finish: str = "stop"
    provenance: dict[str, Any] = field(default_factory=dict)
    reported_progress: bool = False
    """The run sent a status of its own (the handler's first "Working…" is then superseded)."""


class EventTranslator:
    """Feeds run events in order; returns the pieces each one produces (see the module docs)."""

    def __init__(self) -> None:
        self.writer = ContentWriter()
        self.outcome = Outcome()

    def feed(self, event: RunEvent) -> list[Piece]:
        if isinstance(event, TextDelta):
            return self._text(self.writer.text(event.text))
        if isinstance(event, ToolStep):
            return self._text(self.writer.tool(event))
        if isinstance(event, ReasoningDelta):
            # inside an open block of text, reasoning is written into the text (writer)
            kept = self.writer.reasoning(event.text)
            return [] if kept else [Piece("reasoning", event.text)]
        if isinstance(event, StatusUpdate):
            self.outcome.reported_progress = True
            return [Piece("status", status=event)]
        if isinstance(event, SourcesEvent):
            return [Piece("source", source=source) for source in event.sources]
        if isinstance(event, UsageReport):
            self.outcome.usage = self.outcome.usage + event.usage
            return []
        if isinstance(event, ClientToolCalls):
            return [*self.flush(), Piece("tool_calls", calls=event.calls)]
        if isinstance(event, RunFinished):
            self.outcome.finish = event.finish_reason
            self.outcome.provenance = event.metadata.get("liteagent") or {}
        return []

    def flush(self) -> list[Piece]:
        """Text the writer still holds (a block it kept open), at the end or before tool calls."""
        return self._text(self.writer.flush())

    @staticmethod
    def _text(text: str) -> list[Piece]:
        return [Piece("text", text)] if text else []
