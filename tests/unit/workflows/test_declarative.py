"""Workflows from plain data (the future YAML catalog kind): same graph, precise errors."""

from __future__ import annotations

import json

import pytest
import yaml

from liteagent.workflows import (
    WorkflowBuilder,
    WorkflowEngine,
    WorkflowStatus,
    WorkflowValidationError,
    workflow_from_dict,
)
from tests.unit.workflows.conftest import DictLLMClient

TRIAGE_YAML = """
name: Triage
description: Classify a request and route it.
nodes:
  start: {type: start}
  classify:
    type: agent
    purpose: "Answer with one word: billing or technical."
    output_variable: category
  route: {type: condition, condition: "'billing' in category"}
  billing: {type: agent, purpose: Billing expert, output_variable: answer}
  technical: {type: agent, purpose: Technical expert, output_variable: answer}
  end: {type: end, output_variable: answer}
edges:
  - {from: start, to: classify}
  - {from: classify, to: route}
  - {from: route, to: billing, condition: condition_result}
  - {from: route, to: technical}
  - {from: billing, to: end}
  - {from: technical, to: end}
"""


def builder_version():  # type: ignore[no-untyped-def]
    return (
        WorkflowBuilder("triage", "Triage")
        .with_metadata(description="Classify a request and route it.")
        .add_start()
        .add_agent("classify", purpose="Answer with one word: billing or technical.",
                   output_variable="category")
        .add_condition("route", "'billing' in category")
        .add_agent("billing", purpose="Billing expert", output_variable="answer")
        .add_agent("technical", purpose="Technical expert", output_variable="answer")
        .add_end(output_variable="answer")
        .connect("start", "classify").connect("classify", "route")
        .connect("route", "billing", "condition_result").connect("route", "technical")
        .connect("billing", "end").connect("technical", "end")
        .build()
    )  # fmt: skip


def test_yaml_builds_the_same_graph_as_the_builder() -> None:
    from_yaml = workflow_from_dict(yaml.safe_load(TRIAGE_YAML), workflow_id="triage")
    built = builder_version()
    # The builder spells out add_agent's defaults; compare the effective graph.
    assert [(n.id, n.type) for n in from_yaml.nodes] == [(n.id, n.type) for n in built.nodes]
    assert from_yaml.edges == built.edges
    assert from_yaml.metadata == built.metadata
    assert from_yaml.get_node("route").config == built.get_node("route").config  # type: ignore[union-attr]


def test_to_dict_output_is_accepted_back() -> None:
    built = builder_version()
    again = workflow_from_dict(json.loads(json.dumps(built.to_dict())))
    assert again == built


async def test_declared_workflow_runs() -> None:
    definition = workflow_from_dict(yaml.safe_load(TRIAGE_YAML), workflow_id="triage")
    llm = DictLLMClient(lambda m: "billing" if "one word" in m[0]["content"] else m[0]["content"])
    engine = WorkflowEngine()
    state = await engine.run_to_completion(
        definition, engine.launch(definition, {"input": "I was charged twice"}), {"llm_client": llm}
    )
    assert state.status is WorkflowStatus.COMPLETED
    assert state.history == ["start", "classify", "route", "billing", "end"]
    assert state.result == "Billing expert"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"nodes": {}}, "field 'id' is required"),
        ({"id": "w", "nodez": []}, "unknown top-level field(s): nodez"),
        ({"id": "w"}, "field 'nodes' is required"),
        ({"id": "w", "nodes": [{"type": "start"}]}, "nodes[0]: field 'id' is required"),
        ({"id": "w", "nodes": {"a": {"type": "robot"}}}, "nodes.a: field 'type' must be one of"),
        ({"id": "w", "nodes": {"a": "start"}}, "nodes.a: must be a mapping"),
        ({"id": "w", "nodes": {}, "edges": [{"from": "a"}]}, "edges[0]: field 'to' is required"),
        (
            {"id": "w", "nodes": {}, "edges": [{"from": "a", "to": "b", "when": "x"}]},
            "edges[0]: unknown field(s) when",
        ),
        ({"id": "w", "nodes": {}, "edges": "a->b"}, "field 'edges' must be a list"),
    ],
)
def test_structural_errors_name_the_place(data: dict, expected: str) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        workflow_from_dict(data)
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_graph_and_field_errors_name_node_and_field() -> None:
    data = yaml.safe_load(TRIAGE_YAML)
    data["nodes"]["classify"]["temperature"] = "hot"
    data["nodes"]["route"]["condition"] = "category =="
    data["nodes"]["billing"]["purpos"] = "typo"
    data["edges"].append({"from": "technical", "to": "nowhere"})
    with pytest.raises(WorkflowValidationError) as info:
        workflow_from_dict(data, workflow_id="triage")
    problems = "\n".join(info.value.problems)
    assert "node 'classify' (agent): field 'temperature'" in problems
    assert "node 'route' (condition): field 'condition'" in problems
    assert "expression ended early" in problems
    assert "node 'billing' (agent): field 'purpos': Extra inputs are not permitted" in problems
    assert "edge 'technical' -> 'nowhere': target 'nowhere' is not a node" in problems
