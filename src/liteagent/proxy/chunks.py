"""Map run events to what LiteLLM's ``CustomStreamWrapper`` accepts.

Text goes out as ``GenericStreamingChunk`` dicts; Open WebUI ``event`` payloads (status,
sources) ride in ``provider_specific_fields`` (LiteLLM lifts them to a top-level ``event`` key);
reasoning needs a ``ModelResponseStream`` because the generic chunk has no field for it. Usage
comes once, on the final chunk.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

from litellm.types.utils import Delta, GenericStreamingChunk, ModelResponseStream, StreamingChoices

from liteagent.llm.base import Usage
from liteagent.proxy.events import ToolStep


def text_chunk(text: str) -> GenericStreamingChunk:
    return {
        "text": text,
        "tool_use": None,
        "is_finished": False,
        "finish_reason": "",
        "usage": None,
        "index": 0,
    }


def event_chunk(event: dict[str, Any]) -> GenericStreamingChunk:
    """An Open WebUI ``event`` (status, source…) with no text."""
    chunk = text_chunk("")
    chunk["provider_specific_fields"] = {"event": event}
    return chunk


def status_event(description: str, done: bool, *, hidden: bool = False) -> dict[str, Any]:
    """An Open WebUI status line; ``hidden`` takes the status area out of view once done."""
    data: dict[str, Any] = {"description": description, "done": done}
    if hidden:
        data["hidden"] = True
    return {"type": "status", "data": data}


def reasoning_chunk(text: str, *, response_id: str, model: str) -> ModelResponseStream:
    return ModelResponseStream(
        id=response_id,
        created=int(time.time()),
        model=model,
        choices=[StreamingChoices(index=0, delta=Delta(reasoning_content=text, content=None))],
    )


def final_chunk(usage: Usage, finish_reason: str) -> GenericStreamingChunk:
    return {
        "text": "",
        "tool_use": None,
        "is_finished": True,
        "finish_reason": finish_reason,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        "index": 0,
    }


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def tool_block(step: ToolStep) -> str:
    """One finished Open WebUI tool block (see OPENWEBUI.md): attributes only, empty body.

    ``arguments`` and ``result`` are JSON-encoded strings, then HTML-escaped, so no raw quote,
    ``>`` or newline appears inside an attribute.
    """
    arguments = _attr(json.dumps(step.arguments))
    result = _attr(json.dumps(step.result, ensure_ascii=False))
    return (
        f'<details type="tool_calls" done="true" id="{_attr(step.call_id)}" '
        f'name="{_attr(step.name)}" arguments="{arguments}" result="{result}">\n'
        "<summary>Tool Executed</summary>\n</details>\n"
    )


def reasoning_block(text: str, seconds: int) -> str:
    """Reasoning that arrives after the answer started, as an inline collapsed block."""
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())
    return (
        f'<details type="reasoning" done="true" duration="{seconds}">\n'
        f"<summary>Thought for {seconds} seconds</summary>\n{quoted}\n</details>\n"
    )


class ContentWriter:
    """Builds the answer's text from run events, keeping Open WebUI's layout rules.

    Tool blocks start on a new line and follow each other with a single newline (so Open WebUI
    groups them); reasoning that comes after text has started is collected and written as an
    inline reasoning block before the next piece of content.
    """

    def __init__(self) -> None:
        self.started = False
        self._at_line_start = True
        self._reasoning: list[str] = []
        self._reasoning_since: float | None = None

    def text(self, text: str) -> str:
        out = self.flush_reasoning() + text
        if text:
            self.started = True
            self._at_line_start = text.endswith("\n")
        return out

    def tool(self, step: ToolStep) -> str:
        out = self.flush_reasoning()
        prefix = "" if self._at_line_start else "\n"
        return out + self.text(prefix + tool_block(step))

    def reasoning(self, text: str) -> bool:
        """Keep ``text`` for an inline block; ``False`` means "send it as reasoning_content"."""
        if not self.started:
            return False
        if self._reasoning_since is None:
            self._reasoning_since = time.monotonic()
        self._reasoning.append(text)
        return True

    def flush_reasoning(self) -> str:
        if not self._reasoning:
            return ""
        seconds = max(1, round(time.monotonic() - (self._reasoning_since or time.monotonic())))
        text = "".join(self._reasoning)
        self._reasoning.clear()
        self._reasoning_since = None
        prefix = "" if self._at_line_start else "\n"
        block = prefix + reasoning_block(text, seconds)
        self._at_line_start = True
        return block
