"""Per-client request limits of the management API, with the seeds' ``X-RateLimit-*`` headers.

``RateLimitMiddleware`` counts every request of a client (by default: its address, as the ASGI
server reports it; behind a reverse proxy uvicorn takes it from ``X-Forwarded-For`` when the
proxy is in ``FORWARDED_ALLOW_IPS``) against a
``CombinedRateLimiter`` from ``liteagent.runtime``: a sliding window of
``RATE_LIMIT_REQUESTS_PER_MINUTE`` requests and ``RATE_LIMIT_MAX_CONCURRENT`` requests in
flight. With ``REDIS_URL`` set both are shared by every replica.

Every counted response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (Unix time at which a request is free again), plus
``X-RateLimit-Concurrent-Limit`` / ``-Active``. Beyond a limit the answer is 429 with
``Retry-After`` and an OpenAI-shaped error body.

    limiter = api_rate_limiter(settings, runtime_services)
    if limiter is not None:
        install_rate_limit(app, limiter)     # the middleware, and the status for a meta route
    ...
    info = await rate_limit_status(request)  # where the caller stands (None: no limits)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liteagent.config import Settings
from liteagent.log import get_logger
from liteagent.runtime.rate_limiter import (
    CombinedRateLimiter,
    RateLimitedError,
    RateLimitInfo,
    rate_limit_headers,
)

if TYPE_CHECKING:
    from liteagent.runtime.services import RuntimeServices

__all__ = [
    "RateLimitMiddleware",
    "RateLimitStatus",
    "api_rate_limiter",
    "client_key",
    "install_rate_limit",
    "rate_limit_status",
]

logger = get_logger(__name__)

WINDOW_SECONDS = 60
DEFAULT_NAMESPACE = "liteagent-api"
DEFAULT_EXEMPT_PATHS: tuple[str, ...] = ("/health",)
_STATE_ATTRIBUTE = "liteagent_rate_limit"


def client_key(scope: Scope) -> str:
    """The default limit key: the client's address."""
    client = scope.get("client")
    return f"client:{client[0]}" if client else "client:unknown"


def api_rate_limiter(
    settings: Settings, services: RuntimeServices | None = None
) -> CombinedRateLimiter | None:
    """The management API's limiter from ``RATE_LIMIT_*`` (``None`` when both are 0).

    Args:
        settings: The limits.
        services: Backends to count on (Redis-shared when configured); default: in-process.
    """
    per_minute = settings.rate_limit_requests_per_minute or None
    concurrent = settings.rate_limit_max_concurrent or None
    if per_minute is None and concurrent is None:
        return None
    if services is None:
        return CombinedRateLimiter(per_minute, WINDOW_SECONDS, concurrent)
    return services.rate_limiter(per_minute, WINDOW_SECONDS, concurrent)


class RateLimitStatus:
    """How requests map to limiter keys, and where a client stands.

    Args:
        limiter: The limits.
        key: The client a request counts for.
        namespace: Prefix of the limiter keys (keeps them apart from other limiters').
    """

    def __init__(
        self,
        limiter: CombinedRateLimiter,
        *,
        key: Callable[[Scope], str] = client_key,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.limiter = limiter
        self.key = key
        self.namespace = namespace

    def limit_key(self, scope: Scope) -> str:
        """The limiter key a request counts under."""
        return f"{self.namespace}:{self.key(scope)}"

    async def __call__(self, scope: Scope) -> RateLimitInfo:
        """Where the request's client stands, without counting a request."""
        return await self.limiter.get_status(self.limit_key(scope))


def install_rate_limit(
    app: Any,
    limiter: CombinedRateLimiter,
    *,
    key: Callable[[Scope], str] = client_key,
    exempt_paths: Sequence[str] = DEFAULT_EXEMPT_PATHS,
    namespace: str = DEFAULT_NAMESPACE,
) -> None:
    """Add ``RateLimitMiddleware`` to a Starlette/FastAPI app (before it starts), and keep its
    status where ``rate_limit_status`` finds it."""
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        key=key,
        exempt_paths=exempt_paths,
        namespace=namespace,
    )
    setattr(app.state, _STATE_ATTRIBUTE, RateLimitStatus(limiter, key=key, namespace=namespace))


async def rate_limit_status(request: HTTPConnection) -> RateLimitInfo | None:
    """Where the caller stands against the app's limits (``None``: the app has none).

    ``rate_limit_headers(info)`` gives the matching ``X-RateLimit-*`` headers.
    """
    status: RateLimitStatus | None = getattr(request.app.state, _STATE_ATTRIBUTE, None)
    return None if status is None else await status(request.scope)


class RateLimitMiddleware:
    """ASGI middleware applying a ``CombinedRateLimiter`` per client.

    Args:
        app: The wrapped app.
        limiter: The limits.
        key: The client a request counts for.
        exempt_paths: Paths (and sub-paths) not counted (health checks of orchestrators).
        namespace: Prefix of the limiter keys.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: CombinedRateLimiter,
        key: Callable[[Scope], str] = client_key,
        exempt_paths: Sequence[str] = DEFAULT_EXEMPT_PATHS,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt_paths = tuple(exempt_paths)
        self.status = RateLimitStatus(limiter, key=key, namespace=namespace)

    def _exempt(self, path: str) -> bool:
        clean = path.rstrip("/") or "/"
        return any(clean == p or clean.startswith(f"{p}/") for p in self.exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        key = self.status.limit_key(scope)
        try:
            request_id = await self.limiter.enter_request(key)
        except RateLimitedError as exc:
            await _refuse(exc, send)
            return
        try:
            try:
                info = await self.limiter.check_rate_limit(key)
            except RateLimitedError as exc:
                await _refuse(exc, send)
                return
            headers = rate_limit_headers(info)

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message).update(headers)
                await send(message)

            await self.app(scope, receive, send_with_headers)
        finally:
            await self.limiter.exit_request(key, request_id)


async def _refuse(error: RateLimitedError, send: Send) -> None:
    headers = dict(error.headers)
    headers.setdefault("Retry-After", "1")  # a concurrency slot: try again shortly
    logger.info(
        "api_rate_limited",
        concurrency=error.concurrency,
        retry_after=headers["Retry-After"],
    )
    body = json.dumps(error.to_dict()).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    await send({"type": "http.response.start", "status": 429, "headers": raw})
    await send({"type": "http.response.body", "body": body})
