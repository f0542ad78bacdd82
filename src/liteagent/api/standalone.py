"""The ``Authenticator`` of the standalone management API (``liteagent api``).

A request proves who it is with ``Authorization: Bearer <JWT access token>``,
``Authorization: Bearer <API key>`` or ``X-API-Key: <API key>``. Tokens are checked without a
database round trip (an access token is valid until it expires, 15 minutes by default); API
keys are looked up by their hash on every request, so revoking one takes effect at once. A
user's roles decide ``Principal.is_admin`` (role ``admin``), their team ``Principal.team_id``.

    authenticator = StandaloneAuthenticator.from_settings(settings)   # needs LITEAGENT_JWT_SECRET
    authenticator.install(app)      # the /auth routes (``auth_router``) find it on the app
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from liteagent.api.auth import (
    DEFAULT_SKIP_PATHS,
    AuthMiddleware,
    JWTHandler,
    TokenPayload,
    User,
    api_key_display_prefix,
    generate_api_key,
    hash_api_key,
)
from liteagent.api.principal import Principal
from liteagent.config import Settings, get_settings
from liteagent.errors import AuthenticationError, ValidationError
from liteagent.log import get_logger
from liteagent.security.passwords import hash_password, needs_rehash, verify_password
from liteagent.storage.accounts import AccountRepository, RefreshOutcome
from liteagent.storage.database import Database, get_database
from liteagent.storage.models import ApiKeyRecord, UserRecord

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "STATE_ATTRIBUTE",
    "IssuedTokens",
    "StandaloneAuthenticator",
    "check_roles",
    "create_api_key",
    "create_user",
    "normalise_email",
    "principal_for",
    "unauthorized",
    "user_from_record",
]

logger = get_logger(__name__)

STATE_ATTRIBUTE = "standalone_authenticator"
MIN_PASSWORD_LENGTH = 12
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_API_KEY_PREFIX = "sk"


def normalise_email(email: str) -> str:
    """The e-mail address as stored (trimmed, lower case).

    Raises:
        ValidationError: it is not shaped like an address.
    """
    cleaned = email.strip().lower()
    local, at, domain = cleaned.partition("@")
    if not at or not local or "." not in domain or len(cleaned) > 320 or " " in cleaned:
        raise ValidationError(f"{email!r} is not an e-mail address.")
    return cleaned


def check_roles(roles: list[str]) -> list[str]:
    """Role names as stored.

    Raises:
        ValidationError: a name is not lower-case letters, digits, ``_`` or ``-``.
    """
    for role in roles:
        if not _ROLE.match(role):
            raise ValidationError(
                f"Role {role!r} is invalid: use lower-case letters, digits, '_' and '-'."
            )
    return list(dict.fromkeys(roles))


def user_from_record(record: UserRecord) -> User:
    """The ``User`` a stored user row describes."""
    roles = [role for role in record.roles.split(",") if role]
    return User(id=record.id, email=record.email, roles=roles, team_id=record.team_id)


def principal_for(user: User) -> Principal:
    """The management API's ``Principal`` for a standalone user."""
    return Principal(subject=user.id, is_admin=user.is_admin, team_id=user.team_id, user_id=user.id)


def unauthorized(error: AuthenticationError) -> HTTPException:
    """401 with the error's OpenAI-shaped detail and a ``WWW-Authenticate`` challenge."""
    exception = error.to_http_exception()
    exception.headers = {"WWW-Authenticate": 'Bearer realm="liteagent", error="invalid_token"'}
    return exception


class IssuedTokens:
    """An access token and a refresh token issued together."""

    def __init__(self, access_token: str, refresh_token: str, handler: JWTHandler) -> None:
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.expires_in = int(handler.access_ttl.total_seconds())
        self.refresh_expires_in = int(handler.refresh_ttl.total_seconds())


class StandaloneAuthenticator:
    """JWTs and API keys of LiteAgent's own users, as an ``Authenticator``.

    Args:
        jwt_handler: Signs and checks tokens.
        accounts: Where users, API keys and refresh tokens are stored.
        skip_paths: Paths that need no credential (``AuthMiddleware.should_skip_auth``).
    """

    def __init__(
        self,
        *,
        jwt_handler: JWTHandler,
        accounts: AccountRepository,
        skip_paths: tuple[str, ...] = DEFAULT_SKIP_PATHS,
    ) -> None:
        self.jwt_handler = jwt_handler
        self.accounts = accounts
        self.middleware = AuthMiddleware(jwt_handler, self._find_api_key, skip_paths=skip_paths)
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, database: Database | None = None
    ) -> StandaloneAuthenticator:
        """Built from ``LITEAGENT_JWT_*`` and ``LITEAGENT_DATABASE_URL``.

        Raises:
            ConfigurationError: ``LITEAGENT_JWT_SECRET`` is missing or too short.
        """
        settings = settings or get_settings()
        handler = JWTHandler.from_settings(settings)
        database = database or get_database(settings.database_url)
        return cls(jwt_handler=handler, accounts=AccountRepository(database))

    def install(self, app: Any) -> None:
        """Make this authenticator the one ``auth_router``'s routes use on ``app``."""
        setattr(app.state, STATE_ATTRIBUTE, self)

    # ----------------------------------------------------------------- Authenticator
    async def authenticate(self, request: HTTPConnection) -> Principal:
        """The caller's ``Principal``; 401 with ``WWW-Authenticate`` without a valid credential."""
        return principal_for(await self.authenticate_user(request))

    async def authenticate_user(self, request: HTTPConnection) -> User:
        """The caller as a ``User`` (``Authorization`` first, else ``X-API-Key``)."""
        authorization = request.headers.get("authorization")
        api_key = request.headers.get("x-api-key", "").strip()
        try:
            if authorization:
                return await self.middleware.authenticate(authorization)
            if api_key:
                return await self.middleware.authenticate_api_key(api_key)
            raise AuthenticationError(
                "No credential: send an access token or API key as 'Authorization: Bearer …', "
                "or an API key in the X-API-Key header."
            )
        except AuthenticationError as exc:
            logger.info("api_auth_refused", path=request.url.path, reason=exc.message)
            raise unauthorized(exc) from None

    async def _find_api_key(self, key_hash: str) -> tuple[User, str] | None:
        found = await self.accounts.find_api_key(key_hash)
        if found is None or not found[1].is_active:
            return None
        key, user = found
        return user_from_record(user), key.key_hash

    # ----------------------------------------------------------------- tokens
    async def _issue(self, user: User) -> IssuedTokens:
        refresh_token = self.jwt_handler.create_refresh_token(user)
        refresh = self.jwt_handler.decode_token(refresh_token, expected_type="refresh")
        await self.accounts.add_refresh_token(
            jti=refresh.jti, user_id=user.id, expires_at=refresh.expires_at
        )
        return IssuedTokens(
            self.jwt_handler.create_access_token(user), refresh_token, self.jwt_handler
        )

    async def _password_matches(self, password: str, record: UserRecord | None) -> bool:
        if record is None:
            # the same work as for a real user: response times do not tell which addresses exist
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(hash_password, "not a password")
            await asyncio.to_thread(verify_password, password, self._dummy_hash)
            return False
        return await asyncio.to_thread(verify_password, password, record.password_hash)

    async def login(self, email: str, password: str) -> IssuedTokens:
        """Tokens for an active user's e-mail address and password.

        Raises:
            AuthenticationError: unknown address, wrong password or inactive user (one message
                for all three).
        """
        try:
            address = normalise_email(email)
        except ValidationError:
            address = None
        record = await self.accounts.get_user_by_email(address) if address else None
        matches = await self._password_matches(password, record)
        if record is None or not matches or not record.is_active:
            logger.info("api_login_refused", email_known=record is not None)
            raise AuthenticationError("The e-mail address or password is wrong.")
        if needs_rehash(record.password_hash):
            new_hash = await asyncio.to_thread(hash_password, password)
            await self.accounts.set_password_hash(user_id=record.id, password_hash=new_hash)
        logger.info("api_login", user_id=record.id)
        return await self._issue(user_from_record(record))

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """A new access token and a new refresh token for an unused refresh token.

        Raises:
            AuthenticationError: the token is invalid, expired, not a refresh token, used
                before (then every refresh token of the user is revoked), or its user is gone
                or inactive.
        """
        payload: TokenPayload = self.jwt_handler.decode_token(
            refresh_token, expected_type="refresh"
        )
        outcome = await self.accounts.use_refresh_token(jti=payload.jti, user_id=payload.sub)
        if outcome is RefreshOutcome.REPLAYED:
            logger.warning("api_refresh_token_replayed", user_id=payload.sub)
            raise AuthenticationError(
                "This refresh token was used before; every refresh token of the user is now "
                "revoked. Sign in again."
            )
        if outcome is RefreshOutcome.UNKNOWN:
            raise AuthenticationError("The refresh token is unknown, expired or revoked.")
        record = await self.accounts.get_user(payload.sub)
        if record is None or not record.is_active:
            raise AuthenticationError("The user of this refresh token is gone or inactive.")
        logger.info("api_token_refreshed", user_id=record.id)
        return await self._issue(user_from_record(record))

    # ----------------------------------------------------------------- users and keys
    async def create_user(
        self,
        email: str,
        password: str,
        *,
        roles: list[str] | None = None,
        team_id: str | None = None,
    ) -> User:
        """Add a user (see ``create_user``)."""
        return await create_user(self.accounts, email, password, roles=roles or [], team_id=team_id)

    async def create_api_key(
        self, user: User, name: str, *, expires_at: datetime | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """A new key for ``user`` (see ``create_api_key``)."""
        return await create_api_key(self.accounts, user, name, expires_at=expires_at)

    async def revoke_api_key(self, user: User, key_id: str) -> bool:
        """Revoke one of ``user``'s keys (an admin's: anyone's); ``False`` when none."""
        revoked = await self.accounts.revoke_api_key(
            key_id=key_id, user_id=None if user.is_admin else user.id
        )
        if revoked:
            logger.info("api_key_revoked", key_id=key_id, user_id=user.id)
        return revoked


async def create_user(
    accounts: AccountRepository,
    email: str,
    password: str,
    *,
    roles: list[str],
    team_id: str | None = None,
) -> User:
    """Add a user; the password is stored as a scrypt hash.

    Raises:
        ValidationError: a bad address, a short password, a bad role name, or the address
            is taken.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
        )
    address = normalise_email(email)
    checked = check_roles(roles)
    password_hash = await asyncio.to_thread(hash_password, password)
    record = await accounts.create_user(
        email=address, password_hash=password_hash, roles=checked, team_id=team_id or None
    )
    logger.info("api_user_created", user_id=record.id, roles=record.roles)
    return user_from_record(record)


async def create_api_key(
    accounts: AccountRepository, user: User, name: str, *, expires_at: datetime | None = None
) -> tuple[ApiKeyRecord, str]:
    """A new API key for ``user``: the stored row (hash and display prefix only) and the key
    itself, which exists nowhere else: show it once."""
    api_key = generate_api_key(_API_KEY_PREFIX)
    record = await accounts.create_api_key(
        user_id=user.id,
        name=name,
        prefix=api_key_display_prefix(api_key),
        key_hash=hash_api_key(api_key),
        expires_at=expires_at,
    )
    logger.info("api_key_created", key_id=record.id, user_id=user.id)
    return record, api_key
