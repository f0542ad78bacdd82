"""``/providers``: LLM providers (API keys encrypted at rest, shown masked)."""

from __future__ import annotations

from liteagent.api.dependencies import Providers
from liteagent.api.routes import errors
from liteagent.api.routes.resource import ResourceRoutes
from liteagent.api.schemas import LLMProvider, LLMProviderCreate, LLMProviderUpdate

_routes = ResourceRoutes(Providers)
router = _routes.router
_routes.create(
    LLMProviderCreate,
    "Add a provider; its name becomes the ``<provider>`` of agents' models.",
    409,
    422,
)


@router.get("", responses=errors())
async def list_providers(service: Providers, active_only: bool = False) -> list[LLMProvider]:
    """The caller's providers (an admin's: all)."""
    return await service.get_all(active_only=active_only)


_routes.get("One provider.")
_routes.update(
    LLMProviderUpdate,
    "Change a provider; agents using it are rebuilt with the new settings.",
    404,
    409,
    422,
)
_routes.delete("Remove a provider no agent uses.", 404, 409)
