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

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from a2a.server.models import TaskModel, create_task_model
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_jsonrpc_routes
from a2a.server.tasks import DatabaseTaskStore
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
from liteagent.storage import get_database

__all__ = [
    "GATEWAY_USER_HEADER",
    "Authenticator",
    "build_a2a_app",
    "master_key_authenticator",
]

logger = get_logger(__name__)

Authenticator = Callable[[str, Headers, str | None], Awaitable[A2AIdentity | None]]
"""``(bearer token, request headers, model asked for) -> identity``; ``None``: refused."""

GATEWAY_USER_HEADER = "x-litellm-user-id"
CARD_PATH = ".well-known/agent-card.json"
TASK_TABLE = "liteagent_a2a_tasks"
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

    async def authenticate(token: str, headers: Headers, model: str | None) -> A2AIdentity | None:
        if not expected or not hmac.compare_digest(token.encode(), expected):
            return None
        end_user = (headers.get(GATEWAY_USER_HEADER) or "").strip() or None
        return A2AIdentity(MASTER_KEY_PRINCIPAL, end_user)

    return authenticate


def _unauthorized(message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "authentication_error", "code": "401"}}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _model(scope: Scope) -> str | None:
    """The entry a request is for: ``liteagent/<first path segment below the app>``."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    name = path.strip("/").split("/", 1)[0]
    return f"liteagent/{name}" if name else None


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
            identity = await self.authenticate(token.strip(), headers, _model(scope))
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
        # the A2A task owner: tasks are kept apart per entry and per user
        scope["user"] = SimpleUser(f"{_model(scope)}|{identity.user_key}")
        await self.app(scope, receive, send)


@functools.cache
def _task_model() -> type[TaskModel]:
    model: type[TaskModel] = create_task_model(TASK_TABLE)  # once: it joins shared metadata
    return model


def task_store(database_url: str) -> DatabaseTaskStore:
    """The A2A tasks of every entry and user, in ``liteagent_a2a_tasks`` of LiteAgent's
    database (created on first use), so a context's turns outlive the process and are shared by
    replicas. Each task belongs to one entry and user (the owner the authentication sets)."""
    store = DatabaseTaskStore(get_database(database_url).engine)
    store.task_model = _task_model()
    return store


def _card_route(spec: Any, public_url: str | None) -> Route:
    """The entry's card; its URL is ``public_url``'s, else the one the request came to."""

    path = f"/{spec.name}/{CARD_PATH}"

    async def card(request: Request) -> JSONResponse:
        base = public_url or _base_url(request, path)
        return JSONResponse(agent_card_to_dict(agent_card(spec, f"{base}/{spec.name}")))

    return Route(path, card, methods=["GET"])


def _base_url(request: Request, route: str) -> str:
    """The URL this app was reached at (wherever it is mounted): the request's, less ``route``."""
    url = str(request.url.replace(query="", fragment=""))
    return url[: -len(route)] if url.endswith(route) else url.rstrip("/")


def build_a2a_app(
    handler: LiteAgentLLM, *, public_url: str | None, authenticate: Authenticator
) -> Starlette:
    """The A2A app for every entry of ``handler``'s catalog.

    Args:
        handler: The handler that runs the turns (its catalog, runners and run store).
        public_url: Where this app is reachable by callers (the cards carry
            ``<public_url>/<name>``); ``None``: the address each card request came to.
        authenticate: Decides who a bearer key belongs to.
    """
    base = public_url.rstrip("/") if public_url else None
    routes: list[BaseRoute] = []
    names: list[str] = []
    store = task_store(handler.settings.database_url)
    for spec in handler.catalog:
        requests = DefaultRequestHandler(
            agent_executor=LiteAgentExecutor(handler, spec.model_name, store),
            task_store=store,
            agent_card=agent_card(spec, f"{base or ''}/{spec.name}"),
        )
        routes.append(_card_route(spec, base))
        routes += create_jsonrpc_routes(requests, rpc_url=f"/{spec.name}", enable_v0_3_compat=True)
        names.append(spec.name)

    async def list_agents(request: Request) -> JSONResponse:
        root = base or _base_url(request, "/")
        agents = [{"name": n, "card": f"{root}/{n}/{CARD_PATH}"} for n in names]
        return JSONResponse({"agents": agents})

    routes.append(Route("/", list_agents, methods=["GET"]))
    app = Starlette(routes=routes)
    app.add_middleware(_BearerAuth, authenticate=authenticate)
    return app
