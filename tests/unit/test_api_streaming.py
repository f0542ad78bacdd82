"""The management API's chat stream: the handler's chunks as server-sent OpenAI chunks, an
error before the first chunk raised (its own status), one after it sent as an error event."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from litellm.llms.custom_llm import CustomLLMError

from liteagent.api.streaming import error_body, sse_events
from liteagent.llm.base import Usage
from liteagent.proxy.chunks import event_chunk, final_chunk, status_event, text_chunk


async def _chunks(items: list[Any], fail_after: int | None = None) -> AsyncGenerator[Any, None]:
    for i, item in enumerate(items):
        if fail_after is not None and i == fail_after:
            raise CustomLLMError(status_code=503, message="upstream down")  # type: ignore[no-untyped-call]
        yield item


async def _read(events: Any) -> list[Any]:
    lines = [line async for line in events]
    assert all(line.startswith("data: ") and line.endswith("\n\n") for line in lines)
    return [line[6:-2] if line[6:-2] == "[DONE]" else json.loads(line[6:-2]) for line in lines]


async def test_text_status_and_usage_become_openai_chunks() -> None:
    items = [event_chunk(status_event("Working…", False)), text_chunk("Hel"), text_chunk("lo")]
    items.append(final_chunk(Usage(3, 2), "stop"))
    events = await _read(await sse_events(_chunks(items), model="liteagent/a"))
    assert events[-1] == "[DONE]"
    assert events[0]["event"]["data"]["description"] == "Working…"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == "Hello"
    assert events[-2]["usage"]["total_tokens"] == 5
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert {e["model"] for e in events[:-1]} == {"liteagent/a"}


async def test_errors_before_and_after_the_first_chunk() -> None:
    with pytest.raises(CustomLLMError):
        await sse_events(_chunks([text_chunk("x")], fail_after=0), model="m")
    events = await _read(await sse_events(_chunks([text_chunk("x")] * 3, fail_after=1), model="m"))
    assert events[-2] == {
        "error": {"message": "upstream down", "type": "api_error", "param": None, "code": "503"}
    }
    assert events[-1] == "[DONE]"
    assert error_body(ValueError("boom"))[0] == 500
