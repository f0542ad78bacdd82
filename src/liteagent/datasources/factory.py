"""Build data-source providers by type, and route a source string to the right one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from liteagent.datasources.base import BaseDataSourceProvider, DataSourceType
from liteagent.datasources.file_provider import FileDataSourceProvider
from liteagent.datasources.gitlab_provider import GitLabDataSourceProvider
from liteagent.datasources.stored_provider import PREFIX as STORED_PREFIX
from liteagent.datasources.stored_provider import StoredDataSourceProvider
from liteagent.datasources.text_provider import TextDataSourceProvider
from liteagent.datasources.url_provider import URLDataSourceProvider
from liteagent.errors import ConfigurationError
from liteagent.registry import ProviderRegistry
from liteagent.security.outbound import OutboundPolicy

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = ["DataSourceFactory", "datasource_registry", "provider_for_source"]

datasource_registry: ProviderRegistry[BaseDataSourceProvider] = ProviderRegistry(
    "data source", entry_point_group="liteagent.datasources"
)
datasource_registry.register(DataSourceType.FILE.value)(FileDataSourceProvider)
datasource_registry.register(DataSourceType.URL.value)(URLDataSourceProvider)
datasource_registry.register(DataSourceType.TEXT.value)(TextDataSourceProvider)
datasource_registry.register(DataSourceType.GITLAB.value)(GitLabDataSourceProvider)


class DataSourceFactory:
    """The seeds' factory over ``datasource_registry``."""

    @classmethod
    def create(cls, source_type: DataSourceType | str, **kwargs: Any) -> BaseDataSourceProvider:
        """Build the provider registered for ``source_type`` with ``kwargs``."""
        return datasource_registry.get(str(source_type), **kwargs)


def provider_for_source(
    source: str, settings: Settings, *, base_dir: str | Path | None = None
) -> tuple[BaseDataSourceProvider, str]:
    """The provider for a source string and the source as that provider expects it.

    ``http(s)://…`` → URL, ``gitlab:…`` → GitLab (``GITLAB_URL``/``GITLAB_TOKEN``),
    ``text:…`` → inline text, ``datasource:<id>`` → a data source stored through the management
    API, anything else → a file, folder or glob under ``base_dir``.
    """
    if source.startswith(("http://", "https://")):
        return (
            URLDataSourceProvider(
                policy=OutboundPolicy.from_settings(
                    settings, allow_private=settings.url_allow_private
                ),
                max_bytes=settings.url_max_bytes,
                timeout=settings.url_timeout,
            ),
            source,
        )
    if source.startswith("gitlab:"):
        if not settings.gitlab_url:
            raise ConfigurationError(f"Source '{source}' needs GITLAB_URL (and GITLAB_TOKEN).")
        token = settings.gitlab_token.get_secret_value() if settings.gitlab_token else None
        return GitLabDataSourceProvider(settings.gitlab_url, token), source
    if source.startswith(STORED_PREFIX):
        return StoredDataSourceProvider(settings.database_url), source
    if source.startswith("text:"):
        return TextDataSourceProvider(), source.removeprefix("text:")
    return FileDataSourceProvider(base_dir=base_dir), source
