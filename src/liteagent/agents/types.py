"""Plain data types of the agent engine: statuses, steps, tool definitions, human requests.

Everything here is serialisable to JSON (``to_dict`` / ``from_dict``) so that a run's state can be
stored, resumed on another process and hashed. Nothing here performs I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

JSONValue = Any
"""A value made of dicts with string keys, lists, strings, finite numbers, bools and None."""


class AgentStatus(StrEnum):
    """Where a run is.

    ``IDLE`` → ``RUNNING`` → ``COMPLETED`` | ``FAILED`` | ``WAITING_HUMAN`` (a tool needs approval
    or the agent asked a question) | ``PAUSED`` (paused by its owner) | ``ABORTED`` (stopped by its
    owner or the human). ``WAITING_HUMAN`` and ``PAUSED`` go back to ``RUNNING``.
    """

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING_HUMAN = "waiting_human"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def is_terminal(self) -> bool:
        """True for statuses a run never leaves."""
        return self in (AgentStatus.COMPLETED, AgentStatus.FAILED, AgentStatus.ABORTED)


class StepType(StrEnum):
    """The kinds of event a run's thread is made of."""

    USER_MESSAGE = "user_message"
    ASSISTANT_MESSAGE = "assistant_message"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    HUMAN_REQUEST = "human_request"
    HUMAN_RESPONSE = "human_response"
    ERROR = "error"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def to_json_value(value: Any) -> JSONValue:
    """Return ``value`` as plain JSON data (tuples become lists, unknown objects strings).

    Non-finite floats become strings, so that a state survives a JSON round trip unchanged and
    compares equal afterwards.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_json_value(value.value)
    return str(value)


def _datetime(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass
class ToolCall:
    """A call of one tool with parsed arguments, as proposed by the model.

    Attributes:
        id: The model's call id (tool results refer to it).
        name: Tool name.
        arguments: Parsed JSON arguments.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.arguments = to_json_value(self.arguments)

    def arguments_json(self) -> str:
        """Arguments as the compact JSON string models and clients expect."""
        return json.dumps(self.arguments, ensure_ascii=False, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        return cls(id=str(data["id"]), name=str(data["name"]), arguments=data.get("arguments", {}))

    def to_openai(self) -> dict[str, Any]:
        """The call in an assistant message's ``tool_calls`` (OpenAI shape)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json()},
        }


@dataclass
class AgentStep:
    """One event of a run's thread.

    Attributes:
        step_type: What happened.
        content: JSON data: text for messages, a ``ToolCall`` dict for calls, a result dict for
            results, a ``HumanContactRequest`` dict for requests.
        timestamp: When (UTC).
        metadata: Extra JSON data (e.g. ``is_error`` on tool results).
    """

    step_type: StepType
    content: JSONValue
    timestamp: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.step_type = StepType(self.step_type)
        self.content = to_json_value(self.content)
        self.metadata = to_json_value(self.metadata)
        self.timestamp = _datetime(self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_type": self.step_type.value,
            "content": self.content,
            "timestamp": self.timestamp.isoformat(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentStep:
        return cls(
            step_type=StepType(data["step_type"]),
            content=data.get("content"),
            timestamp=_datetime(data["timestamp"]),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass
class ToolDefinition:
    """A tool as the agent sees it.

    Attributes:
        name: Unique name the model calls.
        description: What the tool does, in plain language (factor 1).
        parameters: JSON schema of the arguments (an ``object`` schema). A list of
            ``ToolParameter`` is accepted too and turned into the schema.
        handler: The function that runs the tool (sync or async, keyword arguments). ``None``
            for tools the engine handles itself (``request_human_input``).
        requires_human_approval: Pause the run and ask the human before each call.
        timeout_seconds: Per-call time limit (``None``: the executor's default).
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    handler: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    requires_human_approval: bool = False
    timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        params: Any = self.parameters
        if isinstance(params, Sequence) and not isinstance(params, str | bytes | Mapping):
            self.parameters = parameters_schema(params)
        elif not isinstance(params, Mapping):
            raise TypeError("ToolDefinition.parameters must be a JSON schema dict or a list")
        else:
            self.parameters = dict(params)

    def to_openai_format(self) -> dict[str, Any]:
        """``{"type": "function", "function": {...}}`` for OpenAI-style ``tools``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def to_anthropic_format(self) -> dict[str, Any]:
        """``{"name", "description", "input_schema"}`` for Anthropic's ``tools``."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.parameters,
        }


class ParameterType(StrEnum):
    """JSON schema types of tool parameters."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"


@dataclass
class ToolParameter:
    """One parameter, for tools defined by hand rather than from a function."""

    name: str
    type: ParameterType
    description: str
    required: bool = True
    enum: list[str] | None = None

    def to_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": ParameterType(self.type).value,
            "description": self.description,
        }
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema


def parameters_schema(parameters: Sequence[ToolParameter]) -> dict[str, Any]:
    """Build an ``object`` JSON schema from ``ToolParameter`` entries."""
    return {
        "type": "object",
        "properties": {p.name: p.to_schema() for p in parameters},
        "required": [p.name for p in parameters if p.required],
    }


class HumanRequestType(StrEnum):
    """Why a run waits for a person."""

    APPROVAL = "approval"
    INPUT = "input"
    CLARIFICATION = "clarification"


@dataclass
class HumanContactRequest:
    """A question to a person; the run waits (``WAITING_HUMAN``) until it is answered.

    Attributes:
        request_id: Unique id; an answer names it so that it is applied once.
        request_type: ``"approval"`` (tool calls to approve), ``"input"`` (the agent asked a
            question with ``request_human_input``) or ``"clarification"`` (the agent hit
            repeated errors and asks how to proceed).
        message: What the person is asked, ready to show.
        context: JSON data: the held ``tool_calls`` for approvals, the asking ``tool_call_id``
            for input, the last ``error`` for clarifications.
        timeout_seconds: How long the request stays valid.
    """

    request_id: str
    request_type: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 3600

    def __post_init__(self) -> None:
        self.request_type = HumanRequestType(self.request_type).value
        self.context = to_json_value(self.context)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The calls held for approval (empty for other request types)."""
        return [ToolCall.from_dict(c) for c in self.context.get("tool_calls", [])]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # every field is JSON data already (see __post_init__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HumanContactRequest:
        return cls(
            request_id=str(data["request_id"]),
            request_type=str(data["request_type"]),
            message=str(data["message"]),
            context=dict(data.get("context") or {}),
            timeout_seconds=int(data.get("timeout_seconds", 3600)),
        )
