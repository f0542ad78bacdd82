"""The A2A agents on the LiteLLM proxy's own app, under ``/liteagent/a2a/<name>``.

When the handler is created inside a running proxy (LiteLLM imports ``custom_handler.py`` while
it loads its config), ``mount_on_proxy`` adds the A2A app to the proxy's FastAPI app. Keys are
checked by LiteLLM itself: each A2A request is authenticated as the chat request it stands for
(``POST /v1/chat/completions`` for ``liteagent/<name>``), so whatever LiteLLM enforces for a
key before a chat — validity, expiry, budgets, the key's allowed models — holds over A2A too,
and the run belongs to the same user as that key's chats.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from liteagent.log import get_logger
from liteagent.proxy import LiteAgentLLM

if TYPE_CHECKING:
    from liteagent.a2a_server.app import Authenticator
    from liteagent.a2a_server.executor import A2AIdentity

__all__ = ["MOUNT_PATH", "LazyA2AApp", "litellm_key_authenticator", "mount_on_proxy"]

logger = get_logger(__name__)

MOUNT_PATH = "/liteagent/a2a"
CHAT_PATH = "/v1/chat/completions"


def _chat_request(app: Any, token: str, model: str) -> Any:
    """The chat request an A2A call stands for, as LiteLLM's authentication reads requests."""
    from fastapi import Request

    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "a2a"}]})
    scope = {
        "type": "http",
        "method": "POST",
        "path": CHAT_PATH,
        "raw_path": CHAT_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 0),
        "headers": [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
        ],
        "app": app,
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body.encode(), "more_body": False}

    return Request(scope, receive)


def litellm_key_authenticator(app: Any) -> Authenticator:
    """Authenticate with the running proxy's ``user_api_key_auth`` (any LiteLLM key)."""

    async def authenticate(token: str, headers: Headers, model: str | None) -> A2AIdentity | None:
        from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

        from liteagent.a2a_server.app import GATEWAY_USER_HEADER
        from liteagent.a2a_server.executor import A2AIdentity

        arguments: dict[str, Any] = {
            "request": _chat_request(app, token, model or ""),
            "api_key": f"Bearer {token}",
        }
        for name in inspect.signature(user_api_key_auth).parameters:
            arguments.setdefault(name, None)
        try:
            key = await user_api_key_auth(**arguments)
        except Exception as exc:  # noqa: BLE001 - every refusal is a 401 for the caller
            logger.info("a2a_key_refused", model=model, reason=type(exc).__name__)
            return None
        user_id = getattr(key, "user_id", None)
        team_id = getattr(key, "team_id", None)
        hashed = getattr(key, "api_key", None) or getattr(key, "token", None)
        principal = user_id or (f"team:{team_id}" if team_id else None)
        principal = principal or (f"key:{hashed[:16]}" if hashed else "anonymous")
        end_user = (headers.get(GATEWAY_USER_HEADER) or "").strip() or None
        metadata = {
            "user_api_key_user_id": user_id,
            "user_api_key_team_id": team_id,
            "user_api_key_hash": hashed,
        }
        return A2AIdentity(principal, end_user, metadata)

    return authenticate


class LazyA2AApp:
    """The A2A app, built on its first request.

    The A2A SDK (and the MCP client the agent cards read tools through) take about half a
    second to import: a proxy that never receives an A2A call does not pay it at start-up.
    """

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = asyncio.Lock()

    def reset(self) -> None:
        """Build again on the next request (the catalog changed)."""
        self._app = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            async with self._lock:
                if self._app is None:
                    # the imports run in a worker thread, off the event loop
                    await asyncio.to_thread(importlib.import_module, "liteagent.a2a_server.app")
                    self._app = self._build()
                app = self._app
        await app(scope, receive, send)


def mount_on_proxy(handler: LiteAgentLLM) -> bool:
    """Mount the A2A app on the running LiteLLM proxy's app (no-op outside a proxy)."""
    proxy_server = sys.modules.get("litellm.proxy.proxy_server")
    app = getattr(proxy_server, "app", None)
    if app is None:
        return False
    if any(getattr(r, "path", None) == MOUNT_PATH for r in app.router.routes):
        return True
    public_url = handler.settings.a2a_public_url
    authenticate = litellm_key_authenticator(app)

    def build() -> ASGIApp:
        from liteagent.a2a_server.app import build_a2a_app

        return build_a2a_app(handler, public_url=public_url, authenticate=authenticate)

    lazy = LazyA2AApp(build)
    app.router.routes.insert(0, Mount(MOUNT_PATH, app=lazy))

    def rebuild(_: object) -> None:  # agents defined at run time get cards too (docs/api.md)
        lazy.reset()

    handler.refresher.on_reload(rebuild)
    logger.info("a2a_mounted", path=MOUNT_PATH, public_url=public_url or "from requests")
    return True
