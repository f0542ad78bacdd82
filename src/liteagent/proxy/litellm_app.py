"""The running LiteLLM proxy's own app: mounting an ASGI app on it, and checking a key with it.

LiteLLM serves a FastAPI app (``litellm.proxy.proxy_server.app``). When the handler is created
inside a running proxy, the management API and the A2A agents are mounted on that app, and a
key they receive is checked by LiteLLM's own ``user_api_key_auth`` as the request it stands for
(so LiteLLM's rules for that key — validity, expiry, budgets, allowed models — hold there too).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp

__all__ = ["litellm_key_auth", "mount_on_running_proxy", "running_proxy_app"]


def running_proxy_app() -> Any | None:
    """The running LiteLLM proxy's app (``None`` outside a proxy: tests, scripts)."""
    return getattr(sys.modules.get("litellm.proxy.proxy_server"), "app", None)


def mount_on_running_proxy(path: str, build: Callable[[Any], ASGIApp]) -> bool:
    """Mount ``build(proxy_app)`` at ``path``, first in the proxy's route table.

    Returns:
        Whether a proxy app was found (``True`` too when ``path`` was mounted already; then
        ``build`` is not called).
    """
    app = running_proxy_app()
    if app is None:
        return False
    if any(getattr(r, "path", None) == path for r in app.router.routes):
        return True
    app.router.routes.insert(0, Mount(path, app=build(app)))
    return True


def _request(
    app: Any, token: str, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> Request:
    """The request a key is checked as, the way LiteLLM's authentication reads requests."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 0),
        "headers": [(b"authorization", f"Bearer {token}".encode()), *headers],
        "app": app,
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def litellm_key_auth(
    app: Any,
    token: str,
    *,
    method: str,
    path: str,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Any:
    """LiteLLM's ``UserAPIKeyAuth`` for ``token`` sent with ``method path`` (and ``body``).

    Raises:
        Exception: whatever LiteLLM raises when it refuses the key (every refusal is a 401 for
            the caller).
    """
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    arguments: dict[str, Any] = {
        "request": _request(app, token, method, path, body, headers or []),
        "api_key": f"Bearer {token}",
    }
    for name in inspect.signature(user_api_key_auth).parameters:
        arguments.setdefault(name, None)
    return await user_api_key_auth(**arguments)
