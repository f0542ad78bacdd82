"""``/meta``: the models served (and the API's agents that are not), and rate-limit status."""

from __future__ import annotations

from fastapi import APIRouter, Request

from liteagent.api.dependencies import Context, CurrentPrincipal, RateLimit
from liteagent.api.rate_limit import rate_limit_status
from liteagent.api.routes import errors
from liteagent.api.schemas import ModelInfo, ModelList, RateLimitStatus

router = APIRouter(prefix="/meta", tags=["meta"])


@router.get("/models", responses=errors())
async def list_models(context: Context, principal: CurrentPrincipal) -> ModelList:
    """Every model this replica serves, where it comes from, and the API's agents left out:
    shadowed by a ``liteagent.yaml`` entry of the same name, or invalid (with the reason)."""
    served = context.served
    data = [
        ModelInfo(
            id=spec.model_name,
            kind=spec.kind,
            source="api" if spec.name in served.runtime_names else "yaml",
            description=spec.description,
        )
        for spec in served.catalog
    ]
    return ModelList(
        data=data,
        shadowed=list(served.shadowed),
        invalid=dict(served.invalid),
        catalog_version=served.version,
        refresh_seconds=context.settings.catalog_refresh_seconds,
    )


@router.get("/rate-limit-status", responses=errors())
async def rate_limit(request: Request, known: RateLimit) -> RateLimitStatus:
    """Where the caller stands: standalone, against the app's own limits (the same figures as
    the ``X-RateLimit-*`` headers, without counting this request); inside the proxy, the key's
    ``rpm_limit`` that LiteLLM enforces."""
    counted = await rate_limit_status(request)
    if counted is not None and counted.requests_limit:
        return RateLimitStatus(
            limit=counted.requests_limit,
            remaining=counted.requests_remaining,
            reset=int(counted.reset_at.timestamp()),
            enforced_by="liteagent",
        )
    return RateLimitStatus(
        limit=known.limit,
        remaining=known.remaining,
        reset=known.reset,
        enforced_by=known.enforced_by,
    )
