"""The data-source protocol: fetch text (and its provenance) from somewhere.

A provider's ``fetch_content`` returns one ``DataSourceContent``; ``fetch_documents`` returns
the separate documents a source holds (the files of a folder or repository, the issues of a
project), which is what ingestion uses so that every passage cites its own file or issue.

Errors::

    NotFoundError (404)
    └── DataSourceNotFoundError (404 datasource_not_found)   no such file, page, project…
    LiteAgentError
    └── DataSourceFetchError (502 datasource_fetch_failed)   the source failed or was refused
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from liteagent.errors import LiteAgentError, NotFoundError

__all__ = [
    "BaseDataSourceProvider",
    "DataSourceContent",
    "DataSourceFetchError",
    "DataSourceNotFoundError",
    "DataSourceType",
]


class DataSourceNotFoundError(NotFoundError, error_code="datasource_not_found"):
    """The file, page, project or item does not exist."""


class DataSourceFetchError(LiteAgentError, status_code=502, error_code="datasource_fetch_failed"):
    """Fetching failed (network, upstream error, size or address limits)."""


class DataSourceType(StrEnum):
    """Built-in data-source kinds."""

    FILE = "file"
    URL = "url"
    TEXT = "text"
    GITLAB = "gitlab"


@dataclass
class DataSourceContent:
    """Text fetched from a source.

    ``source`` identifies it (a path, URL, ``gitlab:<project>/<path>``…); ``metadata`` carries
    at least ``name`` (what a citation shows) and, where there is one, ``url``.
    """

    content: str
    source: str
    metadata: dict[str, Any] | None = field(default=None)

    @property
    def name(self) -> str:
        return str((self.metadata or {}).get("name") or self.source)


class BaseDataSourceProvider(ABC):
    """Fetches content from one kind of source."""

    @abstractmethod
    async def fetch_content(self, source: str) -> DataSourceContent:
        """Fetch ``source`` as one piece of text."""

    @abstractmethod
    async def validate_source(self, source: str) -> bool:
        """Whether ``source`` is well-formed for this provider (no fetch)."""

    async def fetch_documents(self, source: str) -> list[DataSourceContent]:
        """The separate documents ``source`` holds (default: just ``fetch_content``)."""
        return [await self.fetch_content(source)]

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network clients."""
