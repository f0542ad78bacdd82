"""JWT and API-key authentication of the standalone management API (the seeds' ``auth.py``).

- ``JWTHandler`` signs and checks HS256 tokens (pyjwt) with ``LITEAGENT_JWT_SECRET``. Access
  tokens live ``LITEAGENT_JWT_ACCESS_TOKEN_MINUTES`` (15 by default), refresh tokens
  ``LITEAGENT_JWT_REFRESH_TOKEN_DAYS`` (7). A ``type`` claim keeps each kind to its own use: a
  refresh token is no access token and the other way round.
- API keys are ``<prefix>-<43 random URL-safe characters>`` (256 bits). They are stored as
  their SHA-256 hash: a key is random, not chosen by a person, so a fast unkeyed hash cannot be
  reversed by guessing, and it lets a key be found by an indexed lookup. Comparisons are
  constant-time.
- ``AuthMiddleware.authenticate`` turns an ``Authorization`` value (a bearer JWT or API key)
  into a ``User``, or raises ``AuthenticationError``.

``liteagent.api.standalone`` builds the ``Authenticator`` the app uses on top of these.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import jwt
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from liteagent.config import Settings
from liteagent.errors import AuthenticationError, ConfigurationError
from liteagent.redaction import register_secret

__all__ = [
    "ADMIN_ROLE",
    "JWT_ALGORITHM",
    "MIN_JWT_SECRET_LENGTH",
    "APIKeyAuth",
    "APIKeyLookup",
    "AuthMiddleware",
    "JWTHandler",
    "TokenPayload",
    "TokenType",
    "User",
    "api_key_display_prefix",
    "generate_api_key",
    "hash_api_key",
    "verify_api_key",
]

ADMIN_ROLE = "admin"
JWT_ALGORITHM = "HS256"
MIN_JWT_SECRET_LENGTH = 32
ISSUER = "liteagent"
AUDIENCE = "liteagent-api"
CLOCK_LEEWAY_SECONDS = 10  # replicas' clocks may differ by a little
SECRET_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'  # noqa: S105

TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class User:
    """An authenticated user of the standalone API.

    Attributes:
        id: The user's id.
        email: The user's e-mail address.
        roles: Role names (``admin`` makes the user an administrator).
        team_id: The user's team, if any.
    """

    id: str
    email: str
    roles: list[str] = field(default_factory=list)
    team_id: str | None = None

    def has_role(self, role: str) -> bool:
        """Whether the user has ``role``."""
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return self.has_role(ADMIN_ROLE)


class TokenPayload(BaseModel):
    """The checked claims of a LiteAgent JWT."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str
    email: str
    roles: list[str]
    team: str | None = None
    type: TokenType
    jti: str
    iat: int
    exp: int

    def to_user(self) -> User:
        return User(id=self.sub, email=self.email, roles=list(self.roles), team_id=self.team)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class JWTHandler:
    """Signs and checks LiteAgent's access and refresh tokens (HS256).

    Args:
        secret: The signing secret (at least 32 characters).
        access_ttl: Lifetime of access tokens.
        refresh_ttl: Lifetime of refresh tokens.
        clock: The current time (tests pass a fixed one).

    Raises:
        ConfigurationError: the secret is missing or too short.
    """

    def __init__(
        self,
        secret: str,
        *,
        access_ttl: timedelta = timedelta(minutes=15),
        refresh_ttl: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if len(secret) < MIN_JWT_SECRET_LENGTH:
            raise ConfigurationError(
                f"LITEAGENT_JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters long "
                f"(make one with: {SECRET_COMMAND})."
            )
        register_secret(secret)
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> JWTHandler:
        """The handler ``LITEAGENT_JWT_*`` describe.

        Raises:
            ConfigurationError: ``LITEAGENT_JWT_SECRET`` is unset or too short.
        """
        if settings.jwt_secret is None:
            raise ConfigurationError(
                "LITEAGENT_JWT_SECRET is not set: the standalone management API signs its "
                f"tokens with it. Set it to a random value (make one with: {SECRET_COMMAND})."
            )
        return cls(
            settings.jwt_secret.get_secret_value(),
            access_ttl=timedelta(minutes=settings.jwt_access_token_minutes),
            refresh_ttl=timedelta(days=settings.jwt_refresh_token_days),
        )

    def _encode(self, user: User, token_type: TokenType, ttl: timedelta) -> str:
        now = self._clock()
        claims: dict[str, object] = {
            "sub": user.id,
            "email": user.email,
            "roles": list(user.roles),
            "type": token_type,
            "jti": uuid.uuid4().hex,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        if user.team_id:
            claims["team"] = user.team_id
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def create_access_token(self, user: User) -> str:
        """A short-lived token that authenticates API requests."""
        return self._encode(user, "access", self.access_ttl)

    def create_refresh_token(self, user: User) -> str:
        """A long-lived token that only ``POST /auth/refresh`` accepts."""
        return self._encode(user, "refresh", self.refresh_ttl)

    def decode_token(self, token: str, *, expected_type: TokenType | None = None) -> TokenPayload:
        """Check a token's signature, expiry, issuer, audience and claims.

        Args:
            token: The encoded JWT.
            expected_type: Refuse tokens of the other type.

        Raises:
            AuthenticationError: the token is invalid, expired or of the wrong type.
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The token has expired.") from None
        except jwt.PyJWTError:
            raise AuthenticationError("The token is invalid.") from None
        try:
            payload = TokenPayload.model_validate(claims)
        except PydanticValidationError:
            raise AuthenticationError("The token is invalid.") from None
        if expected_type is not None and payload.type != expected_type:
            raise AuthenticationError(f"A {payload.type} token cannot be used here.")
        return payload


def generate_api_key(prefix: str = "sk") -> str:
    """A new random API key: ``<prefix>-`` and 43 URL-safe characters (256 bits)."""
    return f"{prefix}-{secrets.token_urlsafe(32)}"


def hash_api_key(api_key: str) -> str:
    """The SHA-256 hex digest stored for ``api_key`` (see the module docstring)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def verify_api_key(api_key: str, stored_hash: str) -> bool:
    """Whether ``api_key`` hashes to ``stored_hash`` (constant-time comparison)."""
    return hmac.compare_digest(hash_api_key(api_key), stored_hash)


def api_key_display_prefix(api_key: str) -> str:
    """The non-secret start of a key shown in listings (``sk-AbCdEfGh``: 48 of 256 bits)."""
    prefix, _, body = api_key.partition("-")
    return f"{prefix}-{body[:8]}" if body else api_key[:8]


class APIKeyAuth:
    """Checks an API key against a stored hash (the seeds' class)."""

    def verify(self, api_key: str, stored_hash: str) -> bool:
        """Whether the key matches."""
        return verify_api_key(api_key, stored_hash)

    def validate(self, api_key: str, stored_hash: str) -> None:
        """Raise ``AuthenticationError`` unless the key matches."""
        if not self.verify(api_key, stored_hash):
            raise AuthenticationError("The API key is invalid.")


class APIKeyLookup(Protocol):
    """Finds a live API key by its hash: its user and the hash as stored (``None``: no live
    key of an active user has this hash)."""

    async def __call__(self, key_hash: str) -> tuple[User, str] | None: ...


DEFAULT_SKIP_PATHS: tuple[str, ...] = (
    "/health",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/auth/token",
    "/auth/refresh",
)


class AuthMiddleware:
    """Authenticates an ``Authorization`` header: a bearer JWT access token or API key.

    Args:
        jwt_handler: Checks JWTs.
        api_keys: Finds the user of an API key by its hash.
        skip_paths: Paths (and their sub-paths) that need no credential.
    """

    def __init__(
        self,
        jwt_handler: JWTHandler,
        api_keys: APIKeyLookup,
        *,
        skip_paths: Sequence[str] = DEFAULT_SKIP_PATHS,
    ) -> None:
        self.jwt_handler = jwt_handler
        self.api_keys = api_keys
        self.skip_paths = tuple(skip_paths)
        self._keys = APIKeyAuth()

    def should_skip_auth(self, path: str) -> bool:
        """Whether ``path`` is public (API docs, health, the token endpoints)."""
        clean = path.rstrip("/") or "/"
        return any(clean == skip or clean.startswith(f"{skip}/") for skip in self.skip_paths)

    async def authenticate(self, authorization: str) -> User:
        """The user an ``Authorization`` value (``Bearer <token or key>``) proves.

        Raises:
            AuthenticationError: no bearer credential, or an invalid, expired or revoked one.
        """
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationError(
                "Send a credential as 'Authorization: Bearer <access token or API key>'."
            )
        if credential.count(".") == 2:  # a JWT (API keys contain no dot)
            return self.jwt_handler.decode_token(credential, expected_type="access").to_user()
        return await self.authenticate_api_key(credential)

    async def authenticate_api_key(self, api_key: str) -> User:
        """The user of a live API key.

        Raises:
            AuthenticationError: the key is unknown, revoked or expired.
        """
        found = await self.api_keys(hash_api_key(api_key))
        if found is None:
            raise AuthenticationError("The API key is invalid, expired or revoked.")
        user, stored_hash = found
        self._keys.validate(api_key, stored_hash)  # the row's own hash, compared in constant time
        return user
