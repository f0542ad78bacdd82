"""The management API's FastAPI app: providers, agents (and chat), data sources, meta, health.

``create_app`` builds it around a handler (the models it serves) and an ``Authenticator`` (who
is calling). Inside the LiteLLM proxy it is mounted at ``/liteagent/api`` with LiteLLM's own
keys (``liteagent.api.proxy_mount``); standalone (``liteagent api``) it takes JWTs and API keys.
Every error is an OpenAI-shaped JSON body with its status: 401, 404, 409, 422, 400, 502, 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from litellm.exceptions import APIError
from litellm.llms.custom_llm import CustomLLMError
from sqlalchemy.exc import DataError, OperationalError

from liteagent.api.principal import Authenticator
from liteagent.api.proxy_chat import ChatGatewayError, ProxyChatGateway
from liteagent.api.routes import agents, datasources, health, meta, providers
from liteagent.api.schemas import PATTERN_HINTS
from liteagent.api.services import ApiContext
from liteagent.api.streaming import error_body
from liteagent.errors import LiteAgentError
from liteagent.log import get_logger
from liteagent.proxy import LiteAgentLLM

__all__ = ["create_app"]

logger = get_logger(__name__)

TITLE = "LiteAgent management API"


def _error(status: int, message: str, kind: str, headers: Any = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_errors(exc: RequestValidationError) -> str:
    """One message naming each field that is wrong and what it needs, in words."""
    parts = []
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        if err.get("type") == "json_invalid":
            at = err.get("loc", ("body", 0))[-1]  # 0-based
            why = ctx.get("error", "decode error")
            where = f" (at character {at + 1})" if isinstance(at, int) else ""
            return f"The request body is not valid JSON: {why}{where}."
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        message = err.get("msg", "invalid")
        if err.get("type") == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_HINTS:
            message = f"invalid value: {PATTERN_HINTS[ctx['pattern']]}"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "The request body is invalid."


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LiteAgentError)
    async def domain_error(request: Request, exc: LiteAgentError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _field_errors(exc), "validation_error")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, dict) and "message" in detail:
            return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)
        kind = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
        return _error(exc.status_code, str(detail), kind, exc.headers)

    async def handler_error(request: Request, exc: Exception) -> JSONResponse:
        status, body = error_body(exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(ChatGatewayError)
    async def gateway_error(request: Request, exc: ChatGatewayError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    app.add_exception_handler(CustomLLMError, handler_error)
    app.add_exception_handler(APIError, handler_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("api_request_failed", path=request.url.path, error=type(exc).__name__)
        return _error(500, "LiteAgent hit an internal error; see the logs.", "internal_error")

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refuses some values SQLite takes (a NUL character in a text field): the
        # client's to correct. The value is not echoed (it may be a secret).
        logger.info("api_value_refused_by_storage", path=request.url.path, error=type(exc).__name__)
        return _error(
            422,
            "A value in this request cannot be stored (for example text containing the NUL "
            "character \\u0000); nothing was changed. Remove it and try again.",
            "validation_error",
        )

    @app.exception_handler(OperationalError)
    async def storage_down(request: Request, exc: OperationalError) -> JSONResponse:
        logger.warning("api_storage_unavailable", error=type(exc).__name__)
        return _error(
            503,
            "LiteAgent's database is busy or unavailable just now; nothing was changed. Try "
            "again in a moment.",
            "storage_unavailable",
        )


def create_app(
    *,
    handler: LiteAgentLLM,
    authenticator: Authenticator,
    routers: Sequence[APIRouter] = (),
    title: str = TITLE,
    root_path: str = "",
    gateway: ProxyChatGateway | None = None,
) -> FastAPI:
    """The management API around ``handler``.

    Args:
        handler: Serves the agents (chats go through it) and holds the run-time catalog.
        authenticator: Turns each request's credential into a ``Principal`` (401 otherwise).
        routers: Extra routers included as they are (e.g. the standalone app's token routes).
        title: The OpenAPI title.
        root_path: Where the app is served when behind a prefix it does not see.
        gateway: Inside the proxy, chats go through LiteLLM's own chat endpoint with the
            caller's key (``ProxyChatGateway``); ``None``: straight to the handler.

    Returns:
        The app; its OpenAPI document is at ``/openapi.json`` and its docs at ``/docs``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # standalone: keep the catalog in step with the database (the proxy does this itself)
        handler.refresher.start()
        yield

    app = FastAPI(
        title=title,
        version="1",
        description="Agents, data sources and LLM providers defined at run time; agents are "
        "served as the models `liteagent/<name>`. See docs/api.md.",
        root_path=root_path,
        lifespan=lifespan,
    )
    app.state.api = ApiContext.for_handler(handler, gateway)
    app.state.authenticator = authenticator
    _install_error_handlers(app)
    for router in (
        providers.router,
        agents.router,
        datasources.router,
        meta.router,
        health.router,
        *routers,
    ):
        app.include_router(router)
    return app
