"""Plain data types of the workflow graph: node and edge definitions, executions, events.

Everything here is serialisable to JSON with ``to_dict`` and back with ``from_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Edge",
    "NodeDefinition",
    "NodeExecution",
    "NodeStatus",
    "NodeType",
    "WorkflowEvent",
    "WorkflowStatus",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def _dt_to_str(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt_from_str(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


class NodeType(StrEnum):
    """Kinds of workflow nodes. Values are the lower-case names used by hooks and YAML."""

    START = "start"
    END = "end"
    AGENT = "agent"
    CONDITION = "condition"
    PARALLEL = "parallel"
    MERGE = "merge"
    LOOP = "loop"
    HUMAN = "human"
    TRANSFORM = "transform"
    WAIT = "wait"
    CUSTOM = "custom"


class WorkflowStatus(StrEnum):
    """Lifecycle of one workflow execution."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING_HUMAN = "waiting_human"
    WAITING_EVENT = "waiting_event"
    COMPLETED = "completed"
    FAILED = "failed"


class NodeStatus(StrEnum):
    """Lifecycle of one node execution (``RUNNING`` also while waiting for a human/event)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class Edge:
    """A directed edge; ``condition`` (an expression) must hold for the edge to be taken."""

    source: str
    target: str
    condition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "condition": self.condition}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Edge:
        return cls(data["source"], data["target"], data.get("condition"))


@dataclass
class NodeDefinition:
    """One node of a workflow: its id, type and type-specific ``config``."""

    id: str
    type: NodeType
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type.value, "config": dict(self.config)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeDefinition:
        return cls(data["id"], NodeType(data["type"]), dict(data.get("config") or {}))


@dataclass
class NodeExecution:
    """The latest execution of one node (``runs`` counts executions, e.g. inside loops)."""

    node_id: str
    status: NodeStatus = NodeStatus.PENDING
    started_at: datetime | None = None
    completed_at: datetime | None = None
    input_data: dict[str, Any] = field(default_factory=dict)
    output_data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    runs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "status": self.status.value,
            "started_at": _dt_to_str(self.started_at),
            "completed_at": _dt_to_str(self.completed_at),
            "input_data": self.input_data,
            "output_data": self.output_data,
            "error": self.error,
            "runs": self.runs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeExecution:
        return cls(
            node_id=data["node_id"],
            status=NodeStatus(data["status"]),
            started_at=_dt_from_str(data.get("started_at")),
            completed_at=_dt_from_str(data.get("completed_at")),
            input_data=dict(data.get("input_data") or {}),
            output_data=dict(data.get("output_data") or {}),
            error=data.get("error"),
            runs=int(data.get("runs", 0)),
        )


@dataclass
class WorkflowEvent:
    """Something that happens to a workflow execution, fed to ``WorkflowReducer.reduce``.

    ``event_type`` is one of ``start``, ``step``, ``human_response``, ``external_event``,
    ``pause`` and ``resume`` (see the reducer for the ``data`` each one carries).
    """

    event_type: str
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=utcnow)
