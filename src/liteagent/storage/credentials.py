"""Data access for toolkit credentials: rows of ciphertext, keyed by (user, toolkit).

The repository never sees plaintext: ``liteagent.toolkits.TokenStorage`` encrypts before it
writes and decrypts after it reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from liteagent.storage.base import utcnow
from liteagent.storage.database import Database
from liteagent.storage.models import ToolkitCredentialRecord
from liteagent.storage.sql import upsert


class CredentialRepository:
    """Encrypted toolkit credentials per (user, toolkit)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, *, user_key: str, toolkit: str) -> tuple[str, datetime] | None:
        """The stored ciphertext and when it was last written, or ``None``."""
        async with self.database.session() as session:
            result = await session.execute(
                select(ToolkitCredentialRecord.secret, ToolkitCredentialRecord.updated_at).where(
                    ToolkitCredentialRecord.user_key == user_key,
                    ToolkitCredentialRecord.toolkit == toolkit,
                )
            )
            row = result.one_or_none()
            return (row[0], row[1]) if row is not None else None

    async def upsert(self, *, user_key: str, toolkit: str, secret: str) -> datetime:
        """Insert or replace the ciphertext in one statement (``INSERT … ON CONFLICT DO
        UPDATE``), safe from any number of replicas at once; returns the write time."""
        now = utcnow()
        table = ToolkitCredentialRecord.__table__
        statement = (
            upsert(table, self.database.dialect)  # type: ignore[arg-type]
            .values(
                user_key=user_key, toolkit=toolkit, secret=secret, created_at=now, updated_at=now
            )
            .on_conflict_do_update(
                index_elements=[table.c.user_key, table.c.toolkit],
                set_={"secret": secret, "updated_at": now},
            )
        )
        async with self.database.session() as session:
            await session.execute(statement)
        return now

    async def delete(self, *, user_key: str, toolkit: str) -> bool:
        """Remove the row; ``True`` when there was one."""
        async with self.database.session() as session:
            result = await session.execute(
                delete(ToolkitCredentialRecord)
                .where(
                    ToolkitCredentialRecord.user_key == user_key,
                    ToolkitCredentialRecord.toolkit == toolkit,
                )
                .returning(ToolkitCredentialRecord.id)
            )
            return result.first() is not None

    async def versions(self, *, user_key: str) -> dict[str, datetime]:
        """When each of the user's toolkits was last written (``{toolkit: updated_at}``)."""
        async with self.database.session() as session:
            result = await session.execute(
                select(ToolkitCredentialRecord.toolkit, ToolkitCredentialRecord.updated_at).where(
                    ToolkitCredentialRecord.user_key == user_key
                )
            )
            return {toolkit: updated for toolkit, updated in result.all()}
