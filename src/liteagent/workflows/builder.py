"""Fluent construction of workflows, validated on ``build()``.

``build()`` checks every node's config (fields, expressions, templates) and the graph: exactly
one START node, every edge between existing nodes, every node reachable from START, an END node
reachable, no dead ends, at most one unconditional edge out of an ordinary node, and every cycle
bounded by a LOOP node. All problems are reported at once in one ``WorkflowValidationError``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from liteagent.workflows.errors import ExpressionError, WorkflowValidationError
from liteagent.workflows.extensions import condition_registry
from liteagent.workflows.schema import node_config_problems
from liteagent.workflows.state import WorkflowDefinition
from liteagent.workflows.types import Edge, NodeDefinition, NodeType

__all__ = ["WorkflowBuilder", "validate_definition"]

_NODE_ID: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")


def _clean(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if v is not None}


class WorkflowBuilder:
    """Builds a ``WorkflowDefinition`` step by step::

    definition = (WorkflowBuilder("triage", "Triage")
        .add_start()
        .add_condition("check", "value > 10")
        .add_agent("high", purpose="Handle high values")
        .add_end()
        .connect("start", "check")
        .connect("check", "high", "condition_result == true")
        .connect("check", "end")
        .connect("high", "end")
        .build())
    """

    def __init__(self, workflow_id: str, name: str) -> None:
        self.workflow_id = workflow_id
        self.name = name
        self._nodes: list[NodeDefinition] = []
        self._edges: list[Edge] = []
        self._metadata: dict[str, Any] = {}

    def add_node(
        self, node_id: str, node_type: NodeType | str, config: dict[str, Any] | None = None
    ) -> WorkflowBuilder:
        """Add a node of any type with a raw ``config`` (checked on ``build()``)."""
        try:
            kind = NodeType(node_type)
        except ValueError:
            known = ", ".join(t.value for t in NodeType)
            raise WorkflowValidationError(
                self.workflow_id, [f"node '{node_id}': unknown type '{node_type}' (known: {known})"]
            ) from None
        self._nodes.append(NodeDefinition(node_id, kind, dict(config or {})))
        return self

    def add_start(self, node_id: str = "start") -> WorkflowBuilder:
        """Add the START node."""
        return self.add_node(node_id, NodeType.START)

    def add_end(self, node_id: str = "end", output_variable: str | None = None) -> WorkflowBuilder:
        """Add an END node; ``output_variable`` (default ``output``) becomes the run's result."""
        return self.add_node(node_id, NodeType.END, _clean({"output_variable": output_variable}))

    def add_agent(
        self,
        node_id: str,
        agent_id: str | None = None,
        purpose: str = "",
        input_variable: str = "input",
        output_variable: str = "output",
        **config: Any,
    ) -> WorkflowBuilder:
        """Add an AGENT node answering ``input_variable`` into ``output_variable``."""
        return self.add_node(
            node_id,
            NodeType.AGENT,
            _clean(
                {
                    "agent_id": agent_id,
                    "purpose": purpose,
                    "input_variable": input_variable,
                    "output_variable": output_variable,
                    **config,
                }
            ),
        )

    def add_condition(self, node_id: str, condition: str) -> WorkflowBuilder:
        """Add a CONDITION node; its ``condition_result`` can be tested on outgoing edges."""
        return self.add_node(node_id, NodeType.CONDITION, {"condition": condition})

    def add_transform(
        self,
        node_id: str,
        transform: str,
        input_variable: str | None,
        output_variable: str,
        template: str | None = None,
    ) -> WorkflowBuilder:
        """Add a TRANSFORM node (built-in transform name or a ``transformer_registry`` name)."""
        return self.add_node(
            node_id,
            NodeType.TRANSFORM,
            _clean(
                {
                    "transform": transform,
                    "input_variable": input_variable,
                    "output_variable": output_variable,
                    "template": template,
                }
            ),
        )

    def add_human(
        self,
        node_id: str,
        prompt: str,
        options: list[str] | None = None,
        output_variable: str | None = None,
    ) -> WorkflowBuilder:
        """Add a HUMAN node that asks ``prompt`` and waits (answers limited to ``options``)."""
        config = _clean({"prompt": prompt, "options": options, "output_variable": output_variable})
        return self.add_node(node_id, NodeType.HUMAN, config)

    def add_parallel(self, node_id: str) -> WorkflowBuilder:
        """Add a PARALLEL node: all its outgoing edges run concurrently."""
        return self.add_node(node_id, NodeType.PARALLEL)

    def add_merge(self, node_id: str, output_variable: str | None = None) -> WorkflowBuilder:
        """Add a MERGE node that waits for the branches leading to it."""
        return self.add_node(node_id, NodeType.MERGE, _clean({"output_variable": output_variable}))

    def add_loop(
        self,
        node_id: str,
        body: str,
        condition: str | None = None,
        max_iterations: int = 10,
    ) -> WorkflowBuilder:
        """Add a LOOP node entering ``body`` while ``condition`` holds, at most
        ``max_iterations`` times; connect it to ``body`` and to where it goes on exit."""
        config = _clean({"body": body, "condition": condition, "max_iterations": max_iterations})
        return self.add_node(node_id, NodeType.LOOP, config)

    def add_wait(
        self,
        node_id: str,
        seconds: float | None = None,
        event: str | None = None,
        output_variable: str | None = None,
    ) -> WorkflowBuilder:
        """Add a WAIT node: sleep ``seconds``, or pause until ``event`` is sent."""
        config = _clean({"seconds": seconds, "event": event, "output_variable": output_variable})
        return self.add_node(node_id, NodeType.WAIT, config)

    def add_custom(self, node_id: str, handler: str, **config: Any) -> WorkflowBuilder:
        """Add a CUSTOM node run by the handler registered as ``handler``."""
        return self.add_node(node_id, NodeType.CUSTOM, {"handler": handler, **config})

    def connect(self, source: str, target: str, condition: str | None = None) -> WorkflowBuilder:
        """Add an edge, taken only when ``condition`` (if any) holds."""
        self._edges.append(Edge(source, target, condition))
        return self

    def with_metadata(self, **metadata: Any) -> WorkflowBuilder:
        """Attach free-form metadata (description, version…)."""
        self._metadata.update(metadata)
        return self

    def build(self) -> WorkflowDefinition:
        """Validate and return the definition; raises ``WorkflowValidationError``."""
        definition = WorkflowDefinition(
            id=self.workflow_id,
            name=self.name,
            nodes=[NodeDefinition(n.id, n.type, dict(n.config)) for n in self._nodes],
            edges=[Edge(e.source, e.target, e.condition) for e in self._edges],
            metadata=dict(self._metadata),
        )
        validate_definition(definition)
        return definition


def _reachable(start: str, successors: dict[str, list[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in successors.get(stack.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _find_cycle(nodes: list[str], successors: dict[str, list[str]]) -> list[str] | None:
    """A cycle among ``nodes`` (iterative DFS), as the list of its nodes, or None."""
    color = dict.fromkeys(nodes, 0)
    for root in nodes:
        if color[root]:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                color[node] = 1
                path.append(node)
            succ = [s for s in successors.get(node, []) if s in color]
            if index < len(succ):
                stack.append((node, index + 1))
                nxt = succ[index]
                if color[nxt] == 1:
                    return path[path.index(nxt) :]
                if color[nxt] == 0:
                    stack.append((nxt, 0))
            else:
                color[node] = 2
                path.pop()
    return None


def validate_definition(definition: WorkflowDefinition) -> None:
    """Raise ``WorkflowValidationError`` listing every problem in ``definition``."""
    problems: list[str] = []
    ids: dict[str, NodeDefinition] = {}
    for node in definition.nodes:
        if not isinstance(node.id, str) or not _NODE_ID.match(node.id):
            problems.append(
                f"node id {node.id!r} is invalid: use letters, digits, '_' and '-', starting "
                "with a letter or '_' (at most 128 characters)"
            )
            continue
        if node.id in ids:
            problems.append(f"node '{node.id}' is defined more than once")
            continue
        ids[node.id] = node
        problems.extend(node_config_problems(node))

    starts = [n.id for n in definition.nodes if n.type is NodeType.START]
    if not starts:
        problems.append("there is no START node (add_start())")
    elif len(starts) > 1:
        problems.append(f"there must be exactly one START node, found: {', '.join(starts)}")
    if not any(n.type is NodeType.END for n in definition.nodes):
        problems.append("there is no END node (add_end())")

    successors: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in definition.edges:
        label = f"edge '{edge.source}' -> '{edge.target}'"
        bad = False
        for end, role in ((edge.source, "source"), (edge.target, "target")):
            if end not in ids:
                problems.append(f"{label}: {role} '{end}' is not a node")
                bad = True
        if edge.condition is not None:
            try:
                condition_registry.check(edge.condition)
            except ExpressionError as exc:
                problems.append(f"{label}: condition is invalid: {exc.message}")
        if bad:
            continue
        if ids[edge.target].type is NodeType.START:
            problems.append(f"{label}: the START node cannot have incoming edges")
        if ids[edge.source].type is NodeType.END:
            problems.append(f"{label}: an END node cannot have outgoing edges")
        if edge.target in successors[edge.source]:
            problems.append(f"{label} is defined more than once")
        successors[edge.source].append(edge.target)

    for node in ids.values():
        out = [e for e in definition.edges if e.source == node.id and e.target in ids]
        if node.type is not NodeType.END and not out:
            problems.append(f"node '{node.id}' has no outgoing edge (only END nodes may end)")
        if node.type not in (NodeType.PARALLEL, NodeType.LOOP):
            plain = [e.target for e in out if e.condition is None]
            if len(plain) > 1:
                problems.append(
                    f"node '{node.id}' has {len(plain)} unconditional edges ({', '.join(plain)}); "
                    "give them conditions, or fan out with a PARALLEL node"
                )
        if node.type is NodeType.LOOP:
            body = node.config.get("body")
            if isinstance(body, str) and body not in [e.target for e in out]:
                problems.append(f"LOOP node '{node.id}': body '{body}' is not connected to it")
            if len(out) < 2:
                problems.append(
                    f"LOOP node '{node.id}' needs an edge to its body and one to leave the loop"
                )
        if node.type is NodeType.MERGE and not any(e.target == node.id for e in definition.edges):
            problems.append(f"MERGE node '{node.id}' has no incoming edges")

    if len(starts) == 1 and starts[0] in ids:
        reachable = _reachable(starts[0], successors)
        unreachable = [n for n in ids if n not in reachable]
        if unreachable:
            problems.append(f"nodes not reachable from '{starts[0]}': {', '.join(unreachable)}")
        if not any(ids[n].type is NodeType.END for n in reachable) and any(
            n.type is NodeType.END for n in definition.nodes
        ):
            problems.append(f"no END node is reachable from '{starts[0]}'")

    # Every cycle must enter some LOOP node's body: drop those edges and look for a cycle.
    unbounded = {
        n: [
            s for s in succ if not (ids[n].type is NodeType.LOOP and ids[n].config.get("body") == s)
        ]
        for n, succ in successors.items()
    }
    cycle = _find_cycle(list(ids), unbounded)
    if cycle is not None:
        loop = " -> ".join([*cycle, cycle[0]])
        problems.append(
            f"cycle {loop} does not go through a LOOP node's body; bound it with "
            "add_loop(node_id, body=..., max_iterations=N)"
        )
    if problems:
        raise WorkflowValidationError(definition.id, problems)
