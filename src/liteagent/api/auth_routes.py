"""``/auth`` routes of the standalone management API: tokens and API keys.

- ``POST /auth/token``: e-mail and password → an access token and a refresh token;
- ``POST /auth/refresh``: a refresh token → a new access token and a new refresh token (the
  old one stops working; presenting it again revokes all of the user's refresh tokens);
- ``GET /auth/me``: who the credential belongs to;
- ``POST /auth/api-keys``: a new API key, returned once and stored only as a hash;
- ``GET /auth/api-keys``: the caller's keys, masked (admins: ``?all=true`` for everyone's);
- ``DELETE /auth/api-keys/{key_id}``: revoke a key.

The routes use the ``StandaloneAuthenticator`` installed on the app
(``authenticator.install(app)``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr

from liteagent.api.auth import User
from liteagent.api.schemas import STORABLE
from liteagent.api.standalone import (
    STATE_ATTRIBUTE,
    IssuedTokens,
    StandaloneAuthenticator,
    unauthorized,
)
from liteagent.errors import AuthenticationError, NotFoundError
from liteagent.storage.base import utcnow
from liteagent.storage.models import ApiKeyRecord

__all__ = [
    "ApiKeyCreated",
    "ApiKeyInfo",
    "CreateApiKeyRequest",
    "RefreshRequest",
    "TokenRequest",
    "TokenResponse",
    "UserInfo",
    "auth_router",
    "get_standalone_authenticator",
]


def get_standalone_authenticator(request: Request) -> StandaloneAuthenticator:
    """The app's ``StandaloneAuthenticator`` (installed with ``authenticator.install(app)``)."""
    authenticator = getattr(request.app.state, STATE_ATTRIBUTE, None)
    if not isinstance(authenticator, StandaloneAuthenticator):
        raise RuntimeError(
            "auth_router is mounted on an app without a StandaloneAuthenticator: call "
            "StandaloneAuthenticator.install(app)."
        )
    return authenticator


Authenticator = Annotated[StandaloneAuthenticator, Depends(get_standalone_authenticator)]


# Declared for the OpenAPI document (its "Authorize" dialog); the authenticator reads the headers.
_bearer_scheme = HTTPBearer(auto_error=False, description="JWT access token or API key")
_api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def current_user(
    request: Request,
    authenticator: Authenticator,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    _api_key: Annotated[str | None, Depends(_api_key_scheme)],
) -> User:
    """The authenticated caller (401 otherwise)."""
    return await authenticator.authenticate_user(request)


CurrentUser = Annotated[User, Depends(current_user)]


class TokenRequest(BaseModel):
    """Credentials of a user."""

    email: str = Field(min_length=3, max_length=320, pattern=STORABLE)
    password: SecretStr = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    """A refresh token from ``POST /auth/token`` or ``POST /auth/refresh``."""

    refresh_token: SecretStr = Field(min_length=1, max_length=8192)


class TokenResponse(BaseModel):
    """Tokens: send ``access_token`` as ``Authorization: Bearer …``."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int = Field(description="Seconds the access token is valid for")
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid for")


class UserInfo(BaseModel):
    """The authenticated user."""

    id: str
    email: str
    roles: list[str]
    team_id: str | None
    is_admin: bool


class CreateApiKeyRequest(BaseModel):
    """A new API key."""

    name: str = Field(
        min_length=1, max_length=200, pattern=STORABLE, description="What the key is for"
    )
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Days until the key stops working (default: never)"
    )


class ApiKeyInfo(BaseModel):
    """An API key as listed: never the key, only its first characters."""

    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it")
    masked_key: str
    user_id: str
    created_at: datetime
    expires_at: datetime | None


class ApiKeyCreated(ApiKeyInfo):
    """A new API key: ``key`` is shown this once and cannot be retrieved again."""

    key: str


def _info(record: ApiKeyRecord) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        masked_key=f"{record.prefix}…",
        user_id=record.user_id,
        created_at=record.created_at,
        expires_at=record.expires_at,
    )


_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {"description": "Missing or invalid credential"}
}

auth_router = APIRouter(prefix="/auth", tags=["auth"])
"""The standalone API's ``/auth`` routes (needs ``StandaloneAuthenticator.install(app)``)."""


async def _token_response(issuing: Awaitable[IssuedTokens]) -> TokenResponse:
    """The tokens being issued as the API shows them; a refusal is a 401."""
    try:
        tokens = await issuing
    except AuthenticationError as exc:
        raise unauthorized(exc) from None
    return TokenResponse(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        refresh_expires_in=tokens.refresh_expires_in,
    )


@auth_router.post("/token", responses=_UNAUTHORIZED)
async def issue_tokens(body: TokenRequest, authenticator: Authenticator) -> TokenResponse:
    """Sign in with an e-mail address and password."""
    return await _token_response(authenticator.login(body.email, body.password.get_secret_value()))


@auth_router.post("/refresh", responses=_UNAUTHORIZED)
async def refresh_tokens(body: RefreshRequest, authenticator: Authenticator) -> TokenResponse:
    """Trade a refresh token for a new access token and a new refresh token."""
    return await _token_response(authenticator.refresh(body.refresh_token.get_secret_value()))


@auth_router.get("/me", responses=_UNAUTHORIZED)
async def who_am_i(user: CurrentUser) -> UserInfo:
    """The user the credential belongs to."""
    return UserInfo(
        id=user.id, email=user.email, roles=user.roles, team_id=user.team_id, is_admin=user.is_admin
    )


@auth_router.post("/api-keys", status_code=status.HTTP_201_CREATED, responses=_UNAUTHORIZED)
async def create_api_key(
    body: CreateApiKeyRequest, user: CurrentUser, authenticator: Authenticator
) -> ApiKeyCreated:
    """Create an API key for the caller. The key is in this response only."""
    expires_at = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    record, api_key = await authenticator.create_api_key(user, body.name, expires_at=expires_at)
    return ApiKeyCreated(**_info(record).model_dump(), key=api_key)


@auth_router.get(
    "/api-keys",
    responses={
        **_UNAUTHORIZED,
        status.HTTP_403_FORBIDDEN: {"description": "all=true without the admin role"},
    },
)
async def list_api_keys(
    user: CurrentUser,
    authenticator: Authenticator,
    all_users: Annotated[
        bool, Query(alias="all", description="Every user's keys (admins)")
    ] = False,
) -> list[ApiKeyInfo]:
    """The caller's live API keys (masked)."""
    if all_users and not user.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={
                "message": "Only admins may list every user's API keys.",
                "type": "permission_error",
                "param": "all",
                "code": "403",
            },
        )
    records = await authenticator.accounts.list_api_keys(user_id=None if all_users else user.id)
    return [_info(record) for record in records]


@auth_router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_UNAUTHORIZED, status.HTTP_404_NOT_FOUND: {"description": "No such live key"}},
)
async def revoke_api_key(
    key_id: Annotated[str, Path(pattern=STORABLE)], user: CurrentUser, authenticator: Authenticator
) -> None:
    """Revoke one of the caller's API keys (admins: anyone's). It stops working at once."""
    if not await authenticator.revoke_api_key(user, key_id):
        raise NotFoundError(f"No live API key {key_id!r} of yours.").to_http_exception()
