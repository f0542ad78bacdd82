"""A scripted server speaking OpenAI's chat-completions wire format (JSON and SSE).

Tests queue replies with ``reply_text``, ``reply_tool_call`` or ``reply_error``; every request
body is recorded in ``requests`` (with headers, path and query). When the queue is empty the
server answers 500. Replies take the faults of ``tests.servers.faults`` (``delay``,
``raw_body``, ``cut_after``/``cut_mode``) and ``sticky=True`` keeps a reply for every later
request. Any path ending in ``/chat/completions`` is served (Azure's
``/openai/deployments/<name>/chat/completions`` too).
"""

from __future__ import annotations

import json
import time
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
class Reply:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 11
    completion_tokens: int = 7
    faults: Faults = field(default_factory=Faults)
    sticky: bool = False


class OpenAIWireServer:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[Route("/{prefix:path}/chat/completions", self._chat, methods=["POST"])]
        )

    def reply_text(self, content: str, **kw: Any) -> None:
        self.replies.append(Reply(content=content, **kw))

    def reply_fault(self, **faults: Any) -> None:
        """A text reply with faults, e.g. ``reply_fault(raw_body="{not json")``."""
        content = faults.pop("content", "partial answer that breaks off")
        sticky = faults.pop("sticky", False)
        self.replies.append(Reply(content=content, faults=Faults(**faults), sticky=sticky))

    def reply_tool_call(self, name: str, arguments: dict[str, Any], **kw: Any) -> None:
        call = {
            "id": f"call_{uuid.uuid4().hex[:8]}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        self.replies.append(Reply(tool_calls=[call], **kw))

    def reply_error(self, status: int, message: str, **kw: Any) -> None:
        """An error reply; ``sticky=True`` repeats it for every later request."""
        self.replies.append(Reply(status=status, error={"message": message, "type": "error"}, **kw))

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(
            {
                "body": body,
                "headers": dict(request.headers),
                "path": request.url.path,
                "query": dict(request.query_params),
            }
        )
        if self.replies:
            reply = self.replies[0] if self.replies[0].sticky else self.replies.pop(0)
        else:
            reply = Reply(
                status=500, error={"message": "no scripted reply", "type": "server_error"}
            )
        await apply_delay(reply.faults)
        if reply.faults.raw_body is not None:
            if body.get("stream"):
                return Response(
                    f"data: {reply.faults.raw_body}\n\n", media_type="text/event-stream"
                )
            return Response(reply.faults.raw_body, media_type="application/json")
        if reply.error is not None:
            return JSONResponse(
                {"error": reply.error}, status_code=reply.status, headers=reply.headers
            )
        model = body.get("model", "test-model")
        if body.get("stream"):
            events = cut(self._sse(reply, model, body), reply.faults, _has_content)
            return StreamingResponse(events, media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            }
        )

    async def _sse(self, reply: Reply, model: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        cid = f"chatcmpl-{uuid.uuid4().hex}"

        def event(
            delta: dict[str, Any],
            finish: str | None = None,
            usage: dict[str, int] | None = None,
            choices: bool = True,
        ) -> bytes:
            payload: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                if choices
                else [],
            }
            if usage is not None:
                payload["usage"] = usage
            return f"data: {json.dumps(payload)}\n\n".encode()

        yield event({"role": "assistant", "content": ""})
        for word in reply.content.split(" "):
            if word:
                yield event({"content": word + " "})
        for i, call in enumerate(reply.tool_calls):
            yield event(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            args = call["function"]["arguments"]
            for j in range(0, len(args), 5):
                yield event(
                    {"tool_calls": [{"index": i, "function": {"arguments": args[j : j + 5]}}]}
                )
        yield event({}, finish="tool_calls" if reply.tool_calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield event(
                {},
                usage={
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
                choices=False,
            )
        yield b"data: [DONE]\n\n"


def _has_content(event: bytes) -> bool:
    return b'"content": "' in event and b'"content": ""' not in event
