"""``JSONBodyGuard``: a 400 for a request body that is JSON but not an object.

LiteLLM's key check reads the body of an OpenAI-style request as a mapping before any hook
runs: a body of ``[]``, ``1`` or ``true`` makes it answer 500 "Internal server error", and
``null``, a string or an array of objects makes it drop the connection with no answer at all.
The :class:`~liteagent.proxy.guard.RequestGuard` hook cannot help there, since LiteLLM fails
before calling it.

When the handler is created inside a running proxy, :func:`install_body_guard` wraps the proxy
app so that a ``POST`` to one of the OpenAI routes whose body parses as JSON but is not an
object gets a 400 in OpenAI's error shape instead. Every other request passes untouched
(bodies that are not JSON at all are LiteLLM's to refuse, which it does with a 400).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liteagent.log import get_logger

__all__ = ["GUARDED_SUFFIXES", "JSONBodyGuard", "install_body_guard"]

logger = get_logger(__name__)

GUARDED_SUFFIXES = ("/chat/completions", "/completions", "/embeddings", "/responses")
"""Paths (by their ending) of the OpenAI routes whose body LiteLLM reads as an object."""

_MESSAGE = (
    "The request body must be a JSON object such as "
    '{"model": "...", "messages": [{"role": "user", "content": "..."}]}; got {kind}.'
)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def _guarded(scope: Scope) -> bool:
    if scope["type"] != "http" or scope.get("method") != "POST":
        return False
    path = str(scope.get("path", "")).rstrip("/")
    if not path.endswith(GUARDED_SUFFIXES):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media in (b"application/json", b"") or media.endswith(b"+json")
    return True  # LiteLLM reads a body without a content type as JSON too


class JSONBodyGuard:
    """ASGI wrapper answering 400 to an OpenAI-route body that is JSON but not an object."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _guarded(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = _refusal(body)
        if refusal is not None:
            logger.warning("request_body_refused", path=scope.get("path"), reason=refusal)
            await _answer_400(send, refusal)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replayed, send)


def _refusal(body: bytes) -> str | None:
    stripped = body.lstrip()
    if not stripped or stripped[:1] == b"{":
        return None  # an object (or nothing): LiteLLM's and the handler's checks apply
    try:
        value: Any = json.loads(body)
    except ValueError:
        return None  # not JSON at all: LiteLLM answers 400 "Invalid JSON payload"
    if isinstance(value, dict):
        return None
    return _MESSAGE.replace("{kind}", _kind(value))


async def _answer_400(send: Send, message: str) -> None:
    payload = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "request_body",
                "code": "400",
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def install_body_guard(app: Any | None = None) -> bool:
    """Wrap the running LiteLLM proxy's app (or ``app``) with :class:`JSONBodyGuard`.

    The proxy imports the handler while it starts, after Starlette has built the app's
    middleware stack, so the guard wraps the built stack (or the one Starlette builds later).

    Returns:
        Whether a proxy app was found (``False`` outside a proxy).
    """
    if app is None:
        app = getattr(sys.modules.get("litellm.proxy.proxy_server"), "app", None)
    if app is None:
        return False
    if getattr(app, "_liteagent_body_guard", False):
        return True
    stack = getattr(app, "middleware_stack", None)
    if stack is not None:
        app.middleware_stack = JSONBodyGuard(stack)
    else:
        build = app.build_middleware_stack

        def build_guarded() -> ASGIApp:
            return JSONBodyGuard(build())

        app.build_middleware_stack = build_guarded
    app._liteagent_body_guard = True
    logger.debug("body_guard_installed")
    return True
