"""A scripted server speaking Anthropic's Messages API (``POST /v1/messages``, JSON and SSE).

Replies are queued with ``reply_text``, ``reply_tool_use``, ``reply_error`` (an HTTP error with
Anthropic's error body), ``reply_stream_error`` (an ``error`` event in the middle of a stream,
as Anthropic sends when it is overloaded) or ``reply_fault`` (``tests.servers.faults``).
Requests are recorded with their headers. An empty queue answers 500 ``api_error``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers.faults import Faults, apply_delay, cut


@dataclass
class AnthropicReply:
    text: str = ""
    tool_uses: list[dict[str, Any]] = field(default_factory=list)
    thinking: str = ""
    status: int = 200
    error_type: str | None = None
    error_message: str = ""
    stream_error_after: int | None = None
    input_tokens: int = 13
    output_tokens: int = 9
    stop_reason: str | None = None
    faults: Faults = field(default_factory=Faults)
    sticky: bool = False


class AnthropicWireServer:
    def __init__(self) -> None:
        self.replies: list[AnthropicReply] = []
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    def reply_text(self, text: str, **kw: Any) -> None:
        self.replies.append(AnthropicReply(text=text, **kw))

    def reply_tool_use(
        self, name: str, arguments: dict[str, Any], text: str = "", **kw: Any
    ) -> None:
        use = {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:12]}",
            "name": name,
            "input": arguments,
        }
        self.replies.append(AnthropicReply(text=text, tool_uses=[use], **kw))

    def reply_error(
        self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.replies.append(
            AnthropicReply(
                status=status,
                error_type=error_type,
                error_message=message,
                faults=Faults(headers=headers or {}),
            )
        )

    def reply_stream_error(
        self, text: str, after: int, error_type: str = "overloaded_error"
    ) -> None:
        self.replies.append(
            AnthropicReply(
                text=text,
                stream_error_after=after,
                error_type=error_type,
                error_message="Overloaded",
            )
        )

    def reply_fault(self, **faults: Any) -> None:
        text = faults.pop("content", "partial answer that breaks off")
        sticky = faults.pop("sticky", False)
        self.replies.append(AnthropicReply(text=text, faults=Faults(**faults), sticky=sticky))

    def _message(self, reply: AnthropicReply, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.thinking:
            content.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig"})
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        content.extend(reply.tool_uses)
        return {
            "id": f"msg_{uuid.uuid4().hex[:16]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": reply.stop_reason or ("tool_use" if reply.tool_uses else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "headers": dict(request.headers)})
        if self.replies:
            reply = self.replies[0] if self.replies[0].sticky else self.replies.pop(0)
        else:
            reply = AnthropicReply(
                status=500, error_type="api_error", error_message="no scripted reply"
            )
        await apply_delay(reply.faults)
        if reply.faults.raw_body is not None:
            if body.get("stream"):
                frame = f"event: message_start\ndata: {reply.faults.raw_body}\n\n"
                return Response(frame, media_type="text/event-stream")
            return Response(reply.faults.raw_body, media_type="application/json")
        if reply.status >= 400:
            return JSONResponse(
                {
                    "type": "error",
                    "error": {"type": reply.error_type, "message": reply.error_message},
                },
                status_code=reply.status,
                headers=reply.faults.headers,
            )
        model = body.get("model", "claude-test")
        if body.get("stream"):
            events = cut(self._sse(reply, model), reply.faults, _is_text_delta)
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(self._message(reply, model))

    async def _sse(self, reply: AnthropicReply, model: str) -> AsyncIterator[bytes]:
        def event(kind: str, data: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

        message = self._message(reply, model)
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": reply.input_tokens, "output_tokens": 1}
        yield event("message_start", {"message": start})
        yield event("ping", {})
        index = 0
        if reply.thinking:
            yield event(
                "content_block_start",
                {"index": index, "content_block": {"type": "thinking", "thinking": ""}},
            )
            yield event(
                "content_block_delta",
                {"index": index, "delta": {"type": "thinking_delta", "thinking": reply.thinking}},
            )
            yield event("content_block_stop", {"index": index})
            index += 1
        if reply.text:
            yield event(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
            for n, word in enumerate(reply.text.split(" ")):
                if reply.stream_error_after is not None and n >= reply.stream_error_after:
                    err = {"type": reply.error_type, "message": reply.error_message}
                    yield event("error", {"error": err})
                    return
                piece = word if n == 0 else " " + word
                yield event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "text_delta", "text": piece}},
                )
            yield event("content_block_stop", {"index": index})
            index += 1
        for use in reply.tool_uses:
            block = {"type": "tool_use", "id": use["id"], "name": use["name"], "input": {}}
            yield event("content_block_start", {"index": index, "content_block": block})
            args = json.dumps(use["input"])
            for j in range(0, len(args), 6):
                delta = {"type": "input_json_delta", "partial_json": args[j : j + 6]}
                yield event("content_block_delta", {"index": index, "delta": delta})
            yield event("content_block_stop", {"index": index})
            index += 1
        yield event(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": reply.output_tokens},
            },
        )
        yield event("message_stop", {})


def _is_text_delta(event: bytes) -> bool:
    return b'"text_delta"' in event
