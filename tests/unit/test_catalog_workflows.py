"""The ``workflow`` catalog kind: graphs checked at load; errors name file, entry, node, field."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from liteagent.catalog import load_catalog, parse_catalog
from liteagent.catalog.specs import WorkflowSpec
from liteagent.errors import CatalogError
from liteagent.llm.provider_specs import ModelChainSpec
from liteagent.workflows import NodeType

ROOT = Path(__file__).resolve().parents[2]


def flow(**nodes: Any) -> dict[str, Any]:
    graph = {"start": {"type": "start"}, **nodes, "end": {"type": "end", "output_variable": "a"}}
    names = list(graph)
    edges = [{"from": a, "to": b} for a, b in itertools.pairwise(names)]
    return {"kind": "workflow", "nodes": graph, "edges": edges}


def load(models: dict[str, Any], **extra: Any) -> Any:
    return parse_catalog({"models": models, **extra}, source="liteagent.yaml")


def test_shipped_triage_is_a_valid_workflow_model() -> None:
    catalog = load_catalog(ROOT / "liteagent.yaml")
    spec = catalog.get("liteagent/triage")
    assert isinstance(spec, WorkflowSpec)
    assert "liteagent/triage" in catalog.model_names()
    types = {n.id: n.type for n in spec.definition.nodes}
    assert types["confirm"] is NodeType.HUMAN
    assert types["billing_desk"] is types["tech_support"] is NodeType.AGENT
    assert spec.definition.metadata["description"].startswith("Sorts a support request")


def test_agent_ids_and_node_models_are_linked_at_load() -> None:
    catalog = load(
        {
            "helper": {"system_prompt": "Help.", "tools": ["calculator"]},
            "flow": flow(
                a={"type": "agent", "agent_id": "helper", "output_variable": "a"},
                b={"type": "agent", "model": "fast", "output_variable": "a"},
            ),
        },
        providers={"fast": {"fallbacks": ["openai/gpt-4o-mini", "local/smollm2"]}},
    )
    spec = catalog.get("flow")
    assert isinstance(spec, WorkflowSpec)
    assert spec.agents["helper"].system_prompt == "Help."
    chain = spec.node_models["b"]
    assert isinstance(chain, ModelChainSpec)
    assert [t.model for t in chain.fallbacks] == ["openai/gpt-4o-mini", "local/smollm2"]
    assert spec.definition.get_node("a") is not None  # the graph survives the linking copy


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            flow(a={"type": "agent", "temperature": 5}),
            "liteagent.yaml: models.flow: node 'a' (agent): field 'temperature': "
            "Input should be less than or equal to 2",
        ),
        (
            flow(a={"type": "agnet"}),
            "liteagent.yaml: models.flow: nodes.a: field 'type' must be one of",
        ),
        (
            flow(a={"type": "condition", "condition": "x.__class__"}),
            "liteagent.yaml: models.flow: node 'a' (condition): field 'condition'",
        ),
        (
            {**flow(), "edges": [{"from": "start", "to": "nowhere"}]},
            "liteagent.yaml: models.flow: edge 'start' -> 'nowhere'",
        ),
        (
            flow(a={"type": "agent", "agent_id": "asistant"}),
            "liteagent.yaml: models.flow.nodes.a.agent_id: 'asistant' is not in the catalog; "
            "name one of the catalog's agents (helper)",
        ),
        (
            flow(a={"type": "agent", "agent_id": "other"}),
            "liteagent.yaml: models.flow.nodes.a.agent_id: 'other' is not an agent",
        ),
        (
            flow(a={"type": "agent", "model": "olama/llama3"}),
            "liteagent.yaml: models.flow.nodes.a.model: unknown provider 'olama'",
        ),
        (
            flow(a={"type": "agent", "model": "/llama3"}),
            "liteagent.yaml: models.flow.nodes.a.model: '/llama3' must be <provider>/<model>",
        ),
        (
            flow(a={"type": "wait", "event": "paid"}),
            "liteagent.yaml: models.flow: node 'a' (wait): field 'event': a chat cannot send",
        ),
        (
            {**flow(), "max_steps": 0},
            "liteagent.yaml: models.flow.max_steps: Input should be greater than or equal to 1",
        ),
    ],
)
def test_errors_name_the_file_entry_node_and_field(entry: dict[str, Any], message: str) -> None:
    other = flow()
    with pytest.raises(CatalogError) as info:
        load({"helper": {"system_prompt": "Help."}, "other": other, "flow": entry})
    assert message in str(info.value)


def test_a_workflow_file_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "liteagent.yaml"
    path.write_text(yaml.safe_dump({"models": {"flow": {**flow(), "description": "A flow."}}}))
    spec = load_catalog(path).get("liteagent/flow")
    assert spec.kind == "workflow" and spec.description == "A flow."
