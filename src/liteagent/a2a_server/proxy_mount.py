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
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from liteagent.log import get_logger
from liteagent.proxy import LiteAgentLLM
from liteagent.proxy.litellm_app import litellm_key_auth, mount_on_running_proxy

if TYPE_CHECKING:
    from liteagent.a2a_server.app import Authenticator
    from liteagent.a2a_server.executor import A2AIdentity

__all__ = ["MOUNT_PATH", "LazyA2AApp", "litellm_key_authenticator", "mount_on_proxy"]

logger = get_logger(__name__)

MOUNT_PATH = "/liteagent/a2a"
CHAT_PATH = "/v1/chat/completions"


def litellm_key_authenticator(app: Any) -> Authenticator:
    """Authenticate with the running proxy's ``user_api_key_auth`` (any LiteLLM key)."""

    async def authenticate(token: str, headers: Headers, model: str | None) -> A2AIdentity | None:
        from liteagent.a2a_server.app import GATEWAY_USER_HEADER
        from liteagent.a2a_server.executor import A2AIdentity

        # checked as the chat request the A2A call stands for
        body = json.dumps({"model": model or "", "messages": [{"role": "user", "content": "a2a"}]})
        try:
            key = await litellm_key_auth(
                app,
                token,
                method="POST",
                path=CHAT_PATH,
                body=body.encode(),
                headers=[(b"content-type", b"application/json")],
            )
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
    public_url = handler.settings.a2a_public_url

    def build(app: Any) -> ASGIApp:
        authenticate = litellm_key_authenticator(app)

        def build_a2a() -> ASGIApp:
            from liteagent.a2a_server.app import build_a2a_app

            return build_a2a_app(handler, public_url=public_url, authenticate=authenticate)

        lazy = LazyA2AApp(build_a2a)

        def rebuild(_: object) -> None:  # agents defined at run time get cards too (docs/api.md)
            lazy.reset()

        handler.refresher.on_reload(rebuild)
        logger.info("a2a_mounted", path=MOUNT_PATH, public_url=public_url or "from requests")
        return lazy

    return mount_on_running_proxy(MOUNT_PATH, build)
