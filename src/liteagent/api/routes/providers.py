"""``/providers``: LLM providers (API keys encrypted at rest, shown masked)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from liteagent.api.dependencies import Providers
from liteagent.api.routes import ResourceId, errors
from liteagent.api.schemas import LLMProvider, LLMProviderCreate, LLMProviderUpdate
from liteagent.errors import ProviderNotFoundError

router = APIRouter(prefix="/providers", tags=["providers"])


def _missing(provider_id: str) -> ProviderNotFoundError:
    return ProviderNotFoundError(f"No provider '{provider_id}'.")


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
async def create_provider(data: LLMProviderCreate, service: Providers) -> LLMProvider:
    """Add a provider; its name becomes the ``<provider>`` of agents' models."""
    return await service.create(data)


@router.get("", responses=errors())
async def list_providers(service: Providers, active_only: bool = False) -> list[LLMProvider]:
    """The caller's providers (an admin's: all)."""
    return await service.get_all(active_only=active_only)


@router.get("/{provider_id}", responses=errors(404))
async def get_provider(provider_id: ResourceId, service: Providers) -> LLMProvider:
    """One provider."""
    provider = await service.get_by_id(provider_id)
    if provider is None:
        raise _missing(provider_id)
    return provider


@router.patch("/{provider_id}", responses=errors(404, 409, 422))
async def update_provider(
    provider_id: ResourceId, data: LLMProviderUpdate, service: Providers
) -> LLMProvider:
    """Change a provider; agents using it are rebuilt with the new settings."""
    provider = await service.update(provider_id, data)
    if provider is None:
        raise _missing(provider_id)
    return provider


@router.delete("/{provider_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
async def delete_provider(provider_id: ResourceId, service: Providers) -> Response:
    """Remove a provider no agent uses."""
    if not await service.delete(provider_id):
        raise _missing(provider_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
