"""Data access for the run-time catalog: providers, agents, data sources and the version counter.

The repository holds rows, not meaning: it never decrypts (callers store ciphertext) and knows
no catalog spec (``liteagent.catalog.runtime_store`` validates definitions and merges them with
``liteagent.yaml``). Every write of an agent, a provider or a data source (which RAG entries
read as ``datasource:<id>``) increments the catalog version in the same transaction, so a
replica that reads the version knows whether to reload.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from liteagent.storage.base import utcnow
from liteagent.storage.catalog_models import (
    ApiAgentRecord,
    ApiDataSourceRecord,
    ApiProviderRecord,
    CatalogVersionRecord,
)
from liteagent.storage.database import Database
from liteagent.storage.sql import upsert

__all__ = ["CatalogRecord", "CatalogRepository", "CatalogSnapshot", "DuplicateNameError"]

_VERSION_ROW = "catalog"

CatalogRecord = TypeVar("CatalogRecord", ApiProviderRecord, ApiAgentRecord, ApiDataSourceRecord)
"""A row of one of the management API's tables (each has an id, a name and an owner)."""


class DuplicateNameError(Exception):
    """A row with this name exists already (a unique constraint refused the write)."""


@dataclass(frozen=True)
class CatalogSnapshot:
    """Every run-time agent and provider, read in one transaction, with the version they make."""

    version: int
    providers: Sequence[ApiProviderRecord]
    agents: Sequence[ApiAgentRecord]


def new_id() -> str:
    """A new resource id (a UUID4 in text)."""
    return str(uuid.uuid4())


class CatalogRepository:
    """Rows of the management API's tables.

    Args:
        database: The shared database (``LITEAGENT_DATABASE_URL``).
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    # ----------------------------------------------------------------- version
    async def version(self) -> int:
        """The catalog version (0 before the first change): one small row, cheap to poll."""
        async with self.database.session() as session:
            result = await session.execute(
                select(CatalogVersionRecord.version).where(CatalogVersionRecord.id == _VERSION_ROW)
            )
            return int(result.scalar_one_or_none() or 0)

    async def _bump(self, session: AsyncSession) -> None:
        table = CatalogVersionRecord.__table__
        now = utcnow()
        statement = (
            upsert(table, self.database.dialect)  # type: ignore[arg-type]
            .values(id=_VERSION_ROW, version=1, updated_at=now)
            .on_conflict_do_update(
                index_elements=[table.c.id],
                set_={"version": table.c.version + 1, "updated_at": now},
            )
        )
        await session.execute(statement)

    async def snapshot(self) -> CatalogSnapshot:
        """The version, every provider and every agent, consistent with each other."""
        async with self.database.session() as session:
            version = await session.execute(
                select(CatalogVersionRecord.version).where(CatalogVersionRecord.id == _VERSION_ROW)
            )
            providers = await session.execute(
                select(ApiProviderRecord).order_by(ApiProviderRecord.created_at)
            )
            agents = await session.execute(
                select(ApiAgentRecord).order_by(ApiAgentRecord.created_at)
            )
            return CatalogSnapshot(
                version=int(version.scalar_one_or_none() or 0),
                providers=list(providers.scalars()),
                agents=list(agents.scalars()),
            )

    # ----------------------------------------------------------------- rows of any table
    # Providers, agents and data sources (which RAG entries read as ``datasource:<id>``) are
    # all part of the catalog: every write bumps its version in the same transaction.
    async def list_rows(
        self, record: type[CatalogRecord], *, owner: str | None = None
    ) -> list[CatalogRecord]:
        """Rows of ``record``'s table, oldest first (``owner``: only that owner's)."""
        statement = select(record).order_by(record.created_at)
        if owner is not None:
            statement = statement.where(record.owner == owner)
        async with self.database.session() as session:
            return list((await session.execute(statement)).scalars())

    async def get_row(self, record: type[CatalogRecord], row_id: str) -> CatalogRecord | None:
        """One row of ``record``'s table by id."""
        async with self.database.session() as session:
            return await session.get(record, row_id)

    async def add_row(self, row: CatalogRecord) -> CatalogRecord:
        """Insert a row (secrets in it already encrypted).

        Raises:
            DuplicateNameError: a row of that name exists (providers and agents).
        """
        try:
            async with self.database.session() as session:
                session.add(row)
                await session.flush()
                await self._bump(session)
        except IntegrityError:
            raise DuplicateNameError(row.name) from None
        return row

    async def update_row(
        self, record: type[CatalogRecord], row_id: str, fields: dict[str, Any]
    ) -> CatalogRecord | None:
        """Change a row's fields; ``None`` when it does not exist.

        Raises:
            DuplicateNameError: the new name is taken (providers and agents).
        """
        try:
            async with self.database.session() as session:
                row = await session.get(record, row_id)
                if row is None:
                    return None
                for name, value in fields.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
                await session.flush()
                await self._bump(session)
                return row
        except IntegrityError:
            raise DuplicateNameError(str(fields.get("name", ""))) from None

    async def delete_row(self, record: type[CatalogRecord], row_id: str) -> bool:
        """Remove a row; ``True`` when there was one."""
        async with self.database.session() as session:
            result = await session.execute(
                delete(record).where(record.id == row_id).returning(record.id)
            )
            deleted = result.first() is not None
            if deleted:
                await self._bump(session)
            return deleted

    # ----------------------------------------------------------------- by kind
    async def get_provider(self, provider_id: str) -> ApiProviderRecord | None:
        """One provider by id."""
        return await self.get_row(ApiProviderRecord, provider_id)

    async def agents_using_provider(self, provider_id: str) -> list[str]:
        """Names of the agents that use the provider."""
        async with self.database.session() as session:
            result = await session.execute(
                select(ApiAgentRecord.name).where(ApiAgentRecord.provider_id == provider_id)
            )
            return list(result.scalars())

    async def get_agent(self, agent_id: str) -> ApiAgentRecord | None:
        """One agent by id."""
        return await self.get_row(ApiAgentRecord, agent_id)

    async def get_agent_by_name(self, name: str) -> ApiAgentRecord | None:
        """One agent by name."""
        async with self.database.session() as session:
            result = await session.execute(
                select(ApiAgentRecord).where(ApiAgentRecord.name == name)
            )
            return result.scalar_one_or_none()

    async def get_datasource(self, datasource_id: str) -> ApiDataSourceRecord | None:
        """One data source by id."""
        return await self.get_row(ApiDataSourceRecord, datasource_id)
