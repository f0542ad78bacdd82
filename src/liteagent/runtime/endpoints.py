"""``/liteagent/health`` and ``/liteagent/metrics`` on LiteLLM's proxy app.

LiteLLM serves its own FastAPI app (``litellm.proxy.proxy_server.app``); when the handler is
created inside the proxy, ``attach_to_proxy`` adds these routes to it (ahead of LiteLLM's own,
so no catch-all shadows them) and starts the runtime services on the proxy's event loop:

- ``GET /liteagent/health``: every check; 200 when healthy or degraded, 503 when unhealthy
  (what a load balancer needs: a degraded replica still serves).
- ``GET /liteagent/health/live``: 200 while the process answers (liveness).
- ``GET /liteagent/metrics``: Prometheus text exposition.
- ``POST /liteagent/runs/{run_id}/abort``: stop a running agent or workflow run, on whichever
  replica runs it (``liteagent.runtime.run_control``); 202 when asked, 404 when no such run is
  running. Only with the proxy's master key (``Authorization: Bearer <master key>``).

Health and metrics need no authentication, like LiteLLM's own ``/health/liveliness``: expose
them on the internal network only (the README's topology).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from liteagent.log import get_logger
from liteagent.runtime.health import HealthStatus
from liteagent.runtime.run_control import run_control
from liteagent.runtime.services import RuntimeServices

__all__ = ["attach_to_proxy", "build_router", "install_routes"]

logger = get_logger(__name__)

HEALTH_PATH = "/liteagent/health"
METRICS_PATH = "/liteagent/metrics"
RUNS_PATH = "/liteagent/runs"
_background: set[asyncio.Task[None]] = set()


def build_router(services: RuntimeServices) -> APIRouter:
    """The health and metrics routes for ``services``."""
    router = APIRouter()

    @router.get(HEALTH_PATH, include_in_schema=False)
    async def health() -> JSONResponse:
        report = await services.health.report()
        code = 503 if report["status"] == HealthStatus.UNHEALTHY.value else 200
        return JSONResponse(report, status_code=code)

    @router.get(HEALTH_PATH + "/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get(METRICS_PATH, include_in_schema=False)
    async def prometheus() -> Response:
        from liteagent.runtime.circuit_breaker import circuit_breakers

        services.metrics.observe_breakers(circuit_breakers.get_all_stats())
        body, content_type = services.metrics.render()
        return Response(body, media_type=content_type)

    @router.post(RUNS_PATH + "/{run_id}/abort", include_in_schema=False)
    async def abort(run_id: str, request: Request) -> JSONResponse:
        refusal = _check_master_key(request)
        if refusal is not None:
            return refusal
        if not await run_control.abort(run_id):
            return _error(
                404,
                f"No run '{run_id}' is running (it finished, or the id is wrong).",
                "run_not_found",
            )
        return JSONResponse({"run_id": run_id, "status": "aborting"}, status_code=202)

    return router


def _error(status: int, message: str, code: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return JSONResponse(body, status_code=status)


def _master_key() -> str | None:
    proxy: Any = sys.modules.get("litellm.proxy.proxy_server")
    key = getattr(proxy, "master_key", None) or os.environ.get("LITELLM_MASTER_KEY")
    return key if isinstance(key, str) and key else None


def _check_master_key(request: Request) -> JSONResponse | None:
    """``None`` when the request carries the proxy's master key, else the refusal."""
    master = _master_key()
    if master is None:
        return _error(403, "Aborting runs needs the proxy's master key to be set.", "forbidden")
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if not token or not secrets.compare_digest(token.encode(), master.encode()):
        return _error(401, "Aborting a run needs the proxy's master key.", "unauthorized")
    return None


def install_routes(app: FastAPI, services: RuntimeServices) -> bool:
    """Add the routes to ``app`` first in its route table; False if already there."""
    paths = {getattr(route, "path", None) for route in app.router.routes}
    if HEALTH_PATH in paths:
        return False
    router = build_router(services)
    ours = list(router.routes)
    app.router.routes[:0] = ours
    return True


def attach_to_proxy(services: RuntimeServices) -> bool:
    """Inside a running LiteLLM proxy: mount the routes and start ``services``.

    Returns:
        Whether a proxy app was found (no-op otherwise: tests, scripts, ``liteagent hello``).
    """
    proxy: Any = sys.modules.get("litellm.proxy.proxy_server")
    app = getattr(proxy, "app", None)
    if not isinstance(app, FastAPI):
        return False
    if install_routes(app, services):
        logger.info("runtime_routes_mounted", health=HEALTH_PATH, metrics=METRICS_PATH)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return True
    task = loop.create_task(services.start())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return True
