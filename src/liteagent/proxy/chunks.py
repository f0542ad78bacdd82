"""Map run events to what LiteLLM's ``CustomStreamWrapper`` accepts.

Text goes out as ``GenericStreamingChunk`` dicts; Open WebUI ``event`` payloads (status,
sources) ride in ``provider_specific_fields`` (LiteLLM lifts them to a top-level ``event`` key);
reasoning needs a ``ModelResponseStream`` because the generic chunk has no field for it. Usage
comes once, on the final chunk.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Sequence
from typing import Any

from litellm.types.utils import (
    ChatCompletionDeltaToolCall,
    Delta,
    Function,
    GenericStreamingChunk,
    ModelResponseStream,
    StreamingChoices,
)

from liteagent.llm.base import LLMToolCall, Usage
from liteagent.proxy.events import ToolStep
from liteagent.proxy.openwebui import (
    OPENWEBUI_REWRITE_TAGS,
    blockquote,
    code_span,
    inert_text,
    openwebui_safe,
    split_partial_tag,
)


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


def delta_tool_calls(calls: Sequence[LLMToolCall]) -> list[ChatCompletionDeltaToolCall]:
    """Whole tool calls as OpenAI's ``delta.tool_calls`` items (indexed in order)."""
    return [
        ChatCompletionDeltaToolCall(
            id=call.id,
            index=i,
            type="function",
            function=Function(name=call.name, arguments=call.arguments),
        )
        for i, call in enumerate(calls)
    ]


def tool_calls_chunk(
    calls: tuple[LLMToolCall, ...], *, response_id: str, model: str
) -> ModelResponseStream:
    """The model's calls of the client's own tools, whole, as OpenAI ``delta.tool_calls``."""
    deltas = delta_tool_calls(calls)
    return ModelResponseStream(
        id=response_id,
        created=int(time.time()),
        model=model,
        choices=[StreamingChoices(index=0, delta=Delta(content=None, tool_calls=deltas))],
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


_ATTRIBUTE_REFERENCES = {
    "\n": "&#10;",
    "\r": "&#13;",
    # the lead character of the rewrite tags that do not start with "<" (◁think▷)
    **{t[0]: f"&#{ord(t[0])};" for t in OPENWEBUI_REWRITE_TAGS if not t.startswith("<")},
}
_ATTRIBUTE_SPECIALS = re.compile("|".join(map(re.escape, _ATTRIBUTE_REFERENCES)))


def _attr(value: str) -> str:
    """An attribute value, HTML-escaped: no quote, ``<``, ``>``, line break or rewrite tag is
    left, and Open WebUI's ``decode`` gives the exact value back."""
    escaped = html.escape(value, quote=True)
    return _ATTRIBUTE_SPECIALS.sub(lambda m: _ATTRIBUTE_REFERENCES[m.group(0)], escaped)


def tool_block(step: ToolStep) -> str:
    """One finished block for a tool call: ``failed_tool_block`` when it failed.

    A call that worked is Open WebUI's own tool block (see docs/openwebui.md): attributes only and
    an empty body; Open WebUI shows "View Result from <name>" with a check mark and the
    arguments and result when opened. ``arguments`` and ``result`` are JSON-encoded strings,
    then HTML-escaped, so no raw quote, ``>`` or newline appears inside an attribute.
    """
    if step.is_error:
        return failed_tool_block(step)
    attributes = _tool_attributes("tool_calls", step)
    return f"<details {attributes}>\n<summary>Tool Executed</summary>\n</details>\n"


def failed_tool_block(step: ToolStep) -> str:
    """A failed tool call, as a block that reads as failed in Open WebUI and elsewhere.

    Open WebUI draws every finished ``tool_calls`` block with a green check mark and has no
    failed state (its ``ToolCallDisplay`` only knows executing and done), so a failed call
    gets its own type: Open WebUI then shows the summary, "❌ <name> failed", and the
    arguments and the error when opened. The attributes are those of a tool block.
    """
    summary = inert_text(f"❌ {' '.join(step.name.split()) or 'tool'} failed")
    body = "\n>\n".join(
        part
        for part in (
            "> Arguments: " + code_span(step.arguments) if step.arguments.strip() else "",
            blockquote(step.result) or "> The tool gave no error message.",
        )
        if part
    )
    return (
        f"<details {_tool_attributes('tool_error', step)}>\n<summary>{summary}</summary>\n"
        f"{body}\n</details>\n"
    )


def _tool_attributes(kind: str, step: ToolStep) -> str:
    arguments = _attr(json.dumps(step.arguments))
    result = _attr(json.dumps(step.result, ensure_ascii=False))
    return (
        f'type="{kind}" done="true" id="{_attr(step.call_id)}" name="{_attr(step.name)}" '
        f'arguments="{arguments}" result="{result}"'
    )


def reasoning_block(text: str, seconds: int) -> str:
    """Reasoning that arrives after the answer started, as an inline collapsed block.

    The reasoning is quoted as inert text (a model's ``</details>`` or a reasoning tag stays
    text); blank reasoning gives no block at all.
    """
    quoted = blockquote(text)
    if not quoted:
        return ""
    return (
        f'<details type="reasoning" done="true" duration="{seconds}">\n'
        f"<summary>Thought for {seconds} seconds</summary>\n{quoted}\n</details>\n"
    )


class ContentWriter:
    """Builds the answer's text from run events, keeping Open WebUI's layout rules.

    Tool blocks start on a new line and follow each other with a single newline (so Open WebUI
    groups them); reasoning that comes after text has started is collected and written as an
    inline reasoning block before the next piece of content. Answer text passes through
    ``openwebui_safe``; the end of a delta that may be the start of a reasoning tag split
    across deltas is held back until the next delta, a block or ``flush`` (call it once the
    run has ended, or the held text is lost).
    """

    def __init__(self) -> None:
        self.started = False
        self._at_line_start = True
        self._held = ""
        self._reasoning: list[str] = []
        self._reasoning_since: float | None = None

    def text(self, text: str) -> str:
        """What to send for a piece of answer text (may be ``""`` while a tag is held)."""
        out = self.flush() if self._reasoning else ""
        ready, self._held = split_partial_tag(openwebui_safe(self._held + text))
        if text:
            self.started = True
            self._at_line_start = text.endswith("\n")
        return out + ready

    def tool(self, step: ToolStep) -> str:
        """What to send for a finished tool call: its block, on a line of its own."""
        out = self.flush()
        prefix = "" if self._at_line_start else "\n"
        self.started = True
        self._at_line_start = True
        return out + prefix + tool_block(step)

    def reasoning(self, text: str) -> bool:
        """Keep ``text`` for an inline block; ``False`` means "send it as reasoning_content"."""
        if not self.started:
            return False
        if self._reasoning_since is None:
            self._reasoning_since = time.monotonic()
        self._reasoning.append(text)
        return True

    def flush(self) -> str:
        """Everything held back: the end of the text, then the pending reasoning block."""
        out, self._held = self._held, ""
        if not self._reasoning:
            return out
        seconds = max(1, round(time.monotonic() - (self._reasoning_since or time.monotonic())))
        text = "".join(self._reasoning)
        self._reasoning.clear()
        self._reasoning_since = None
        block = reasoning_block(text, seconds)
        if not block:
            return out
        prefix = "" if self._at_line_start else "\n"
        self._at_line_start = True
        return out + prefix + block
