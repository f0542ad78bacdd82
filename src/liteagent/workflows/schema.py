"""Typed configuration of each built-in node type, validated with pydantic.

The builder, the declarative loader and the handlers share these models, so a misspelt or
mistyped field is reported the same way wherever the workflow came from: the message names the
node, its type and the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from liteagent.workflows.errors import ExpressionError, WorkflowExecutionError
from liteagent.workflows.expressions import compile_expression, template_expressions
from liteagent.workflows.types import NodeDefinition, NodeType

__all__ = [
    "BUILTIN_TRANSFORMS",
    "MAX_LOOP_ITERATIONS",
    "MAX_WAIT_SECONDS",
    "AgentNodeConfig",
    "ConditionNodeConfig",
    "CustomNodeConfig",
    "EndNodeConfig",
    "HumanNodeConfig",
    "LoopNodeConfig",
    "MergeNodeConfig",
    "NodeConfig",
    "ParallelNodeConfig",
    "StartNodeConfig",
    "TransformNodeConfig",
    "WaitNodeConfig",
    "config_model",
    "node_config_problems",
    "parse_config",
]

MAX_LOOP_ITERATIONS: Final = 1000
"""Upper bound for any LOOP node's ``max_iterations``."""
MAX_WAIT_SECONDS: Final = 300.0
"""Longest a WAIT node may sleep (wait for an event to pause for longer)."""
BUILTIN_TRANSFORMS: Final = frozenset(
    {
        "template", "expression", "json_parse", "json_dump", "upper", "lower", "strip",
        "length", "copy", "split_lines", "number",
    }
)  # fmt: skip
_NEED_INPUT: Final = BUILTIN_TRANSFORMS - {"template", "expression"}


def _no_dunder(name: str) -> str:
    if "__" in name:
        raise ValueError(f"variable name {name!r} must not contain '__'")
    return name


VariableName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128),
    AfterValidator(_no_dunder),
]
"""A variable name usable in expression paths: an identifier without ``__``."""
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


def _check_expression(text: str) -> str:
    try:
        compile_expression(text)
    except ExpressionError as exc:
        raise ValueError(exc.message) from None
    return text


def _check_condition(text: str) -> str:
    # Imported here: extensions imports this module's siblings at import time.
    from liteagent.workflows.extensions import condition_registry

    try:
        condition_registry.check(text)
    except ExpressionError as exc:
        raise ValueError(exc.message) from None
    return text


class NodeConfig(BaseModel):
    """Fields every node accepts."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, description="Shown in progress messages instead of the id.")
    timeout: float | None = Field(None, gt=0, le=3600, description="Seconds before the node fails.")


class StartNodeConfig(NodeConfig):
    pass


class EndNodeConfig(NodeConfig):
    output_variable: VariableName | None = Field(
        "output", description="Variable reported as the run's result."
    )


class AgentNodeConfig(NodeConfig):
    agent_id: str | None = None
    purpose: str = ""
    system_prompt: str | None = None
    model: str | None = None
    input_variable: VariableName = "input"
    output_variable: VariableName = "output"
    history_variable: VariableName | None = Field(
        None, description="A variable holding earlier chat turns ({role, content}) for the agent."
    )
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)


class ConditionNodeConfig(NodeConfig):
    condition: Annotated[NonEmpty, AfterValidator(_check_condition)]


class ParallelNodeConfig(NodeConfig):
    pass


class MergeNodeConfig(NodeConfig):
    output_variable: VariableName | None = None


class LoopNodeConfig(NodeConfig):
    body: NonEmpty = Field(description="Node entered while the loop continues.")
    condition: Annotated[NonEmpty, AfterValidator(_check_condition)] | None = Field(
        None, description="Loop while true (always, if unset)."
    )
    max_iterations: int = Field(10, ge=1, le=MAX_LOOP_ITERATIONS)


def _check_template(text: str) -> str:
    for expr in template_expressions(text):
        _check_expression(expr)
    return text


def _check_options(options: list[str] | None) -> list[str] | None:
    if options is not None:
        if not options:
            raise ValueError("options must not be empty (leave it out for a free answer)")
        lowered = [o.strip().lower() for o in options]
        if len(set(lowered)) != len(lowered):
            raise ValueError("options must be different from each other")
    return options


class HumanNodeConfig(NodeConfig):
    prompt: Annotated[NonEmpty, AfterValidator(_check_template)]
    options: Annotated[list[NonEmpty] | None, AfterValidator(_check_options)] = None
    output_variable: VariableName = "human_response"


class TransformNodeConfig(NodeConfig):
    transform: NonEmpty
    input_variable: VariableName | None = None
    output_variable: VariableName
    template: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> TransformNodeConfig:
        if self.transform in ("template", "expression") and self.template is None:
            raise ValueError(f"transform '{self.transform}' needs 'template'")
        if self.transform == "expression" and self.template is not None:
            _check_expression(self.template)
        if self.transform == "template" and self.template is not None:
            _check_template(self.template)
        if self.transform in _NEED_INPUT and self.input_variable is None:
            raise ValueError(f"transform '{self.transform}' needs 'input_variable'")
        return self


class WaitNodeConfig(NodeConfig):
    seconds: float | None = Field(None, gt=0, le=MAX_WAIT_SECONDS)
    event: NonEmpty | None = None
    output_variable: VariableName | None = None

    @model_validator(mode="after")
    def _valid(self) -> WaitNodeConfig:
        if (self.seconds is None) == (self.event is None):
            raise ValueError("set exactly one of 'seconds' and 'event'")
        return self


class CustomNodeConfig(NodeConfig):
    """A CUSTOM node names its registered ``handler``; other fields go to that handler."""

    model_config = ConfigDict(extra="allow")

    handler: NonEmpty
    output_variable: VariableName | None = None


_MODELS: Final[dict[NodeType, type[NodeConfig]]] = {
    NodeType.START: StartNodeConfig,
    NodeType.END: EndNodeConfig,
    NodeType.AGENT: AgentNodeConfig,
    NodeType.CONDITION: ConditionNodeConfig,
    NodeType.PARALLEL: ParallelNodeConfig,
    NodeType.MERGE: MergeNodeConfig,
    NodeType.LOOP: LoopNodeConfig,
    NodeType.HUMAN: HumanNodeConfig,
    NodeType.TRANSFORM: TransformNodeConfig,
    NodeType.WAIT: WaitNodeConfig,
    NodeType.CUSTOM: CustomNodeConfig,
}


def config_model(node_type: NodeType) -> type[NodeConfig]:
    """The pydantic model of ``node_type``'s config."""
    return _MODELS[node_type]


C = TypeVar("C", bound="NodeConfig")


def parse_config(node: NodeDefinition, model: type[C]) -> C:
    """``node.config`` validated as ``model``; raises ``WorkflowExecutionError`` naming fields."""
    try:
        return model.model_validate(node.config)
    except ValidationError as exc:
        raise WorkflowExecutionError("; ".join(_problems(node, exc))) from None


def _problems(node: NodeDefinition, exc: ValidationError) -> list[str]:
    kind = node.config.get("handler") if node.type is NodeType.CUSTOM else None
    label = f"{node.type.value}: {kind}" if isinstance(kind, str) else node.type.value
    return [f"node '{node.id}' ({label}): {_describe(e)}" for e in exc.errors()]


def _describe(error: Any) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    msg = str(error.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    return f"field '{loc}': {msg}" if loc else msg


def node_config_problems(node: NodeDefinition) -> list[str]:
    """Every problem in ``node.config``, each naming the node and field (empty when valid)."""
    model: type[BaseModel] = _MODELS[node.type]
    if node.type is NodeType.CUSTOM:
        model = _custom_model(node.config.get("handler")) or model
    try:
        model.model_validate(node.config)
    except ValidationError as exc:
        return _problems(node, exc)
    return []


def _custom_model(name: object) -> type[BaseModel] | None:
    """The ``config_model`` of the handler registered as ``name``, if it declares one."""
    from liteagent.errors import ProviderNotFoundError
    from liteagent.workflows.extensions import node_handler_registry

    if not isinstance(name, str) or not name:
        return None
    try:
        handler_class = node_handler_registry.get_class(name)
    except ProviderNotFoundError:
        return None
    model = getattr(handler_class, "config_model", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None
