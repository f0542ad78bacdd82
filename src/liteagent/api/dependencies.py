"""Every dependency of the routes, in one place (``Annotated`` aliases).

- ``CurrentPrincipal``: the caller, from ``request.app.state.authenticator`` (an
  ``Authenticator``: LiteLLM's keys inside the proxy, JWTs and API keys standalone);
- ``Context``: the app's shared parts (``request.app.state.api``);
- ``Agents`` / ``Providers`` / ``DataSources``: the seeds' services for that caller.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from liteagent.api.principal import Authenticator, Principal, RateLimitInfo
from liteagent.api.services import AgentService, ApiContext, DataSourceService, ProviderService

__all__ = [
    "Agents",
    "Context",
    "CurrentPrincipal",
    "DataSources",
    "Providers",
    "RateLimit",
    "get_context",
    "get_principal",
]


def get_context(request: Request) -> ApiContext:
    """The app's shared parts."""
    context: ApiContext = request.app.state.api
    return context


# Declared for the OpenAPI document (its "Authorize" dialog); the authenticator reads headers.
_bearer = HTTPBearer(
    auto_error=False,
    description="Inside the LiteLLM proxy: its master key or a virtual key. Standalone: a JWT "
    "access token or an API key.",
)


async def get_principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Principal:
    """The caller, as the app's authenticator establishes it (401 otherwise)."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(request)
    request.state.principal = principal
    return principal


Context = Annotated[ApiContext, Depends(get_context)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_rate_limit(request: Request, principal: CurrentPrincipal) -> RateLimitInfo:
    """What the authenticator knows of the caller's rate limit."""
    info = getattr(request.state, "rate_limit", None)
    return info if isinstance(info, RateLimitInfo) else RateLimitInfo()


def agent_service(request: Request, context: Context, principal: CurrentPrincipal) -> AgentService:
    """The agent service for the caller."""
    return AgentService(context, principal, request.headers)


def provider_service(context: Context, principal: CurrentPrincipal) -> ProviderService:
    """The provider service for the caller."""
    return ProviderService(context, principal)


def datasource_service(context: Context, principal: CurrentPrincipal) -> DataSourceService:
    """The data-source service for the caller."""
    return DataSourceService(context, principal)


Agents = Annotated[AgentService, Depends(agent_service)]
Providers = Annotated[ProviderService, Depends(provider_service)]
DataSources = Annotated[DataSourceService, Depends(datasource_service)]
RateLimit = Annotated[RateLimitInfo, Depends(get_rate_limit)]
