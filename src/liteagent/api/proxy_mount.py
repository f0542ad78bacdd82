"""The management API on the LiteLLM proxy's own app, under ``/liteagent/api``.

When the handler is created inside a running proxy (LiteLLM imports ``custom_handler.py`` while
it loads its config, whether started by ``liteagent serve`` or by ``litellm --config``),
``mount_on_proxy`` adds the API to the proxy's FastAPI app. Keys are LiteLLM's own, checked by
LiteLLM's ``user_api_key_auth`` (as for ``GET /v1/models``):

- the master key, or a key of a LiteLLM proxy admin ⇒ an admin ``Principal`` (every resource);
- a virtual key of a team ⇒ that team (``team:<id>``): it sees and changes its team's resources;
- any other virtual key ⇒ its user (``user:<id>``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp

from liteagent.api.app import create_app
from liteagent.api.principal import Principal, RateLimitInfo
from liteagent.api.proxy_chat import ProxyChatGateway
from liteagent.log import get_logger
from liteagent.proxy import LiteAgentLLM
from liteagent.proxy.litellm_app import litellm_key_auth, mount_on_running_proxy

__all__ = ["MOUNT_PATH", "LiteLLMKeyAuthenticator", "mount_on_proxy", "principal_from_key"]

logger = get_logger(__name__)

MOUNT_PATH = "/liteagent/api"
_CHECKED_AS = "/v1/models"
_ADMIN_ROLE = "proxy_admin"

KeyCheck = Callable[[str], Awaitable[Any]]


def principal_from_key(key: Any) -> Principal:
    """The caller a LiteLLM ``UserAPIKeyAuth`` stands for."""
    role = getattr(key, "user_role", None)
    role = getattr(role, "value", role)
    user_id = getattr(key, "user_id", None) or None
    team_id = getattr(key, "team_id", None) or None
    hashed = getattr(key, "token", None) or getattr(key, "api_key", None) or ""
    if team_id:
        subject = f"team:{team_id}"
    elif user_id:
        subject = f"user:{user_id}"
    else:
        subject = f"key:{str(hashed)[:16]}"
    return Principal(
        subject=subject, is_admin=role == _ADMIN_ROLE, team_id=team_id, user_id=user_id
    )


def litellm_key_check(app: Any) -> KeyCheck:
    """Check a key with the running proxy's ``user_api_key_auth`` (as for ``GET /v1/models``);
    raises when refused."""

    async def check(token: str) -> Any:
        return await litellm_key_auth(app, token, method="GET", path=_CHECKED_AS)

    return check


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    other = request.headers.get("x-litellm-api-key") or request.headers.get("api-key")
    return other.strip() if other and other.strip() else None


def _refused(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


class LiteLLMKeyAuthenticator:
    """The proxy's ``Authenticator``: LiteLLM master key and virtual keys.

    Args:
        check: Verifies a key and returns LiteLLM's ``UserAPIKeyAuth`` for it, raising when it
            is refused (``litellm_key_check(app)`` in the proxy).
    """

    def __init__(self, check: KeyCheck) -> None:
        self.check = check

    async def authenticate(self, request: Request) -> Principal:
        """The caller of ``request``; 401 without a valid LiteLLM key."""
        token = _bearer(request)
        if token is None:
            raise _refused(
                "Send a LiteLLM key: 'Authorization: Bearer <master key or virtual key>'."
            )
        try:
            key = await self.check(token)
        except Exception as exc:  # noqa: BLE001 - every refusal is a 401 for the caller
            logger.info("api_key_refused", reason=type(exc).__name__)
            raise _refused("The key is not valid for this proxy.") from None
        principal = principal_from_key(key)
        rpm = getattr(key, "rpm_limit", None)
        request.state.rate_limit = RateLimitInfo(
            limit=rpm if isinstance(rpm, int) else None, enforced_by="litellm"
        )
        return principal


def mount_on_proxy(handler: LiteAgentLLM) -> bool:
    """Mount the management API on the running LiteLLM proxy's app (no-op outside a proxy)."""

    def build(app: Any) -> ASGIApp:
        api = create_app(
            handler=handler,
            authenticator=LiteLLMKeyAuthenticator(litellm_key_check(app)),
            gateway=ProxyChatGateway(app),  # chats through LiteLLM: its checks, budgets, spend
        )
        logger.info("management_api_mounted", path=MOUNT_PATH)
        return api

    return mount_on_running_proxy(MOUNT_PATH, build)
