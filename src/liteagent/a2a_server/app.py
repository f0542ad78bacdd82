"""The A2A app: every catalog entry as an A2A agent (card + JSON-RPC), behind key authentication.

For an entry ``liteagent/<name>`` the app serves

- ``GET /<name>/.well-known/agent-card.json``: its agent card (public, as discovery needs);
- ``POST /<name>``: A2A JSON-RPC — ``SendMessage`` / ``SendStreamingMessage`` (A2A 1.0) and
  their v0.3 names ``message/send`` / ``message/stream`` (what LiteLLM's Agent Gateway sends),
  plus ``GetTask`` / ``tasks/get``;
- ``GET /``: the agents and their card URLs.

Every JSON-RPC request needs ``Authorization: Bearer <key>``; the ``authenticate`` callable
decides who the key belongs to (``master_key_authenticator`` for the standalone
``liteagent a2a`` server). A request without a valid key gets 401 with an OpenAI-shaped body.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from starlette.applications import Starlette
from starlette.authentication import SimpleUser
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from liteagent.a2a_server.card import agent_card
from liteagent.a2a_server.executor import A2AIdentity, LiteAgentExecutor
from liteagent.log import get_logger
from liteagent.proxy import LiteAgentLLM

__all__ = [
    "GATEWAY_USER_HEADER",
    "Authenticator",
    "build_a2a_app",
    "master_key_authenticator",
]

logger = get_logger(__name__)

Authenticator = Callable[[str, Headers], Awaitable[A2AIdentity | None]]
"""``(bearer token, request headers) -> identity``, ``None`` when the key is not accepted."""

GATEWAY_USER_HEADER = "x-litellm-user-id"
CARD_PATH = ".well-known/agent-card.json"
# The LiteLLM proxy names the master key's owner so (LITELLM_PROXY_ADMIN_NAME): runs started by
# chat and over A2A with the master key belong to the same user.
MASTER_KEY_PRINCIPAL = "default_user_id"


def master_key_authenticator(master_key: str) -> Authenticator:
    """Accept exactly ``master_key`` (compared in constant time).

    The caller is the master key's owner, as on the proxy; a gateway in front (LiteLLM's Agent
    Gateway) may name the person it calls for in ``x-litellm-user-id``, who then gets runs and
    tokens of their own.
    """
    expected = master_key.encode()

    async def authenticate(token: str, headers: Headers) -> A2AIdentity | None:
        if not expected or not hmac.compare_digest(token.encode(), expected):
            return None
        end_user = (headers.get(GATEWAY_USER_HEADER) or "").strip() or None
        return A2AIdentity(MASTER_KEY_PRINCIPAL, end_user)

    return authenticate


def _unauthorized(message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "authentication_error", "code": "401"}}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


class _BearerAuth:
    """Checks the key of every request but the public ones (cards, the index)."""

    def __init__(self, app: ASGIApp, authenticate: Authenticator) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        identity = None
        if scheme.lower() == "bearer" and token.strip():
            identity = await self.authenticate(token.strip(), headers)
        if identity is None:
            logger.info("a2a_request_refused", path=scope.get("path"))
            message = (
                "A valid LiteLLM key is required: send it as 'Authorization: Bearer <key>'."
                if token.strip()
                else "Missing key: send a LiteLLM key as 'Authorization: Bearer <key>'."
            )
            await _unauthorized(message)(scope, receive, send)
            return
        scope["auth"] = identity
        scope["user"] = SimpleUser(identity.user_key)
        await self.app(scope, receive, send)


def build_a2a_app(
    handler: LiteAgentLLM, *, public_url: str, authenticate: Authenticator
) -> Starlette:
    """The A2A app for every entry of ``handler``'s catalog.

    Args:
        handler: The handler that runs the turns (its catalog, runners and run store).
        public_url: Where this app is reachable by callers (the cards carry
            ``<public_url>/<name>``), without a trailing slash.
        authenticate: Decides who a bearer key belongs to.
    """
    base = public_url.rstrip("/")
    routes: list[BaseRoute] = []
    index: list[dict[str, str]] = []
    for spec in handler.catalog:
        url = f"{base}/{spec.name}"
        card = agent_card(spec, url)
        store = InMemoryTaskStore()
        requests = DefaultRequestHandler(
            agent_executor=LiteAgentExecutor(handler, spec.model_name, store),
            task_store=store,
            agent_card=card,
        )
        routes += create_agent_card_routes(card, card_url=f"/{spec.name}/{CARD_PATH}")
        routes += create_jsonrpc_routes(requests, rpc_url=f"/{spec.name}", enable_v0_3_compat=True)
        index.append({"name": spec.name, "model": spec.model_name, "card": f"{url}/{CARD_PATH}"})

    async def list_agents(_: Request) -> JSONResponse:
        return JSONResponse({"agents": index})

    routes.append(Route("/", list_agents, methods=["GET"]))
    app = Starlette(routes=routes)
    app.add_middleware(_BearerAuth, authenticate=authenticate)
    return app
