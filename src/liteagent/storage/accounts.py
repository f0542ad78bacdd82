"""Data access for the standalone management API's users, API keys and refresh tokens.

The repository stores what it is given: hashes, never secrets (``liteagent.api.auth`` hashes
API keys and ``liteagent.security.passwords`` hashes passwords before they get here). Every
method is one transaction; the refresh-token methods are compare-and-set, safe from any number
of replicas at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import Enum

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from liteagent.errors import ValidationError
from liteagent.storage.base import utcnow
from liteagent.storage.database import Database
from liteagent.storage.models import ApiKeyRecord, RefreshTokenRecord, UserRecord

__all__ = ["AccountRepository", "RefreshOutcome"]


class RefreshOutcome(Enum):
    """What ``AccountRepository.use_refresh_token`` found."""

    ACCEPTED = "accepted"  # unused and unexpired: now used
    REPLAYED = "replayed"  # used before: every refresh token of the user is now revoked
    UNKNOWN = "unknown"  # never issued here, expired, or revoked


def _roles_text(roles: Sequence[str]) -> str:
    return ",".join(dict.fromkeys(role for role in roles if role))


class AccountRepository:
    """Users, their API keys (hashed) and their refresh tokens (by ``jti``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # ----------------------------------------------------------------- users
    async def create_user(
        self,
        *,
        email: str,
        password_hash: str,
        roles: Sequence[str] = (),
        team_id: str | None = None,
    ) -> UserRecord:
        """Add a user.

        Raises:
            ValidationError: a user with this e-mail address exists.
        """
        now = utcnow()
        record = UserRecord(
            id=uuid.uuid4().hex,
            email=email,
            password_hash=password_hash,
            roles=_roles_text(roles),
            team_id=team_id,
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.database.session() as session:
                session.add(record)
        except IntegrityError:
            raise ValidationError(f"A user with the e-mail address {email!r} exists.") from None
        return record

    async def get_user(self, user_id: str) -> UserRecord | None:
        async with self.database.session() as session:
            return await session.get(UserRecord, user_id)

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        async with self.database.session() as session:
            result = await session.execute(select(UserRecord).where(UserRecord.email == email))
            return result.scalar_one_or_none()

    async def set_password_hash(self, *, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash (a re-hash with stronger parameters, or a reset)."""
        async with self.database.session() as session:
            await session.execute(
                update(UserRecord)
                .where(UserRecord.id == user_id)
                .values(password_hash=password_hash, updated_at=utcnow())
            )

    async def set_active(self, *, user_id: str, active: bool) -> None:
        """Enable or disable a user; disabling also revokes their refresh tokens."""
        now = utcnow()
        async with self.database.session() as session:
            await session.execute(
                update(UserRecord)
                .where(UserRecord.id == user_id)
                .values(is_active=active, updated_at=now)
            )
            if not active:
                await session.execute(
                    update(RefreshTokenRecord)
                    .where(
                        RefreshTokenRecord.user_id == user_id,
                        RefreshTokenRecord.used_at.is_(None),
                    )
                    .values(used_at=now)
                )

    # ----------------------------------------------------------------- API keys
    async def create_api_key(
        self,
        *,
        user_id: str,
        name: str,
        prefix: str,
        key_hash: str,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord:
        """Store a new key's hash and display prefix."""
        record = ApiKeyRecord(
            id=uuid.uuid4().hex,
            user_id=user_id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            created_at=utcnow(),
            expires_at=expires_at,
        )
        async with self.database.session() as session:
            session.add(record)
        return record

    async def find_api_key(self, key_hash: str) -> tuple[ApiKeyRecord, UserRecord] | None:
        """The live key with this hash and its user (``None``: unknown, revoked or expired)."""
        now = utcnow()
        async with self.database.session() as session:
            result = await session.execute(
                select(ApiKeyRecord, UserRecord)
                .join(UserRecord, UserRecord.id == ApiKeyRecord.user_id)
                .where(ApiKeyRecord.key_hash == key_hash, ApiKeyRecord.revoked_at.is_(None))
            )
            row = result.one_or_none()
        if row is None:
            return None
        key, user = row
        if key.expires_at is not None and key.expires_at <= now:
            return None
        return key, user

    async def list_api_keys(self, *, user_id: str | None) -> list[ApiKeyRecord]:
        """Unrevoked keys of ``user_id`` (``None``: of every user), oldest first."""
        statement = select(ApiKeyRecord).where(ApiKeyRecord.revoked_at.is_(None))
        if user_id is not None:
            statement = statement.where(ApiKeyRecord.user_id == user_id)
        async with self.database.session() as session:
            result = await session.execute(statement.order_by(ApiKeyRecord.created_at))
            return list(result.scalars())

    async def revoke_api_key(self, *, key_id: str, user_id: str | None) -> bool:
        """Revoke a key of ``user_id`` (``None``: of any user); ``True`` when one was live."""
        statement = (
            update(ApiKeyRecord)
            .where(ApiKeyRecord.id == key_id, ApiKeyRecord.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(ApiKeyRecord.id)
        )
        if user_id is not None:
            statement = statement.where(ApiKeyRecord.user_id == user_id)
        async with self.database.session() as session:
            result = await session.execute(statement)
            return result.first() is not None

    # ----------------------------------------------------------------- refresh tokens
    async def add_refresh_token(self, *, jti: str, user_id: str, expires_at: datetime) -> None:
        """Record an issued refresh token (and forget the user's expired ones)."""
        now = utcnow()
        async with self.database.session() as session:
            await session.execute(
                delete(RefreshTokenRecord).where(
                    RefreshTokenRecord.user_id == user_id, RefreshTokenRecord.expires_at <= now
                )
            )
            session.add(
                RefreshTokenRecord(jti=jti, user_id=user_id, expires_at=expires_at, created_at=now)
            )

    async def use_refresh_token(self, *, jti: str, user_id: str) -> RefreshOutcome:
        """Mark a refresh token used, once: the first caller gets ``ACCEPTED``.

        A token used before comes back ``REPLAYED`` and revokes all of the user's refresh
        tokens, so whoever holds a copy of a rotated token cannot go on refreshing.
        """
        now = utcnow()
        async with self.database.session() as session:
            taken = await session.execute(
                update(RefreshTokenRecord)
                .where(
                    RefreshTokenRecord.jti == jti,
                    RefreshTokenRecord.user_id == user_id,
                    RefreshTokenRecord.used_at.is_(None),
                    RefreshTokenRecord.expires_at > now,
                )
                .values(used_at=now)
                .returning(RefreshTokenRecord.jti)
            )
            if taken.first() is not None:
                return RefreshOutcome.ACCEPTED
            found = await session.execute(
                select(RefreshTokenRecord.used_at).where(
                    RefreshTokenRecord.jti == jti, RefreshTokenRecord.user_id == user_id
                )
            )
            used_at = found.scalar_one_or_none()
            if used_at is None:
                return RefreshOutcome.UNKNOWN
            await session.execute(
                update(RefreshTokenRecord)
                .where(RefreshTokenRecord.user_id == user_id, RefreshTokenRecord.used_at.is_(None))
                .values(used_at=now)
            )
            return RefreshOutcome.REPLAYED

    async def revoke_refresh_tokens(self, *, user_id: str) -> None:
        """Make every refresh token of the user unusable (sign-out everywhere)."""
        async with self.database.session() as session:
            await session.execute(
                update(RefreshTokenRecord)
                .where(RefreshTokenRecord.user_id == user_id, RefreshTokenRecord.used_at.is_(None))
                .values(used_at=utcnow())
            )
