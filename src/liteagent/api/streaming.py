"""The handler's stream as server-sent events: OpenAI ``chat.completion.chunk`` objects.

Open WebUI status lines and sources ride as an ``event`` key, as the proxy sends them; usage
comes on the last chunk; ``data: [DONE]`` ends the stream. An error after the stream started
becomes one ``data: {"error": {...}}`` event (the status line was sent already).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from liteagent.log import get_logger

__all__ = ["error_body", "sse_events"]

logger = get_logger(__name__)


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI-shaped body of a handler error (``CustomLLMError``, ``APIError``)."""
    status = getattr(exc, "status_code", 500)
    message = getattr(exc, "message", None) or "LiteAgent hit an internal error."
    status = status if isinstance(status, int) and 400 <= status < 600 else 500
    kind = "invalid_request_error" if status < 500 else "api_error"
    return status, {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


def _payload(item: Any, *, chunk_id: str, model: str) -> dict[str, Any]:
    if not isinstance(item, dict):  # a ModelResponseStream (reasoning, tool calls)
        data: dict[str, Any] = item.model_dump(exclude_none=True)
        data.update(id=chunk_id, model=model)
        return data
    delta: dict[str, Any] = {}
    if item.get("text"):
        delta["content"] = item["text"]
    payload: dict[str, Any] = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "finish_reason": (item.get("finish_reason") or None)
                if item.get("is_finished")
                else None,
            }
        ],
    }
    fields = item.get("provider_specific_fields") or {}
    if "event" in fields:
        payload["event"] = fields["event"]
    if item.get("usage"):
        payload["usage"] = dict(item["usage"])
    return payload


async def sse_events(chunks: AsyncGenerator[Any, None], *, model: str) -> AsyncIterator[str]:
    """Server-sent events of the handler's chunks.

    The first chunk is awaited before this returns, so that a request the handler refuses (an
    option the entry cannot use, a database that is down) gets its own HTTP status rather than
    a stream that fails.
    """
    chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
    first = await chunks.__anext__()

    async def events() -> AsyncIterator[str]:
        failure: dict[str, Any] | None = None
        try:
            yield f"data: {json.dumps(_payload(first, chunk_id=chunk_id, model=model))}\n\n"
            try:
                async for item in chunks:
                    payload = _payload(item, chunk_id=chunk_id, model=model)
                    yield f"data: {json.dumps(payload)}\n\n"
            except Exception as exc:  # noqa: BLE001 - the status line is gone: an error event
                _, failure = error_body(exc)
                logger.warning("api_stream_failed", model=model, error=failure["error"]["message"])
            if failure is not None:
                yield f"data: {json.dumps(failure)}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            await chunks.aclose()

    return events()
