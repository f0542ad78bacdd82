"""The run-time catalog: ``liteagent.yaml`` plus the agents and providers of the database.

Agents defined through the management API are validated by the same specs as the YAML entries
(``parse_entry``) and merged with them here. ``liteagent.yaml`` wins on a name clash: the
database entry is *shadowed* (left out, and reported). A database entry that no longer
validates (say its provider was deleted) is left out too and reported as *invalid*, so that one
broken entry never takes the others down.

The proxy keeps a ``RuntimeCatalog`` per replica and reloads it when the database's catalog
version changes (``liteagent.proxy.runtime_models``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liteagent.catalog.loader import Catalog, parse_entry
from liteagent.catalog.specs import ModelSpec, WorkflowSpec
from liteagent.catalog.workflow_links import link_workflows
from liteagent.errors import CatalogError, ConfigurationError
from liteagent.llm.provider_specs import ProviderEntry, ProviderSpec
from liteagent.log import get_logger
from liteagent.security import EncryptionService
from liteagent.storage.catalog_models import ApiAgentRecord, ApiProviderRecord
from liteagent.storage.catalog_store import CatalogRepository, CatalogSnapshot

__all__ = [
    "API_SOURCE",
    "RuntimeCatalog",
    "RuntimeCatalogStore",
    "agent_definition",
    "merge_snapshot",
    "provider_entry",
    "validate_definition",
]

logger = get_logger(__name__)

API_SOURCE = "management API"


@dataclass(frozen=True)
class RuntimeCatalog:
    """The catalog one replica serves, and what the database added to it.

    Attributes:
        catalog: YAML entries and valid, unshadowed database entries.
        version: The database's catalog version this was built from (-1: not loaded yet).
        runtime_names: Names served from the database.
        shadowed: Database agents hidden by a YAML entry of the same name.
        invalid: Database agents left out, with the reason.
    """

    catalog: Catalog
    version: int = -1
    runtime_names: frozenset[str] = frozenset()
    shadowed: tuple[str, ...] = ()
    invalid: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def static(cls, base: Catalog) -> RuntimeCatalog:
        """The YAML catalog alone (before the database is read)."""
        return cls(catalog=base)


def agent_definition(record: ApiAgentRecord) -> dict[str, Any]:
    """The stored entry, in the shape of a ``liteagent.yaml`` entry."""
    data: dict[str, Any] = json.loads(record.definition)
    return data


def provider_entry(record: ApiProviderRecord, encryption: EncryptionService) -> ProviderSpec:
    """A stored provider as the catalog's ``ProviderSpec`` (its API key decrypted)."""
    settings: dict[str, Any] = {"type": record.provider_type}
    if record.api_key:
        settings["api_key"] = encryption.decrypt(record.api_key)
    if record.base_url:
        settings["base_url"] = record.base_url
    return ProviderSpec.model_validate(settings)


def _with_provider_model(
    definition: Mapping[str, Any], provider: ApiProviderRecord | None
) -> dict[str, Any]:
    """The definition, with ``model: <provider>/<model_name>`` when it names a provider by id
    and sets no model of its own."""
    data = dict(definition)
    if provider is not None and data.get("model") is None:
        if not provider.model_name:
            raise CatalogError(
                f"provider '{provider.name}' has no model_name; set one, or set the agent's "
                "`model` to <provider>/<model>"
            )
        data["model"] = f"{provider.name}/{provider.model_name}"
    return data


def validate_definition(
    name: str,
    definition: Mapping[str, Any],
    providers: Mapping[str, ProviderEntry],
    *,
    provider: ApiProviderRecord | None = None,
    agents: Mapping[str, ModelSpec] | None = None,
) -> ModelSpec:
    """Validate an agent definition as ``liteagent.yaml`` would (the same specs), with workflow
    links checked against ``agents``.

    Raises:
        CatalogError: naming the field at fault (``agents.<name>.<field>: …``).
    """
    where = f"agents.{name}"
    try:
        data = _with_provider_model(definition, provider)
    except CatalogError as exc:
        raise CatalogError(f"{where}.provider_id: {exc.message}") from None
    spec = parse_entry(name, data, providers, where)
    linked = link_workflows({**(agents or {}), name: spec}, providers, API_SOURCE)
    return linked[name]


def merge_snapshot(
    base: Catalog, snapshot: CatalogSnapshot, encryption: EncryptionService
) -> RuntimeCatalog:
    """``base`` (the YAML catalog) plus the snapshot's providers and agents; YAML wins."""
    providers: dict[str, ProviderEntry] = dict(base.providers)
    by_id = {p.id: p for p in snapshot.providers}
    for record in snapshot.providers:
        if record.name in base.providers or not record.is_active:
            continue
        try:
            providers[record.name] = provider_entry(record, encryption)
        except (ConfigurationError, ValueError) as exc:  # e.g. the key rotated away
            logger.warning("runtime_provider_invalid", provider=record.name, error=str(exc))
    entries: dict[str, ModelSpec] = dict(base.entries)
    shadowed: list[str] = []
    invalid: dict[str, str] = {}
    added: dict[str, ModelSpec] = {}
    for agent in snapshot.agents:
        if agent.name in base.entries:
            shadowed.append(agent.name)
            continue
        provider = by_id.get(agent.provider_id) if agent.provider_id else None
        try:
            if agent.provider_id and (provider is None or not provider.is_active):
                raise CatalogError(
                    f"agents.{agent.name}.provider_id: the provider is deleted or inactive"
                )
            data = _with_provider_model(agent_definition(agent), provider)
            added[agent.name] = parse_entry(agent.name, data, providers, f"agents.{agent.name}")
        except (CatalogError, ValueError) as exc:
            invalid[agent.name] = exc.message if isinstance(exc, CatalogError) else str(exc)
    # workflows may name YAML agents and API agents; one that names a missing agent is left out
    plain = {n: spec for n, spec in added.items() if not isinstance(spec, WorkflowSpec)}
    served = {**entries, **plain}
    for name, spec in added.items():
        if name in plain:
            continue
        try:
            linked = link_workflows({**entries, **plain, name: spec}, providers, API_SOURCE)
            served[name] = linked[name]
        except CatalogError as exc:
            invalid[name] = exc.message
    catalog = Catalog(entries=served, source=base.source, providers=providers)
    return RuntimeCatalog(
        catalog=catalog,
        version=snapshot.version,
        runtime_names=frozenset(n for n in added if n in served),
        shadowed=tuple(shadowed),
        invalid=invalid,
    )


class RuntimeCatalogStore:
    """Reads the database's run-time catalog and merges it with the YAML one.

    Args:
        base: The catalog of ``liteagent.yaml``.
        repository: The management API's tables.
        encryption: Decrypts the providers' API keys.
    """

    def __init__(
        self, base: Catalog, repository: CatalogRepository, encryption: EncryptionService
    ) -> None:
        self.base = base
        self.repository = repository
        self.encryption = encryption

    async def version(self) -> int:
        """The database's catalog version (cheap: one row)."""
        return await self.repository.version()

    async def load(self) -> RuntimeCatalog:
        """The merged catalog at the database's current version."""
        snapshot = await self.repository.snapshot()
        return merge_snapshot(self.base, snapshot, self.encryption)
