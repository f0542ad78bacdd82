"""Node handlers: what each node type does when it runs.

A handler's ``execute(node, state, context)`` returns the node's output as a dict and must not
change ``state``: the reducer records the output and applies ``variable_updates(node, output)``
to the run's variables. To suspend a node until a human answers or an event arrives, a handler
returns a ``WaitRequest`` (a dict subclass).

AGENT nodes: the agent runner is pluggable. With ``context["agent_runner"]`` (an ``AgentRunner``:
``async (node, state, context) -> {"response": ..., "usage": {...}, ...}``) the node calls it;
otherwise it runs a LiteAgent ``Agent`` (``liteagent.workflows.agent_node``) whose model is
``context["llm_clients"][agent_id or node id]`` or ``context["llm_client"]`` — the seeds'
``LLMClient`` (``async chat(messages, tools=None)`` returning an OpenAI chat-completion dict) or a
``liteagent.llm`` provider — else the node's (or the catalog's) model.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from liteagent.workflows.errors import WorkflowExecutionError
from liteagent.workflows.expressions import evaluate_expression, render_template
from liteagent.workflows.extensions import condition_registry, transformer_registry
from liteagent.workflows.schema import (
    AgentNodeConfig,
    ConditionNodeConfig,
    EndNodeConfig,
    HumanNodeConfig,
    LoopNodeConfig,
    MergeNodeConfig,
    TransformNodeConfig,
    WaitNodeConfig,
    parse_config,
)

if TYPE_CHECKING:
    from liteagent.workflows.state import WorkflowState
    from liteagent.workflows.types import NodeDefinition

__all__ = [
    "AgentNodeHandler",
    "AgentRunner",
    "ConditionNodeHandler",
    "EndNodeHandler",
    "HumanNodeHandler",
    "LoopNodeHandler",
    "MergeNodeHandler",
    "NodeHandler",
    "ParallelNodeHandler",
    "StartNodeHandler",
    "TransformNodeHandler",
    "WaitNodeHandler",
    "WaitRequest",
    "expression_namespace",
]


class WaitRequest(dict[str, Any]):
    """A handler output that suspends its node: ``kind`` is ``"human"`` or ``"event:<name>"``."""

    def __init__(self, kind: str, **data: Any) -> None:
        super().__init__(data)
        self.kind = kind


class AgentRunner(Protocol):
    """Runs the agent behind an AGENT node.

    Returns a dict with ``response`` (the answer, stored in the node's output variable) and,
    when it called models, ``usage`` (``prompt_tokens``/``completion_tokens``); other keys are
    kept in the node's output.
    """

    async def __call__(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]: ...


def expression_namespace(
    state: WorkflowState, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Names visible to expressions: ``nodes.<id>.<key>`` outputs, variables, then ``extra``."""
    namespace: dict[str, Any] = {
        "nodes": {k: v.output_data for k, v in state.node_executions.items()}
    }
    namespace.update(state.variables)
    if extra:
        namespace.update(extra)
    return namespace


class NodeHandler(ABC):
    """Executes one kind of node. Subclass it for CUSTOM nodes (see ``register_node_handler``).

    Attributes:
        config_model: Optional pydantic model of a CUSTOM node's config; when set, ``build()``
            and ``workflow_from_dict`` validate the node's config with it.
        sets_variables: ``False`` for nodes whose output never becomes a variable (start,
            end, parallel, loop): ``variable_updates`` is then empty.
    """

    config_model: ClassVar[type[BaseModel] | None] = None
    sets_variables: ClassVar[bool] = True

    @abstractmethod
    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        """Run ``node`` and return its output (must not modify ``state``)."""

    def variable_updates(self, node: NodeDefinition, output: dict[str, Any]) -> dict[str, Any]:
        """Variables to set from ``output``: by default the whole output in ``output_variable``."""
        if not self.sets_variables:
            return {}
        name = node.config.get("output_variable")
        return {name: output} if isinstance(name, str) and name else {}


class StartNodeHandler(NodeHandler):
    """Entry point: records which variables the run started with."""

    sets_variables = False

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        return {"variables": sorted(state.variables)}


class EndNodeHandler(NodeHandler):
    """Finishes the run; ``result`` is the value of its ``output_variable``."""

    sets_variables = False

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, EndNodeConfig)
        result = state.variables.get(cfg.output_variable) if cfg.output_variable else None
        return {"end": True, "result": result}


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    total = int(raw.get("total_tokens") or prompt + completion)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


class AgentNodeHandler(NodeHandler):
    """Runs an agent: ``context["agent_runner"]`` if given, else a LiteAgent ``Agent`` (see
    ``liteagent.workflows.agent_node``)."""

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, AgentNodeConfig)
        runner = context.get("agent_runner")
        if runner is not None:
            result = await runner(node, state, context)
        else:
            from liteagent.workflows.agent_node import run_agent_node

            result = await run_agent_node(node, state, context)
        if not isinstance(result, Mapping) or "response" not in result:
            raise WorkflowExecutionError(
                f"agent_runner for node '{node.id}' must return a dict with 'response'"
            )
        output = dict(result)
        output["usage"] = _usage(output.get("usage"))
        output.setdefault("agent_id", cfg.agent_id or node.id)
        return output

    def variable_updates(self, node: NodeDefinition, output: dict[str, Any]) -> dict[str, Any]:
        name = node.config.get("output_variable", "output")
        return {name: output.get("response")}


class ConditionNodeHandler(NodeHandler):
    """Evaluates its condition; ``condition_result`` (true/false) is the output and a variable."""

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, ConditionNodeConfig)
        result = condition_registry.evaluate(cfg.condition, expression_namespace(state))
        return {"condition_result": result}

    def variable_updates(self, node: NodeDefinition, output: dict[str, Any]) -> dict[str, Any]:
        return {"condition_result": output["condition_result"]}


class ParallelNodeHandler(NodeHandler):
    """Fans out: the reducer takes every outgoing edge whose condition holds."""

    sets_variables = False

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        return {}


class MergeNodeHandler(NodeHandler):
    """Joins branches: ``merged`` maps each arrived branch's last node id to its output."""

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        sources = state.merge_arrivals.get(node.id, [])
        merged = {src: state.get_node_execution(src).output_data for src in sources}
        return {"branches": list(sources), "merged": merged}

    def variable_updates(self, node: NodeDefinition, output: dict[str, Any]) -> dict[str, Any]:
        name = parse_config(node, MergeNodeConfig).output_variable
        return {name: output["merged"]} if name else {}


class LoopNodeHandler(NodeHandler):
    """Decides whether to enter the body again: ``continue`` while the condition holds and
    fewer than ``max_iterations`` iterations ran (``iteration`` is visible to the condition)."""

    sets_variables = False

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, LoopNodeConfig)
        count = state.loop_counters.get(node.id, 0)
        exhausted = count >= cfg.max_iterations
        proceed = not exhausted
        if proceed and cfg.condition is not None:
            namespace = expression_namespace(state, {"iteration": count})
            proceed = condition_registry.evaluate(cfg.condition, namespace)
        return {"continue": proceed, "iteration": count, "exhausted": exhausted}


class HumanNodeHandler(NodeHandler):
    """Asks a human: suspends the run until ``provide_human_response``."""

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, HumanNodeConfig)
        prompt = render_template(cfg.prompt, expression_namespace(state))
        return WaitRequest("human", prompt=prompt, options=cfg.options)

    def variable_updates(self, node: NodeDefinition, output: dict[str, Any]) -> dict[str, Any]:
        return {parse_config(node, HumanNodeConfig).output_variable: output.get("response")}


def _builtin_transform(name: str, value: Any, cfg: TransformNodeConfig, ns: dict[str, Any]) -> Any:
    if name == "template":
        return render_template(cfg.template or "", ns)
    if name == "expression":
        return evaluate_expression(cfg.template or "", ns)
    if name == "copy":
        return value
    if name == "json_dump":
        return json.dumps(value, ensure_ascii=False, default=str)
    if name == "length":
        if not isinstance(value, str | list | dict):
            raise WorkflowExecutionError(f"'length' needs a string, list or object, not {value!r}")
        return len(value)
    if not isinstance(value, str):
        raise WorkflowExecutionError(
            f"transform '{name}' needs a string, not {type(value).__name__}"
        )
    if name == "json_parse":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise WorkflowExecutionError(f"'json_parse' got invalid JSON: {exc}") from None
    if name == "number":
        try:
            number = float(value.strip())
        except ValueError:
            raise WorkflowExecutionError(f"'number' cannot read {value[:50]!r}") from None
        return int(number) if number.is_integer() and "." not in value else number
    if name == "upper":
        return value.upper()
    if name == "lower":
        return value.lower()
    if name == "strip":
        return value.strip()
    return value.splitlines()  # split_lines


class TransformNodeHandler(NodeHandler):
    """Computes ``output_variable`` from ``input_variable``.

    Built-in transforms: ``template`` (render ``template``; ``input`` names the input value),
    ``expression`` (evaluate ``template`` as an expression), ``json_parse``, ``json_dump``,
    ``upper``, ``lower``, ``strip``, ``length``, ``copy``, ``split_lines``, ``number``. Any other
    name is looked up in ``transformer_registry`` and applied to a copy of the state; the
    variables it changes are written back.
    """

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        from liteagent.workflows.schema import BUILTIN_TRANSFORMS

        cfg = parse_config(node, TransformNodeConfig)
        value = state.variables.get(cfg.input_variable) if cfg.input_variable else None
        if cfg.transform in BUILTIN_TRANSFORMS:
            ns = expression_namespace(state, {"input": value} if cfg.input_variable else None)
            result = _builtin_transform(cfg.transform, value, cfg, ns)
            return {"transform": cfg.transform, "result": result}
        if transformer_registry.get(cfg.transform) is None:
            known = ", ".join(sorted(BUILTIN_TRANSFORMS | set(transformer_registry.list())))
            raise WorkflowExecutionError(
                f"TRANSFORM node '{node.id}': unknown transform '{cfg.transform}' (known: {known})"
            )
        before = state.copy()
        after = transformer_registry.apply(cfg.transform, state.copy())
        updated = {
            k: v
            for k, v in after.variables.items()
            if k not in before.variables or before.variables[k] != v
        }
        return {
            "transform": cfg.transform,
            "result": after.variables.get(cfg.output_variable),
            "updated": updated,
        }

    def variable_updates(self, node: NodeDefinition, output: dict[str, Any]) -> dict[str, Any]:
        if "updated" in output:
            return dict(output["updated"])
        return {parse_config(node, TransformNodeConfig).output_variable: output.get("result")}


class WaitNodeHandler(NodeHandler):
    """Waits ``seconds`` (at most ``MAX_WAIT_SECONDS``), or until the named ``event`` is sent."""

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, WaitNodeConfig)
        if cfg.event is not None:
            return WaitRequest(f"event:{cfg.event}", event=cfg.event)
        await asyncio.sleep(cfg.seconds or 0)
        return {"waited_seconds": cfg.seconds}

    def variable_updates(self, node: NodeDefinition, output: dict[str, Any]) -> dict[str, Any]:
        name = parse_config(node, WaitNodeConfig).output_variable
        return {name: output.get("data")} if name else {}
