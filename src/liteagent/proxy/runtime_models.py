"""Models defined at run time: the handler's catalog kept in step with the database.

Every replica holds a ``RuntimeCatalog`` (``liteagent.yaml`` plus the management API's agents).
It is reloaded when the database's catalog version changes, which a replica learns

- at once for its own writes (the API calls ``refresh`` after each change),
- at once from the others when Redis is configured (an invalidation message ``catalog``),
- else within ``LITEAGENT_CATALOG_REFRESH_SECONDS`` (a poll of one small row),
- and, for a request naming a model this replica does not know yet, right then.

A reload swaps the handler's catalog, drops the cached runners of every entry that changed or
went away, and adds or removes the proxy router's deployments so that ``/v1/models`` follows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from liteagent.catalog import Catalog, RagSpec
from liteagent.catalog.runtime_store import RuntimeCatalog, RuntimeCatalogStore
from liteagent.config import Settings
from liteagent.log import get_logger
from liteagent.proxy.cache import AgentCache
from liteagent.proxy.registration import deployment_id, proxy_router, register_with_router
from liteagent.proxy.runners.rag import forget_ingestion
from liteagent.redaction import redact_text
from liteagent.runtime.background import cancel_and_wait
from liteagent.runtime.services import RuntimeServices
from liteagent.security import get_encryption_service
from liteagent.storage import get_database
from liteagent.storage.catalog_store import CatalogRepository

__all__ = ["INVALIDATION_KIND", "CatalogRefresher", "changed_names", "drop_stale", "reads_stored"]

logger = get_logger(__name__)

INVALIDATION_KIND = "catalog"


def changed_names(old: Catalog, new: Catalog) -> set[str]:
    """Entries of ``old`` that ``new`` changed or no longer has."""
    return {name for name, spec in old.entries.items() if new.entries.get(name) != spec}


def reads_stored(spec: RagSpec) -> bool:
    """Whether a RAG entry reads data sources stored through the API (``datasource:<id>``)."""
    return any(source.startswith("datasource:") for source in spec.sources)


def drop_stale(cache: AgentCache[Any], old: RuntimeCatalog, new: RuntimeCatalog) -> None:
    """Drop the cached runners of entries that changed or went away; RAG entries that changed,
    or read stored data sources, ingest their sources again on their next request."""
    changed = changed_names(old.catalog, new.catalog)
    for name in changed:
        dropped = cache.invalidate_model(name)
        logger.info("agent_cache_invalidated", model=name, dropped=dropped)
    for spec in new.catalog:
        if isinstance(spec, RagSpec) and (spec.name in changed or reads_stored(spec)):
            forget_ingestion(spec)


def sync_router(router: Any, old: RuntimeCatalog, new: RuntimeCatalog) -> None:
    """Add, replace and remove the router's deployments of run-time entries."""
    changed = changed_names(old.catalog, new.catalog)
    for name in old.runtime_names - new.runtime_names:
        router.delete_deployment(id=deployment_id(name))
    for name in new.runtime_names & changed:
        router.delete_deployment(id=deployment_id(name))  # re-added below with its new settings
    added = [new.catalog.entries[n] for n in sorted(new.runtime_names)]
    register_with_router(router, added)


class CatalogRefresher:
    """Reloads the run-time catalog of one handler.

    Args:
        base: The catalog of ``liteagent.yaml``.
        settings: The database, the encryption key and the poll interval.
        apply: Called with ``(old, new)`` after each reload that changed something.
        runtime: The replica's services: their invalidation bus carries the catalog changes
            of the other replicas (Redis) and announces this one's.
    """

    def __init__(
        self,
        base: Catalog,
        settings: Settings,
        apply: Callable[[RuntimeCatalog, RuntimeCatalog], None],
        runtime: RuntimeServices | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        if runtime is not None:  # other replicas' changes, at once when Redis is configured
            runtime.invalidation.on(self._invalidated)
        self.current = RuntimeCatalog.static(base)
        self._settings_store: RuntimeCatalogStore | None = None
        self._base = base
        self._apply = apply
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._listeners: list[Callable[[RuntimeCatalog], None]] = []

    def on_reload(self, listener: Callable[[RuntimeCatalog], None]) -> None:
        """Call ``listener(new)`` after each reload (e.g. to rebuild the A2A agents)."""
        self._listeners.append(listener)

    @property
    def store(self) -> RuntimeCatalogStore:
        """The database side (created on first use: nothing opens at construction)."""
        if self._settings_store is None:
            database = get_database(self.settings.database_url)
            self._settings_store = RuntimeCatalogStore(
                self._base, CatalogRepository(database), get_encryption_service(self.settings)
            )
        return self._settings_store

    async def refresh(self, *, force: bool = False) -> bool:
        """Reload when the database's version moved (or ``force``); ``True`` if reloaded."""
        async with self._lock:
            if not force and await self.store.version() == self.current.version:
                return False
            new = await self.store.load()
            old, self.current = self.current, new
        if new.shadowed != old.shadowed and new.shadowed:
            logger.warning(
                "runtime_agents_shadowed",
                agents=list(new.shadowed),
                reason="liteagent.yaml defines the same names; the YAML entries are served",
            )
        for name in set(new.invalid) - set(old.invalid):
            logger.warning("runtime_agent_invalid", agent=name, error=new.invalid[name])
        self._apply(old, new)
        router = proxy_router()
        if router is not None:
            sync_router(router, old, new)
        for listener in self._listeners:
            try:
                listener(new)
            except Exception:
                logger.exception("runtime_catalog_listener_failed")
        logger.info(
            "runtime_catalog_loaded",
            version=new.version,
            runtime_models=sorted(new.runtime_names),
        )
        return True

    async def _invalidated(self, kind: str, key: str) -> None:
        if kind == INVALIDATION_KIND:
            await self.refresh()

    async def changed(self) -> None:
        """After a write of the run-time catalog: reload here, and tell the other replicas."""
        await self.refresh()
        if self.runtime is not None and self.runtime.shared:
            await self.runtime.start()
            await self.runtime.invalidation.publish(INVALIDATION_KIND, "changed")

    async def refresh_quietly(self) -> bool:
        """``refresh``, with a failure logged rather than raised; ``True`` if reloaded."""
        try:
            return await self.refresh()
        except Exception as exc:  # noqa: BLE001 - the caller goes on with what it has
            logger.warning("runtime_catalog_refresh_failed", error=redact_text(str(exc)))
            return False

    def start(self) -> bool:
        """Poll in the running loop (idempotent; no-op without a loop or with interval 0)."""
        if self._task is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._task = loop.create_task(self._poll())
        return True

    async def _poll(self) -> None:
        interval = self.settings.catalog_refresh_seconds
        if self.runtime is not None:
            try:
                await self.runtime.start()  # listen for the other replicas' changes
            except Exception as exc:  # noqa: BLE001 - polling still keeps replicas in step
                logger.warning("runtime_catalog_listen_failed", error=redact_text(str(exc)))
        while True:
            try:
                await self.refresh()
                if self._failing:
                    logger.info("runtime_catalog_recovered")
                self._failing = False
            except Exception as exc:  # noqa: BLE001 - the next poll tries again
                if not self._failing:
                    logger.warning("runtime_catalog_refresh_failed", error=redact_text(str(exc)))
                self._failing = True
            if interval <= 0:
                return
            await asyncio.sleep(interval)

    async def aclose(self) -> None:
        """Stop polling."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
