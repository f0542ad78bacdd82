"""Inline text as a data source."""

from __future__ import annotations

import hashlib

from liteagent.datasources.base import BaseDataSourceProvider, DataSourceContent

__all__ = ["TextDataSourceProvider"]


class TextDataSourceProvider(BaseDataSourceProvider):
    """Text given directly; its source id is ``text:<hash>`` unless a ``name`` is given.

    Args:
        name: Shown in citations (default: "inline text").
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    async def fetch_content(self, source: str) -> DataSourceContent:
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        return DataSourceContent(
            content=source,
            source=f"text:{self.name or digest}",
            metadata={"name": self.name or "inline text", "type": "text"},
        )

    async def validate_source(self, source: str) -> bool:
        return bool(source.strip())
