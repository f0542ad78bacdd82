"""Load and validate ``liteagent.yaml``.

The file maps names to entries::

    models:
      assistant:
        kind: agent            # default
        description: A helpful assistant
        model: local/smollm2   # optional, else LITEAGENT_DEFAULT_MODEL
        system_prompt: You are a helpful assistant.

and may configure LLM providers and named fallback chains (see ``catalog.providers``)::

    providers:
      azure: {type: openai_compatible, base_url: ..., api_key: os.environ/AZURE_API_KEY}
      resilient: {fallbacks: [azure/gpt-4o, local/smollm2], strategy: priority}

Entries' models are resolved against that section here: a chain name becomes the chain, and a
model whose provider has a configuration becomes a one-model chain carrying it, so that each
spec holds everything ``create_llm`` needs.

Any problem fails loudly with the file, the entry and the field named, e.g.
``liteagent.yaml: models.assistant.system_prompt: Field required``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from liteagent.catalog.model_settings import errors_at, parse_providers, resolve_model
from liteagent.catalog.specs import MODEL_PREFIX, AgentSpec, ModelSpec
from liteagent.catalog.workflow_links import link_workflows
from liteagent.errors import AgentNotFoundError, CatalogError
from liteagent.llm.provider_specs import (
    ProviderEntry,
)

if TYPE_CHECKING:
    from liteagent.agents import Tool
    from liteagent.config import Settings
    from liteagent.workflows.agent_node import AgentProfile

_spec_adapter: TypeAdapter[ModelSpec] = TypeAdapter(ModelSpec)
_TOP_LEVEL_KEYS = {"models", "providers"}


@dataclass(frozen=True)
class Catalog:
    """The virtual models LiteAgent serves, by name."""

    entries: Mapping[str, ModelSpec] = field(default_factory=dict)
    source: str = "<memory>"
    providers: Mapping[str, ProviderEntry] = field(default_factory=dict)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def workflow_agents(self) -> dict[str, AgentSpec]:
        """The ``agent`` entries, by name: what workflow AGENT nodes may name."""
        return {s.name: s for s in self.entries.values() if isinstance(s, AgentSpec)}

    def agent_tools(self, agent: AgentProfile, settings: Settings) -> list[Tool]:
        """An agent entry's tools as a workflow runs them: an anonymous owner, notes stored in
        ``settings.database_url``."""
        from liteagent.agents.builtin_tools import ToolContext
        from liteagent.catalog.assembly import build_tools
        from liteagent.storage import NoteRepository, get_database

        spec = self.get(agent.name)
        if not isinstance(spec, AgentSpec):
            raise AgentNotFoundError(f"'{agent.name}' is not an agent entry of the catalog.")
        notes = NoteRepository(get_database(settings.database_url))
        return build_tools(spec, ToolContext(notes=notes))

    def model_names(self) -> list[str]:
        """Public names, ``liteagent/<name>``, in catalog order."""
        return [spec.model_name for spec in self.entries.values()]

    def get(self, model: str) -> ModelSpec:
        """Look up ``liteagent/<name>`` (or a bare ``<name>``).

        Raises:
            AgentNotFoundError: with the available names listed.
        """
        name = model.split("/", 1)[1] if model.startswith(MODEL_PREFIX) else model
        spec = self.entries.get(name)
        if spec is None:
            available = ", ".join(self.model_names()) or "none"
            raise AgentNotFoundError(f"Model '{model}' does not exist. Available: {available}.")
        return spec


def parse_catalog(data: Any, source: str = "<memory>") -> Catalog:
    """Validate already-parsed catalog data."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise CatalogError(f"{source}: the top level must be a mapping with a 'models' key.")
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise CatalogError(
            f"{source}: unknown top-level key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected {', '.join(sorted(_TOP_LEVEL_KEYS))}."
        )
    providers = parse_providers(data.get("providers"), source)
    models = data.get("models") or {}
    if not isinstance(models, Mapping):
        raise CatalogError(f"{source}: 'models' must map names to entries.")
    entries: dict[str, ModelSpec] = {}
    for name, raw in models.items():
        entries[str(name)] = parse_entry(str(name), raw, providers, f"{source}: models.{name}")
    entries = link_workflows(entries, providers, source)
    return Catalog(entries=entries, source=source, providers=providers)


def parse_entry(
    name: str, raw: Any, providers: Mapping[str, ProviderEntry], where: str
) -> ModelSpec:
    """Validate one entry (a ``models.<name>`` mapping of ``liteagent.yaml``, or an agent
    defined through the management API: one schema for both) and resolve its model.

    Raises:
        CatalogError: naming ``where`` and the field at fault.
    """
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: the entry must be a mapping of fields.")
    if "name" in raw:
        raise CatalogError(f"{where}.name: the name is the entry's key; remove this field.")
    if isinstance(raw.get("model"), Mapping) and {"name", "providers"} & set(raw["model"]):
        raise CatalogError(
            f"{where}.model: an inline chain takes fallbacks, strategy, retry and "
            "fallback_on_context_window; configure providers in the top-level providers "
            "section and name chains there."
        )
    try:
        spec = _spec_adapter.validate_python({"kind": "agent", **raw, "name": name})
    except ValidationError as exc:
        raise CatalogError(errors_at(where, exc)) from None
    return resolve_model(spec, providers, where)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file.

    Raises:
        CatalogError: naming the file, the entry and the field at fault.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(
            f"Catalog file {p} not found. Create it or point LITEAGENT_CATALOG at one."
        ) from None
    except OSError as exc:
        raise CatalogError(f"Cannot read catalog file {p}: {exc.strerror}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise CatalogError(f"{p}: YAML syntax error{where}: {problem}.") from None
    return parse_catalog(data, source=str(p))
