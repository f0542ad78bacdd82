"""Map run events to what LiteLLM's ``CustomStreamWrapper`` accepts.

Text goes out as ``GenericStreamingChunk`` dicts; Open WebUI ``event`` payloads (status,
sources) ride in ``provider_specific_fields`` (LiteLLM lifts them to a top-level ``event`` key);
reasoning needs a ``ModelResponseStream`` because the generic chunk has no field for it. Usage
comes once, on the final chunk.
"""

from __future__ import annotations

import time
from typing import Any

from litellm.types.utils import Delta, GenericStreamingChunk, ModelResponseStream, StreamingChoices

from liteagent.llm.base import Usage


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


def status_event(description: str, done: bool) -> dict[str, Any]:
    return {"type": "status", "data": {"description": description, "done": done}}


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
