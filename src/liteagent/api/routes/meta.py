"""``/meta``: the models served (and the API's agents that are not), and rate-limit status."""

from __future__ import annotations

from fastapi import APIRouter

from liteagent.api.dependencies import Context, CurrentPrincipal, RateLimit
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
async def rate_limit_status(limit: RateLimit) -> RateLimitStatus:
    """The caller's rate limit, as the authenticator knows it (inside the proxy LiteLLM
    enforces the key's ``rpm_limit``; the standalone app counts itself)."""
    return RateLimitStatus(
        limit=limit.limit,
        remaining=limit.remaining,
        reset=limit.reset,
        enforced_by=limit.enforced_by,
    )
