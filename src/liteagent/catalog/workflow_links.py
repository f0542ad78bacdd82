"""Link catalog workflows to what their AGENT nodes use: catalog agents and models.

A workflow's AGENT node may name a catalog agent (``agent_id: assistant``) to reuse its system
prompt, tools and model, and may set its own ``model:``. Both are checked when the catalog loads,
with errors that name the file, the entry, the node and the field, e.g.
``liteagent.yaml: models.triage.nodes.billing.agent_id: no agent 'biling' in the catalog``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from liteagent.catalog.model_settings import resolve_model
from liteagent.catalog.specs import AgentSpec, BaseSpec, ModelSpec, WorkflowSpec
from liteagent.errors import CatalogError
from liteagent.llm.provider_specs import ModelChainSpec, ProviderEntry
from liteagent.workflows import NodeType

__all__ = ["link_workflows"]


def link_workflows(
    entries: Mapping[str, ModelSpec], providers: Mapping[str, ProviderEntry], source: str
) -> dict[str, ModelSpec]:
    """Return ``entries`` with every workflow linked to its agents and node models.

    Raises:
        CatalogError: an ``agent_id`` names no catalog agent, or a node's model is unknown.
    """
    linked: dict[str, ModelSpec] = {}
    agent_names = sorted(n for n, s in entries.items() if isinstance(s, AgentSpec))
    for name, spec in entries.items():
        if not isinstance(spec, WorkflowSpec):
            linked[name] = spec
            continue
        agents: dict[str, AgentSpec] = {}
        models: dict[str, str | ModelChainSpec] = {}
        for node in spec.definition.nodes:
            if node.type is not NodeType.AGENT:
                continue
            where = f"{source}: models.{name}.nodes.{node.id}"
            agent_id = node.config.get("agent_id")
            if isinstance(agent_id, str) and agent_id:
                target = entries.get(agent_id)
                if not isinstance(target, AgentSpec):
                    known = ", ".join(agent_names) or "none"
                    what = "is not an agent" if target is not None else "is not in the catalog"
                    raise CatalogError(
                        f"{where}.agent_id: '{agent_id}' {what}; name one of the catalog's "
                        f"agents ({known}), or describe the agent in the node with 'purpose'."
                    )
                agents[agent_id] = target
            model = node.config.get("model")
            if isinstance(model, str) and model:
                try:
                    probe = BaseSpec(name="node", model=model)
                except ValidationError:
                    raise CatalogError(
                        f"{where}.model: '{model}' must be <provider>/<model> (e.g. "
                        "'local/smollm2') or the name of a fallback chain."
                    ) from None
                resolved = resolve_model(probe, providers, where).model  # type: ignore[arg-type]
                if resolved is not None:
                    models[node.id] = resolved
        linked[name] = spec.linked(agents, models)
    return linked
