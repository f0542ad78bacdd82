"""Data sources stored through the management API, as a source of RAG entries:
``datasource:<id>`` in a RAG entry's ``sources`` reads the text last fetched for that data
source (``POST /liteagent/api/datasources``, ``.../refresh``)."""

from __future__ import annotations

from liteagent.datasources.base import (
    BaseDataSourceProvider,
    DataSourceContent,
    DataSourceFetchError,
    DataSourceNotFoundError,
)
from liteagent.storage import get_database
from liteagent.storage.catalog_store import CatalogRepository

__all__ = ["PREFIX", "StoredDataSourceProvider"]

PREFIX = "datasource:"


class StoredDataSourceProvider(BaseDataSourceProvider):
    """Reads a stored data source's text from the database.

    Args:
        database_url: ``LITEAGENT_DATABASE_URL``.
    """

    def __init__(self, database_url: str) -> None:
        self.repository = CatalogRepository(get_database(database_url))

    async def fetch_content(self, source: str) -> DataSourceContent:
        datasource_id = source.removeprefix(PREFIX)
        record = await self.repository.get_datasource(datasource_id)
        if record is None:
            raise DataSourceNotFoundError(f"No data source '{datasource_id}'.")
        if record.content is None:
            raise DataSourceFetchError(
                f"Data source '{record.name}' has no text yet: {record.error or 'not fetched'}."
            )
        return DataSourceContent(
            content=record.content,
            source=f"{PREFIX}{record.id}",
            metadata={"name": record.name, "type": record.source_type, "origin": record.source},
        )

    async def validate_source(self, source: str) -> bool:
        return bool(source.removeprefix(PREFIX).strip())
