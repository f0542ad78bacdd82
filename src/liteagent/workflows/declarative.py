"""Declarative workflows: build a ``WorkflowDefinition`` from plain data (e.g. parsed YAML).

The accepted shape is the one ``WorkflowDefinition.to_dict()`` produces, plus friendlier
spellings::

    id: triage                      # optional when the caller passes workflow_id
    name: Triage                    # optional, defaults to the id
    description: Routes requests    # optional, kept in metadata
    nodes:                          # a list of {id, type, ...} or a mapping id -> {type, ...}
      start: {type: start}
      classify: {type: agent, purpose: "Classify the request", output_variable: category}
      end: {type: end, output_variable: answer}
    edges:                          # source/target or from/to, optional condition
      - {from: start, to: classify}
      - {from: classify, to: end}

Node fields may sit beside ``type`` or inside ``config``. The result goes through the same
validation as ``WorkflowBuilder.build()``; every error names the node, edge and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liteagent.workflows.builder import WorkflowBuilder
from liteagent.workflows.errors import WorkflowValidationError
from liteagent.workflows.state import WorkflowDefinition
from liteagent.workflows.types import NodeType

__all__ = ["workflow_from_dict"]

_TOP_LEVEL = frozenset({"id", "name", "description", "metadata", "nodes", "edges", "kind"})
_EDGE_KEYS = frozenset({"source", "target", "from", "to", "condition"})


def _node_entries(raw: Any, problems: list[str]) -> list[tuple[str, Any, str]]:
    if isinstance(raw, Mapping):
        return [(str(k), v, f"nodes.{k}") for k, v in raw.items()]
    if isinstance(raw, list):
        entries = []
        for i, item in enumerate(raw):
            node_id = item.get("id") if isinstance(item, Mapping) else None
            if not isinstance(node_id, str):
                problems.append(f"nodes[{i}]: field 'id' is required and must be a string")
                continue
            entries.append((node_id, item, f"nodes[{i}] ('{node_id}')"))
        return entries
    problems.append("field 'nodes' must be a list of nodes or a mapping of id to node")
    return []


def _edge(raw: Any, where: str, problems: list[str]) -> tuple[str, str, str | None] | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping with 'from' and 'to'")
        return None
    unknown = sorted(set(map(str, raw)) - _EDGE_KEYS)
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    source = raw.get("source", raw.get("from"))
    target = raw.get("target", raw.get("to"))
    condition = raw.get("condition")
    ok = True
    for value, name in ((source, "from"), (target, "to")):
        if not isinstance(value, str):
            problems.append(f"{where}: field '{name}' is required and must be a node id")
            ok = False
    if condition is not None and not isinstance(condition, str):
        problems.append(f"{where}: field 'condition' must be a string")
        ok = False
    return (str(source), str(target), condition) if ok else None


def workflow_from_dict(
    data: Mapping[str, Any], *, workflow_id: str | None = None
) -> WorkflowDefinition:
    """Build and validate a workflow from plain data (see the module docs for the shape).

    Args:
        data: The workflow, e.g. one entry of a YAML catalog.
        workflow_id: Id to use when ``data`` has none (e.g. the catalog entry's name).

    Raises:
        WorkflowValidationError: listing every problem, each naming node/edge and field.
    """
    if not isinstance(data, Mapping):
        raise WorkflowValidationError(workflow_id or "?", ["a workflow must be a mapping"])
    wf_id = data.get("id", workflow_id)
    problems: list[str] = []
    if not isinstance(wf_id, str) or not wf_id:
        problems.append("field 'id' is required and must be a string")
        wf_id = workflow_id or "?"
    unknown = sorted(set(map(str, data)) - _TOP_LEVEL)
    if unknown:
        problems.append(f"unknown top-level field(s): {', '.join(unknown)}")
    name = data.get("name", wf_id)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        problems.append("field 'metadata' must be a mapping")
        metadata = {}
    builder = WorkflowBuilder(str(wf_id), str(name)).with_metadata(**dict(metadata))
    if isinstance(data.get("description"), str):
        builder.with_metadata(description=data["description"])

    if "nodes" not in data:
        problems.append("field 'nodes' is required")
    for node_id, raw, where in _node_entries(data.get("nodes", []), problems):
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be a mapping with a 'type'")
            continue
        node_type = raw.get("type")
        try:
            kind = NodeType(str(node_type))
        except ValueError:
            known = ", ".join(t.value for t in NodeType)
            problems.append(f"{where}: field 'type' must be one of {known}, not {node_type!r}")
            continue
        config = dict(raw.get("config") or {})
        if "config" in raw and not isinstance(raw.get("config"), Mapping):
            problems.append(f"{where}: field 'config' must be a mapping")
            continue
        config.update({k: v for k, v in raw.items() if k not in ("id", "type", "config")})
        builder.add_node(node_id, kind, config)

    raw_edges = data.get("edges", [])
    if not isinstance(raw_edges, list):
        problems.append("field 'edges' must be a list")
        raw_edges = []
    for i, raw_edge in enumerate(raw_edges):
        edge = _edge(raw_edge, f"edges[{i}]", problems)
        if edge is not None:
            builder.connect(*edge)

    if problems:
        raise WorkflowValidationError(str(wf_id), problems)
    return builder.build()
