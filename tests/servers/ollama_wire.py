"""A scripted server speaking Ollama's native API: ``POST /api/chat`` and ``GET /api/tags``.

``/api/chat`` answers one JSON object, or NDJSON lines when ``stream`` is true (the default in
Ollama). Replies are queued with ``reply_text``, ``reply_tool_call``, ``reply_error`` or
``reply_fault`` (``tests.servers.faults``); ``models`` is what ``/api/tags`` lists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers.faults import Faults, apply_delay, cut


@dataclass
class OllamaReply:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    thinking: str = ""
    status: int = 200
    error: str | None = None
    prompt_eval_count: int = 17
    eval_count: int = 8
    faults: Faults = field(default_factory=Faults)
    sticky: bool = False


class OllamaWireServer:
    def __init__(self, models: list[str] | None = None) -> None:
        self.models = models if models is not None else ["llama3.2:latest", "qwen2.5:7b"]
        self.replies: list[OllamaReply] = []
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/api/chat", self._chat, methods=["POST"]),
                Route("/api/tags", self._tags, methods=["GET"]),
            ]
        )

    def reply_text(self, content: str, **kw: Any) -> None:
        self.replies.append(OllamaReply(content=content, **kw))

    def reply_tool_call(self, name: str, arguments: dict[str, Any], **kw: Any) -> None:
        call = {"function": {"name": name, "arguments": arguments}}
        self.replies.append(OllamaReply(tool_calls=[call], **kw))

    def reply_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.replies.append(
            OllamaReply(status=status, error=message, faults=Faults(headers=headers or {}))
        )

    def reply_fault(self, **faults: Any) -> None:
        content = faults.pop("content", "partial answer that breaks off")
        sticky = faults.pop("sticky", False)
        self.replies.append(OllamaReply(content=content, faults=Faults(**faults), sticky=sticky))

    async def _tags(self, request: Request) -> Response:
        return JSONResponse(
            {
                "models": [
                    {
                        "name": name,
                        "model": name,
                        "modified_at": "2025-01-01T00:00:00Z",
                        "size": 2019393189,
                        "digest": "a80c4f17acd5" + "0" * 52,
                        "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B"},
                    }
                    for name in self.models
                ]
            }
        )

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "headers": dict(request.headers)})
        if self.replies:
            reply = self.replies[0] if self.replies[0].sticky else self.replies.pop(0)
        else:
            reply = OllamaReply(status=500, error="no scripted reply")
        await apply_delay(reply.faults)
        if reply.faults.raw_body is not None:
            if body.get("stream", True):
                return Response(reply.faults.raw_body + "\n", media_type="application/x-ndjson")
            return Response(reply.faults.raw_body, media_type="application/json")
        if reply.error is not None:
            return JSONResponse(
                {"error": reply.error}, status_code=reply.status, headers=reply.faults.headers
            )
        model = body.get("model", "llama3.2")
        if body.get("stream", True):
            lines = cut(self._ndjson(reply, model), reply.faults, _has_content)
            return StreamingResponse(lines, media_type="application/x-ndjson")
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.thinking:
            message["thinking"] = reply.thinking
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        return JSONResponse({**_base(model), "message": message, **_final(reply)})

    async def _ndjson(self, reply: OllamaReply, model: str) -> AsyncIterator[bytes]:
        def line(data: dict[str, Any]) -> bytes:
            return (json.dumps({**_base(model), **data}) + "\n").encode()

        if reply.thinking:
            yield line(
                {
                    "message": {"role": "assistant", "content": "", "thinking": reply.thinking},
                    "done": False,
                }
            )
        for n, word in enumerate(reply.content.split(" ") if reply.content else []):
            piece = word if n == 0 else " " + word
            yield line({"message": {"role": "assistant", "content": piece}, "done": False})
        if reply.tool_calls:
            yield line(
                {
                    "message": {"role": "assistant", "content": "", "tool_calls": reply.tool_calls},
                    "done": False,
                }
            )
        yield line({"message": {"role": "assistant", "content": ""}, **_final(reply)})


def _base(model: str) -> dict[str, Any]:
    return {"model": model, "created_at": datetime.now(UTC).isoformat()}


def _final(reply: OllamaReply) -> dict[str, Any]:
    return {
        "done": True,
        "done_reason": "stop",
        "total_duration": 1234567,
        "load_duration": 1000,
        "prompt_eval_count": reply.prompt_eval_count,
        "prompt_eval_duration": 1000,
        "eval_count": reply.eval_count,
        "eval_duration": 1000,
    }


def _has_content(event: bytes) -> bool:
    return b'"content": "' in event and b'"content": ""' not in event
