"""Inside the proxy, a chat through the API is a chat through LiteLLM: ``ProxyChatGateway``
sends it to the proxy's own ``POST /v1/chat/completions`` in-process (no socket), with the
caller's key. So LiteLLM applies to it everything it applies to any chat — the key's allowed
models, budgets, rpm/tpm limits, spend logs, callbacks — and then hands it to the handler on
its normal path (turn lock, credential scrubbing, runners, approvals).

Standalone there is no LiteLLM: the API calls the handler directly (``AgentService``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from liteagent.errors import LiteAgentError
from liteagent.log import get_logger

__all__ = ["ChatGatewayError", "GatewayReply", "ProxyChatGateway"]

logger = get_logger(__name__)

CHAT_PATH = "/v1/chat/completions"
_FORWARDED = ("authorization", "x-litellm-api-key", "api-key")


class ChatGatewayError(LiteAgentError):
    """LiteLLM refused or failed the chat; carries its status and message."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status_code

    def to_dict(self) -> dict[str, object]:
        kind = "invalid_request_error" if self.status < 500 else "api_error"
        return {
            "error": {
                "message": self.message,
                "type": kind,
                "param": None,
                "code": str(self.status),
            }
        }


@dataclass
class GatewayReply:
    """The proxy's answer: status, headers and the body's chunks as they come."""

    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.body])


def _error_message(raw: bytes, status: int) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:500] or f"The proxy answered {status}."
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    detail = data.get("detail") if isinstance(data, dict) else None
    return str(detail or data)[:500]


class ProxyChatGateway:
    """Chats through the running proxy's own app (``litellm.proxy.proxy_server.app``).

    Args:
        app: The proxy's ASGI app.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def send(self, body: dict[str, Any], headers: Mapping[str, str]) -> GatewayReply:
        """``POST /v1/chat/completions`` with ``body``, forwarding the caller's key and the
        chat id; returns once the response has started (the body streams on)."""
        payload = json.dumps(body).encode()
        sent = [(b"content-type", b"application/json")]
        sent += [
            (name.encode(), value.encode())
            for name, value in headers.items()
            if name.lower() in (*_FORWARDED, "x-openwebui-chat-id")
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": CHAT_PATH,
            "raw_path": CHAT_PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": sent,
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 80),
        }
        messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        done = asyncio.Event()
        request_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await done.wait()  # the caller went away, or the answer is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            await messages.put(message)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                await messages.put(None)

        task = asyncio.create_task(run())
        start = await messages.get()
        if start is None or start.get("type") != "http.response.start":
            done.set()
            await _finish(task)
            raise ChatGatewayError(502, "The proxy gave no answer to the chat.")
        response_headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}

        async def chunks() -> AsyncIterator[bytes]:
            complete = False
            try:
                while (message := await messages.get()) is not None:
                    if message.get("type") != "http.response.body":
                        continue
                    if message.get("body"):
                        yield bytes(message["body"])
                    if not message.get("more_body", False):
                        complete = True
                        break
            finally:
                done.set()  # the app sees the end (or the caller leaving) as a disconnect
                if complete:  # let it finish its own work (callbacks, logging)
                    with contextlib.suppress(Exception):
                        await task
                else:
                    await _finish(task)

        return GatewayReply(int(start["status"]), response_headers, chunks())

    async def complete(
        self, body: dict[str, Any], headers: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A non-streamed chat: the OpenAI response and the proxy's response headers.

        Raises:
            ChatGatewayError: with the proxy's status and message.
        """
        reply = await self.send({**body, "stream": False}, headers)
        raw = await reply.read()
        if reply.status >= 400:
            raise ChatGatewayError(reply.status, _error_message(raw, reply.status))
        answer: dict[str, Any] = json.loads(raw)
        return answer, reply.headers

    async def stream(
        self, body: dict[str, Any], headers: Mapping[str, str]
    ) -> AsyncIterator[bytes]:
        """A streamed chat: the proxy's server-sent events, as they come.

        Raises:
            ChatGatewayError: the proxy refused the chat before streaming (its status).
        """
        reply = await self.send({**body, "stream": True}, headers)
        if reply.status >= 400:
            raw = await reply.read()
            raise ChatGatewayError(reply.status, _error_message(raw, reply.status))
        return reply.body


async def _finish(task: asyncio.Task[None]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
