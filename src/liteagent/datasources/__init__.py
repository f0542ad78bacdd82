"""Data sources: files, URLs, inline text and GitLab, fetched as text with provenance."""

from liteagent.datasources.base import (
    BaseDataSourceProvider,
    DataSourceContent,
    DataSourceFetchError,
    DataSourceNotFoundError,
    DataSourceType,
)
from liteagent.datasources.factory import (
    DataSourceFactory,
    datasource_registry,
    provider_for_source,
)
from liteagent.datasources.file_provider import FileDataSourceProvider
from liteagent.datasources.gitlab_provider import GitLabDataSourceProvider
from liteagent.datasources.text_provider import TextDataSourceProvider
from liteagent.datasources.url_provider import URLDataSourceProvider

__all__ = [
    "BaseDataSourceProvider",
    "DataSourceContent",
    "DataSourceFactory",
    "DataSourceFetchError",
    "DataSourceNotFoundError",
    "DataSourceType",
    "FileDataSourceProvider",
    "GitLabDataSourceProvider",
    "TextDataSourceProvider",
    "URLDataSourceProvider",
    "datasource_registry",
    "provider_for_source",
]
