"""``/health``: the runtime's health checks (database, Redis, disk, memory), unauthenticated
as Kubernetes probes expect."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from liteagent.api.dependencies import Context

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    responses={
        200: {"description": "Healthy or degraded: every check's status."},
        503: {"description": "A check is unhealthy (the body says which)."},
    },
)
async def health(context: Context) -> JSONResponse:
    """Every health check's status; 503 when one is unhealthy."""
    report = await context.handler.runtime.health.report()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)
