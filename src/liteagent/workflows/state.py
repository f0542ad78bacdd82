"""The workflow graph (``WorkflowDefinition``) and the state of one run (``WorkflowState``).

A ``WorkflowState`` is plain data: ``to_dict``/``from_dict`` round-trip it through JSON exactly,
and ``compute_hash`` gives the same digest for equal states in any process, so a run can be
saved after every step and resumed anywhere.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from liteagent.workflows.types import (
    Edge,
    NodeDefinition,
    NodeExecution,
    NodeStatus,
    NodeType,
    WorkflowStatus,
    utcnow,
)

__all__ = ["WorkflowDefinition", "WorkflowState"]


@dataclass
class WorkflowDefinition:
    """A workflow graph: nodes, directed edges and free-form metadata.

    Build one with ``WorkflowBuilder`` or ``workflow_from_dict``; both validate the graph.
    """

    id: str
    name: str
    nodes: list[NodeDefinition] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def get_node(self, node_id: str) -> NodeDefinition | None:
        """The node called ``node_id``, or ``None``."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    def get_outgoing_edges(self, node_id: str) -> list[Edge]:
        """Edges leaving ``node_id``, in definition order."""
        return [e for e in self.edges if e.source == node_id]

    def get_incoming_edges(self, node_id: str) -> list[Edge]:
        """Edges entering ``node_id``, in definition order."""
        return [e for e in self.edges if e.target == node_id]

    def get_start_node(self) -> NodeDefinition | None:
        """The START node (a valid definition has exactly one)."""
        for node in self.nodes:
            if node.type is NodeType.START:
                return node
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``workflow_from_dict`` and ``from_dict`` accept it."""
        return {
            "id": self.id,
            "name": self.name,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowDefinition:
        """Inverse of ``to_dict`` without validation (use ``workflow_from_dict`` for input)."""
        return cls(
            id=data["id"],
            name=data["name"],
            nodes=[NodeDefinition.from_dict(n) for n in data.get("nodes", [])],
            edges=[Edge.from_dict(e) for e in data.get("edges", [])],
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass
class WorkflowState:
    """The state of one workflow execution.

    Attributes:
        workflow_id: Id of the ``WorkflowDefinition`` this run executes.
        execution_id: Unique id of this run.
        status: Where the run is in its lifecycle.
        current_nodes: Nodes ready to execute in the next step (run concurrently).
        node_executions: The latest execution of every node that ran, by node id.
        variables: The run's data; nodes read their inputs here and write their outputs.
        waiting: Nodes suspended until a human answers or an event arrives
            (node id → ``"human"`` or ``"event:<name>"``).
        merge_arrivals: For each MERGE node, the branches that have reached it so far.
        loop_counters: For each LOOP node, how many times its body has been entered.
        history: Node ids in the order their executions finished.
        usage: Token usage summed over every AGENT node execution.
        step_count: Steps taken so far.
        error: Why the run failed, when ``status`` is ``FAILED``.
    """

    workflow_id: str
    execution_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: WorkflowStatus = WorkflowStatus.PENDING
    current_nodes: list[str] = field(default_factory=list)
    node_executions: dict[str, NodeExecution] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)
    merge_arrivals: dict[str, list[str]] = field(default_factory=dict)
    loop_counters: dict[str, int] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    step_count: int = 0
    error: str | None = None

    def get_node_execution(self, node_id: str) -> NodeExecution:
        """The execution record of ``node_id`` (a ``PENDING`` one if it never ran)."""
        return self.node_executions.get(node_id) or NodeExecution(node_id, NodeStatus.PENDING)

    def set_variable(self, name: str, value: Any) -> None:
        """Set a workflow variable (values must be JSON-serialisable to persist)."""
        self.variables[name] = value

    def get_variable(self, name: str, default: Any = None) -> Any:
        """A workflow variable, or ``default``."""
        return self.variables.get(name, default)

    @property
    def is_finished(self) -> bool:
        """True once the run has completed or failed."""
        return self.status in (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED)

    @property
    def result(self) -> Any:
        """The ``result`` reported by the END node that finished the run (``None`` before)."""
        for node_id in reversed(self.history):
            execution = self.node_executions.get(node_id)
            if (
                execution is not None
                and "result" in execution.output_data
                and (execution.output_data.get("end") is True)
            ):
                return execution.output_data["result"]
        return None

    def copy(self) -> WorkflowState:
        """A deep copy (reducers work on copies and never change their input)."""
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``from_dict`` restores an equal state."""
        return {
            "workflow_id": self.workflow_id,
            "execution_id": self.execution_id,
            "status": self.status.value,
            "current_nodes": list(self.current_nodes),
            "node_executions": {k: v.to_dict() for k, v in self.node_executions.items()},
            "variables": copy.deepcopy(self.variables),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "metadata": copy.deepcopy(self.metadata),
            "waiting": dict(self.waiting),
            "merge_arrivals": {k: list(v) for k, v in self.merge_arrivals.items()},
            "loop_counters": dict(self.loop_counters),
            "history": list(self.history),
            "usage": dict(self.usage),
            "step_count": self.step_count,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowState:
        """Restore a state saved with ``to_dict`` (e.g. after ``json.loads``)."""
        return cls(
            workflow_id=data["workflow_id"],
            execution_id=data["execution_id"],
            status=WorkflowStatus(data["status"]),
            current_nodes=list(data.get("current_nodes", [])),
            node_executions={
                k: NodeExecution.from_dict(v) for k, v in data.get("node_executions", {}).items()
            },
            variables=copy.deepcopy(data.get("variables", {})),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            metadata=copy.deepcopy(data.get("metadata", {})),
            waiting=dict(data.get("waiting", {})),
            merge_arrivals={k: list(v) for k, v in data.get("merge_arrivals", {}).items()},
            loop_counters={k: int(v) for k, v in data.get("loop_counters", {}).items()},
            history=list(data.get("history", [])),
            usage={k: int(v) for k, v in data.get("usage", {}).items()},
            step_count=int(data.get("step_count", 0)),
            error=data.get("error"),
        )

    def to_json(self) -> str:
        """``to_dict`` as ASCII-safe JSON (raises ``TypeError`` for non-JSON variables)."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> WorkflowState:
        """Inverse of ``to_json``."""
        return cls.from_dict(json.loads(text))

    def compute_hash(self) -> str:
        """SHA-256 of the canonical JSON form: equal states hash equally in any process."""
        canonical = json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
