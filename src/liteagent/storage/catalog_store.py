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

from liteagent.storage.base import Base, utcnow
from liteagent.storage.catalog_models import (
    ApiAgentRecord,
    ApiDataSourceRecord,
    ApiProviderRecord,
    CatalogVersionRecord,
)
from liteagent.storage.database import Database
from liteagent.storage.sql import upsert

__all__ = ["CatalogRepository", "CatalogSnapshot", "DuplicateNameError"]

_VERSION_ROW = "catalog"
_Record = TypeVar("_Record", bound=Base)


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

    # ----------------------------------------------------------------- generic rows
    async def _list(self, record: type[_Record], owner: str | None) -> list[_Record]:
        statement = select(record).order_by(record.created_at)  # type: ignore[attr-defined]
        if owner is not None:
            statement = statement.where(record.owner == owner)  # type: ignore[attr-defined]
        async with self.database.session() as session:
            return list((await session.execute(statement)).scalars())

    async def _get(self, record: type[_Record], row_id: str) -> _Record | None:
        async with self.database.session() as session:
            return await session.get(record, row_id)

    async def _add(self, row: Base, *, bump: bool) -> None:
        try:
            async with self.database.session() as session:
                session.add(row)
                await session.flush()
                if bump:
                    await self._bump(session)
        except IntegrityError:
            raise DuplicateNameError(getattr(row, "name", "")) from None

    async def _update(
        self, record: type[_Record], row_id: str, fields: dict[str, Any], *, bump: bool
    ) -> _Record | None:
        try:
            async with self.database.session() as session:
                row = await session.get(record, row_id)
                if row is None:
                    return None
                for name, value in fields.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()  # type: ignore[attr-defined]
                await session.flush()
                if bump:
                    await self._bump(session)
                return row
        except IntegrityError:
            raise DuplicateNameError(str(fields.get("name", ""))) from None

    async def _delete(self, record: type[_Record], row_id: str, *, bump: bool) -> bool:
        async with self.database.session() as session:
            result = await session.execute(
                delete(record).where(record.id == row_id).returning(record.id)  # type: ignore[attr-defined]
            )
            deleted = result.first() is not None
            if deleted and bump:
                await self._bump(session)
            return deleted

    # ----------------------------------------------------------------- providers
    async def list_providers(self, *, owner: str | None = None) -> list[ApiProviderRecord]:
        """Providers, oldest first (``owner``: only that owner's)."""
        return await self._list(ApiProviderRecord, owner)

    async def get_provider(self, provider_id: str) -> ApiProviderRecord | None:
        """One provider by id."""
        return await self._get(ApiProviderRecord, provider_id)

    async def add_provider(self, row: ApiProviderRecord) -> ApiProviderRecord:
        """Insert a provider (its ``api_key`` already encrypted).

        Raises:
            DuplicateNameError: a provider of that name exists.
        """
        await self._add(row, bump=True)
        return row

    async def update_provider(
        self, provider_id: str, fields: dict[str, Any]
    ) -> ApiProviderRecord | None:
        """Change a provider's fields; ``None`` when it does not exist."""
        return await self._update(ApiProviderRecord, provider_id, fields, bump=True)

    async def delete_provider(self, provider_id: str) -> bool:
        """Remove a provider; ``True`` when there was one."""
        return await self._delete(ApiProviderRecord, provider_id, bump=True)

    async def agents_using_provider(self, provider_id: str) -> list[str]:
        """Names of the agents that use the provider."""
        async with self.database.session() as session:
            result = await session.execute(
                select(ApiAgentRecord.name).where(ApiAgentRecord.provider_id == provider_id)
            )
            return list(result.scalars())

    # ----------------------------------------------------------------- agents
    async def list_agents(self, *, owner: str | None = None) -> list[ApiAgentRecord]:
        """Agents, oldest first (``owner``: only that owner's)."""
        return await self._list(ApiAgentRecord, owner)

    async def get_agent(self, agent_id: str) -> ApiAgentRecord | None:
        """One agent by id."""
        return await self._get(ApiAgentRecord, agent_id)

    async def get_agent_by_name(self, name: str) -> ApiAgentRecord | None:
        """One agent by name."""
        async with self.database.session() as session:
            result = await session.execute(
                select(ApiAgentRecord).where(ApiAgentRecord.name == name)
            )
            return result.scalar_one_or_none()

    async def add_agent(self, row: ApiAgentRecord) -> ApiAgentRecord:
        """Insert an agent.

        Raises:
            DuplicateNameError: an agent of that name exists.
        """
        await self._add(row, bump=True)
        return row

    async def update_agent(self, agent_id: str, fields: dict[str, Any]) -> ApiAgentRecord | None:
        """Change an agent's fields; ``None`` when it does not exist."""
        return await self._update(ApiAgentRecord, agent_id, fields, bump=True)

    async def delete_agent(self, agent_id: str) -> bool:
        """Remove an agent; ``True`` when there was one."""
        return await self._delete(ApiAgentRecord, agent_id, bump=True)

    # ----------------------------------------------------------------- data sources
    async def list_datasources(self, *, owner: str | None = None) -> list[ApiDataSourceRecord]:
        """Data sources, oldest first (``owner``: only that owner's)."""
        return await self._list(ApiDataSourceRecord, owner)

    async def get_datasource(self, datasource_id: str) -> ApiDataSourceRecord | None:
        """One data source by id."""
        return await self._get(ApiDataSourceRecord, datasource_id)

    async def add_datasource(self, row: ApiDataSourceRecord) -> ApiDataSourceRecord:
        """Insert a data source."""
        await self._add(row, bump=True)  # RAG entries may read it (datasource:<id>)
        return row

    async def update_datasource(
        self, datasource_id: str, fields: dict[str, Any]
    ) -> ApiDataSourceRecord | None:
        """Change a data source's fields; ``None`` when it does not exist."""
        return await self._update(ApiDataSourceRecord, datasource_id, fields, bump=True)

    async def delete_datasource(self, datasource_id: str) -> bool:
        """Remove a data source; ``True`` when there was one."""
        return await self._delete(ApiDataSourceRecord, datasource_id, bump=True)
