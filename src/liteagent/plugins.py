"""Every registry of the package in one place: ``load_all_plugins`` and ``get_provider_summary``.

Each registry (``liteagent.registry.ProviderRegistry``) loads its entry-point group on first
use; ``load_all_plugins`` loads all of them at once (idempotent), for a start-up that should
fail early on a broken plugin and for operators listing what is installed.
"""

from __future__ import annotations

from typing import Any

from liteagent.agents.builtin_tools import tool_registry
from liteagent.datasources.factory import datasource_registry
from liteagent.llm.factory import llm_registry
from liteagent.proxy.runners.base import runner_registry
from liteagent.rag.chunker import chunker_registry
from liteagent.rag.embeddings import embedding_registry
from liteagent.rag.retriever import retriever_registry
from liteagent.rag.vector_store import vector_store_registry
from liteagent.registry import ProviderRegistry
from liteagent.storage.database import storage_registry
from liteagent.toolkits.base import toolkit_registry
from liteagent.workflows.extensions import node_handler_registry

__all__ = ["REGISTRIES", "get_provider_summary", "load_all_plugins"]

REGISTRIES: dict[str, ProviderRegistry[Any]] = {
    "llm": llm_registry,
    "embedding": embedding_registry,
    "vector_store": vector_store_registry,
    "retriever": retriever_registry,
    "chunker": chunker_registry,
    "storage": storage_registry,
    "datasource": datasource_registry,
    "tool": tool_registry,
    "toolkit": toolkit_registry,
    "workflow_node": node_handler_registry,
    "runner": runner_registry,
}
"""Every registry by category (the keys of ``get_provider_summary``)."""


def load_all_plugins() -> None:
    """Load every registry's entry points (idempotent; a plugin that fails to import is logged
    as ``plugin_load_failed`` and skipped)."""
    for registry in REGISTRIES.values():
        registry.load_entry_points()


def get_provider_summary() -> dict[str, list[str]]:
    """Registered names by category, built-ins and plugins alike."""
    load_all_plugins()
    return {category: registry.list_providers() for category, registry in REGISTRIES.items()}
