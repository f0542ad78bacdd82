"""What every service of one app shares: the handler, the tables, the encryption."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liteagent.catalog import Catalog
from liteagent.catalog.runtime_store import RuntimeCatalog, merge_snapshot
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from liteagent.security import EncryptionService, get_encryption_service
from liteagent.storage import get_database
from liteagent.storage.catalog_store import CatalogRepository

if TYPE_CHECKING:
    from liteagent.api.proxy_chat import ProxyChatGateway

__all__ = ["ApiContext"]


@dataclass(frozen=True)
class ApiContext:
    """The app's shared parts (``app.state.api``).

    Attributes:
        handler: The proxy's handler: chats go through it, and it serves the agents.
        repository: The management API's tables.
        encryption: Encrypts providers' API keys and data sources' tokens.
        gateway: Inside the proxy, chats go through LiteLLM's own chat endpoint (its checks,
            budgets and spend logs apply); ``None``: straight to the handler (standalone).
    """

    handler: LiteAgentLLM
    repository: CatalogRepository
    encryption: EncryptionService
    gateway: ProxyChatGateway | None = None

    @classmethod
    def for_handler(
        cls, handler: LiteAgentLLM, gateway: ProxyChatGateway | None = None
    ) -> ApiContext:
        """The context of ``handler``'s database and encryption key."""
        settings = handler.settings
        return cls(
            handler=handler,
            repository=CatalogRepository(get_database(settings.database_url)),
            encryption=get_encryption_service(settings),
            gateway=gateway,
        )

    @property
    def settings(self) -> Settings:
        """The handler's settings."""
        return self.handler.settings

    @property
    def yaml_catalog(self) -> Catalog:
        """The catalog of ``liteagent.yaml`` (wins every name clash)."""
        return self.handler.refresher.store.base

    @property
    def served(self) -> RuntimeCatalog:
        """What this replica serves right now."""
        return self.handler.refresher.current

    async def fresh(self) -> RuntimeCatalog:
        """The run-time catalog as the database holds it now (for validating a write)."""
        snapshot = await self.repository.snapshot()
        return merge_snapshot(self.yaml_catalog, snapshot, self.encryption)

    async def changed(self) -> None:
        """After a write: this replica reloads, the others are told."""
        await self.handler.catalog_changed()
