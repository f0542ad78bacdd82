"""The stateless workflow reducer: ``reduce(definition, state, event) -> new state``.

The reducer holds no run state and performs no I/O of its own: nodes reach the outside world only
through their handlers and the clients passed in ``context``. It never changes the state it is
given; it returns a new one. One ``step`` executes every node in ``state.current_nodes``
concurrently (``asyncio.gather``), so the branches of a PARALLEL node run at the same time, then
records their outputs in node order and follows the edges:

- PARALLEL nodes take every outgoing edge whose condition holds;
- LOOP nodes go to their ``body`` while they continue, else like any other node;
- other nodes take the first conditional edge whose condition holds, else their unconditional
  edge. An edge condition sees the source node's output keys first, then the variables, then
  ``nodes.<id>.<key>``;
- a MERGE node runs once every branch that leads to it has arrived, or when nothing else is left
  running or waiting (branches not taken never arrive);
- an END node completes the run.

Events: ``start`` (``data["input"]``: initial variables), ``step``, ``human_response``
(``node_id``, ``data["response"]``), ``external_event`` (``data["event"]``, ``data["data"]``),
``pause`` and ``resume``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liteagent.log import get_logger
from liteagent.redaction import redact_text
from liteagent.workflows.errors import (
    ExpressionError,
    HumanResponseError,
    WorkflowExecutionError,
)
from liteagent.workflows.extensions import (
    WorkflowHooks,
    condition_registry,
    node_handler_registry,
    workflow_hooks,
)
from liteagent.workflows.handlers import (
    AgentNodeHandler,
    ConditionNodeHandler,
    EndNodeHandler,
    HumanNodeHandler,
    LoopNodeHandler,
    MergeNodeHandler,
    NodeHandler,
    ParallelNodeHandler,
    StartNodeHandler,
    TransformNodeHandler,
    WaitNodeHandler,
    WaitRequest,
    expression_namespace,
)
from liteagent.workflows.schema import HumanNodeConfig, LoopNodeConfig, parse_config
from liteagent.workflows.state import WorkflowDefinition, WorkflowState
from liteagent.workflows.types import (
    Edge,
    NodeDefinition,
    NodeExecution,
    NodeStatus,
    NodeType,
    WorkflowEvent,
    WorkflowStatus,
    utcnow,
)

__all__ = ["WorkflowReducer", "derived_status"]

logger = get_logger(__name__)


def derived_status(state: WorkflowState) -> WorkflowStatus:
    """The status a running (not paused) state should have given what it waits for."""
    if state.current_nodes or not state.waiting:
        return WorkflowStatus.RUNNING
    if any(kind == "human" for kind in state.waiting.values()):
        return WorkflowStatus.WAITING_HUMAN
    return WorkflowStatus.WAITING_EVENT


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return redact_text(text if len(text) <= 2000 else text[:2000] + "…")


@dataclass
class _Outcome:
    node: NodeDefinition
    handler: NodeHandler | None = None
    output: dict[str, Any] = field(default_factory=dict)
    wait: WaitRequest | None = None
    error: Exception | None = None
    suppressed: bool = False
    variables: dict[str, Any] | None = None  # changed by a before_node hook returning a state
    started_at: Any = None


class _RoutingError(Exception):
    pass


class WorkflowReducer:
    """Turns (definition, state, event) into the next state. Holds only handlers and hooks.

    Args:
        hooks: Hooks to run around nodes (default: the global ``workflow_hooks``).
    """

    def __init__(self, hooks: WorkflowHooks | None = None) -> None:
        self.hooks = hooks if hooks is not None else workflow_hooks
        self._handlers: dict[NodeType, NodeHandler] = {
            NodeType.START: StartNodeHandler(),
            NodeType.END: EndNodeHandler(),
            NodeType.AGENT: AgentNodeHandler(),
            NodeType.CONDITION: ConditionNodeHandler(),
            NodeType.PARALLEL: ParallelNodeHandler(),
            NodeType.MERGE: MergeNodeHandler(),
            NodeType.LOOP: LoopNodeHandler(),
            NodeType.HUMAN: HumanNodeHandler(),
            NodeType.TRANSFORM: TransformNodeHandler(),
            NodeType.WAIT: WaitNodeHandler(),
        }

    def register_handler(self, node_type: NodeType, handler: NodeHandler) -> None:
        """Use ``handler`` for every node of ``node_type`` (CUSTOM nodes without a name too)."""
        self._handlers[NodeType(node_type)] = handler

    def handler_for(self, node: NodeDefinition) -> NodeHandler:
        """The handler that executes ``node`` (CUSTOM: the one registered under its name)."""
        if node.type is NodeType.CUSTOM:
            name = node.config.get("handler")
            if isinstance(name, str) and node_handler_registry.has(name):
                return node_handler_registry.get(name)
            if NodeType.CUSTOM in self._handlers and not name:
                return self._handlers[NodeType.CUSTOM]
            known = ", ".join(node_handler_registry.list_providers()) or "none"
            raise WorkflowExecutionError(
                f"CUSTOM node '{node.id}' uses handler '{name}', which is not registered "
                f"(registered: {known}); register it with @register_node_handler('{name}')"
            )
        return self._handlers[node.type]

    # ------------------------------------------------------------------ events

    async def reduce(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        event: WorkflowEvent,
        context: dict[str, Any] | None = None,
    ) -> WorkflowState:
        """Apply ``event`` to a copy of ``state`` and return it."""
        new = state.copy()
        kind = event.event_type
        if kind == "start":
            self._start(definition, new, event)
        elif kind == "step":
            if new.status is WorkflowStatus.RUNNING:
                await self._step(definition, new, context)
        elif kind == "human_response":
            await self._human_response(definition, new, event, context)
        elif kind == "external_event":
            await self._external_event(definition, new, event, context)
        elif kind == "pause":
            if new.is_finished:
                raise WorkflowExecutionError(f"cannot pause a run that is {new.status.value}")
            new.status = WorkflowStatus.PAUSED
        elif kind == "resume":
            if new.status is WorkflowStatus.PAUSED:
                new.status = derived_status(new)
        else:
            raise WorkflowExecutionError(f"unknown workflow event type '{kind}'")
        new.updated_at = event.timestamp
        return new

    async def execute_node(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        node_id: str,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run one node (with its hooks) and return its output; raises if it fails."""
        node = self._node(definition, node_id)
        outcome = await self._run(node, state, {**(context or {}), "workflow": definition})
        if outcome.error is not None and not outcome.suppressed:
            raise outcome.error
        return dict(outcome.wait if outcome.wait is not None else outcome.output)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _node(definition: WorkflowDefinition, node_id: str) -> NodeDefinition:
        node = definition.get_node(node_id)
        if node is None:
            raise WorkflowExecutionError(
                f"workflow '{definition.id}' has no node '{node_id}' (was it changed since "
                "this run started?)"
            )
        return node

    def _start(
        self, definition: WorkflowDefinition, state: WorkflowState, event: WorkflowEvent
    ) -> None:
        if state.status is not WorkflowStatus.PENDING:
            raise WorkflowExecutionError(f"cannot start a run that is {state.status.value}")
        start = definition.get_start_node()
        if start is None:
            raise WorkflowExecutionError(f"workflow '{definition.id}' has no START node")
        state.variables.update(event.data.get("input") or {})
        state.status = WorkflowStatus.RUNNING
        state.current_nodes = [start.id]

    async def _run(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> _Outcome:
        outcome = _Outcome(node, started_at=utcnow())
        try:
            seen = await self.hooks.run_before_node(node, state)
            if seen is not state:  # keep only what the hook changed, not a stale copy
                outcome.variables = {
                    k: v
                    for k, v in seen.variables.items()
                    if k not in state.variables or state.variables[k] != v
                }
            outcome.handler = self.handler_for(node)
            timeout = node.config.get("timeout")
            call = outcome.handler.execute(node, seen, context)
            try:
                output = await (asyncio.wait_for(call, float(timeout)) if timeout else call)
            except TimeoutError:
                if not timeout:
                    raise
                raise WorkflowExecutionError(f"timed out after {timeout}s") from None
            if not isinstance(output, dict):
                raise WorkflowExecutionError(
                    f"handler of node '{node.id}' returned {type(output).__name__}, expected a dict"
                )
            if isinstance(output, WaitRequest):
                outcome.wait = output
            else:
                outcome.output = await self.hooks.run_after_node(node, seen, output)
        except Exception as exc:  # noqa: BLE001 - any node failure is recorded in the state
            outcome.error = exc
            outcome.suppressed = await self.hooks.run_on_error(node, state, exc)
            logger.warning(
                "workflow_node_failed",
                workflow_id=state.workflow_id,
                execution_id=state.execution_id,
                node_id=node.id,
                node_type=node.type.value,
                error=_error_text(exc),
                suppressed=outcome.suppressed,
            )
        return outcome

    async def _step(
        self, definition: WorkflowDefinition, state: WorkflowState, context: dict[str, Any] | None
    ) -> None:
        state.step_count += 1
        try:
            nodes = [self._node(definition, node_id) for node_id in state.current_nodes]
        except WorkflowExecutionError as exc:
            self._fail(state, exc.message)
            return
        ctx = {**(context or {}), "workflow": definition}
        outcomes = await asyncio.gather(*(self._run(node, state, ctx) for node in nodes))
        self._apply(definition, state, list(outcomes))

    def _apply(
        self, definition: WorkflowDefinition, state: WorkflowState, outcomes: list[_Outcome]
    ) -> None:
        done = {o.node.id for o in outcomes}
        next_nodes = [n for n in state.current_nodes if n not in done]
        failure: str | None = None
        finished = False
        for outcome in outcomes:
            node = outcome.node
            execution = state.node_executions.get(node.id) or NodeExecution(node.id)
            execution.runs += 1
            execution.started_at = outcome.started_at or utcnow()
            execution.completed_at = None
            execution.error = None
            input_name = node.config.get("input_variable")
            execution.input_data = (
                {input_name: state.variables.get(input_name)} if isinstance(input_name, str) else {}
            )
            state.node_executions[node.id] = execution
            if outcome.variables is not None:
                state.variables.update(outcome.variables)
            if outcome.wait is not None:
                execution.status = NodeStatus.RUNNING
                execution.output_data = dict(outcome.wait)
                state.waiting[node.id] = outcome.wait.kind
                continue
            execution.completed_at = utcnow()
            state.history.append(node.id)
            if outcome.error is not None:
                message = _error_text(outcome.error)
                execution.status = NodeStatus.FAILED
                execution.error = message
                if not outcome.suppressed:
                    execution.output_data = {}
                    failure = failure or f"Node '{node.id}' ({node.type.value}) failed: {message}"
                    continue
                output: dict[str, Any] = {"error": message, "error_suppressed": True}
            else:
                execution.status = NodeStatus.COMPLETED
                output = outcome.output
                if outcome.handler is not None:
                    state.variables.update(outcome.handler.variable_updates(node, output))
                self._add_usage(state, output.get("usage"))
            execution.output_data = dict(output)
            if node.type is NodeType.END:
                finished = True
                continue
            try:
                targets = self._route(definition, state, node, output)
            except _RoutingError as exc:
                failure = failure or str(exc)
                continue
            if node.type is NodeType.MERGE:
                state.merge_arrivals.pop(node.id, None)
            for target in targets:
                if self._node(definition, target).type is NodeType.MERGE:
                    arrived = state.merge_arrivals.setdefault(target, [])
                    if node.id not in arrived:
                        arrived.append(node.id)
                elif target not in next_nodes:
                    next_nodes.append(target)
        if failure is not None:
            self._fail(state, failure)
            return
        if finished:
            for node_id in state.waiting:
                state.node_executions[node_id].status = NodeStatus.SKIPPED
            state.waiting.clear()
            state.current_nodes = []
            state.status = WorkflowStatus.COMPLETED
            return
        idle = not next_nodes and not state.waiting
        for merge_id, arrived in state.merge_arrivals.items():
            expected = {e.source for e in definition.get_incoming_edges(merge_id)}
            if (expected <= set(arrived) or idle) and merge_id not in next_nodes:
                next_nodes.append(merge_id)
        state.current_nodes = next_nodes
        if not next_nodes and not state.waiting:
            self._fail(state, "the run stopped without reaching an END node")
            return
        if state.status is not WorkflowStatus.PAUSED:
            state.status = derived_status(state)

    @staticmethod
    def _add_usage(state: WorkflowState, usage: Any) -> None:
        if not isinstance(usage, Mapping):
            return
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                state.usage[key] = state.usage.get(key, 0) + value

    @staticmethod
    def _fail(state: WorkflowState, message: str) -> None:
        state.status = WorkflowStatus.FAILED
        state.error = message
        state.current_nodes = []
        logger.warning(
            "workflow_failed",
            workflow_id=state.workflow_id,
            execution_id=state.execution_id,
            error=message,
        )

    def _route(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        node: NodeDefinition,
        output: dict[str, Any],
    ) -> list[str]:
        edges = definition.get_outgoing_edges(node.id)
        if node.type is NodeType.LOOP:
            body = parse_config(node, LoopNodeConfig).body
            if output.get("continue"):
                state.loop_counters[node.id] = state.loop_counters.get(node.id, 0) + 1
                return [body]
            state.loop_counters.pop(node.id, None)
            edges = [e for e in edges if e.target != body]
        namespace = expression_namespace(state, output)
        if node.type is NodeType.PARALLEL:
            targets = [e.target for e in edges if self._holds(e, namespace)]
        else:
            chosen = next((e for e in edges if e.condition and self._holds(e, namespace)), None)
            chosen = chosen or next((e for e in edges if not e.condition), None)
            targets = [chosen.target] if chosen is not None else []
        if not targets:
            conditions = ", ".join(repr(e.condition) for e in edges if e.condition) or "none"
            raise _RoutingError(
                f"no outgoing edge of node '{node.id}' matched (edge conditions: {conditions})"
            )
        return targets

    @staticmethod
    def _holds(edge: Edge, namespace: dict[str, Any]) -> bool:
        if not edge.condition:
            return True
        try:
            return condition_registry.evaluate(edge.condition, namespace)
        except ExpressionError as exc:
            raise _RoutingError(
                f"condition of edge '{edge.source}' -> '{edge.target}' failed: {exc.message}"
            ) from exc

    async def _human_response(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        event: WorkflowEvent,
        context: dict[str, Any] | None,
    ) -> None:
        node_id = event.node_id or ""
        if state.waiting.get(node_id) != "human":
            waiting = [n for n, k in state.waiting.items() if k == "human"]
            raise HumanResponseError(
                f"node '{node_id}' is not waiting for a human answer"
                + (f" (waiting: {', '.join(waiting)})" if waiting else " (no node is waiting)")
            )
        if state.status is WorkflowStatus.PAUSED:
            raise HumanResponseError("the run is paused; resume it before answering")
        node = self._node(definition, node_id)
        cfg = parse_config(node, HumanNodeConfig)
        response = event.data.get("response")
        if cfg.options:
            chosen = next(
                (o for o in cfg.options if isinstance(response, str)
                 and o.strip().lower() == response.strip().lower()),
                None,
            )  # fmt: skip
            if chosen is None:
                raise HumanResponseError(f"please answer with one of: {', '.join(cfg.options)}")
            response = chosen
        output = {**state.get_node_execution(node_id).output_data, "response": response}
        await self._resume_waiting(definition, state, node, output, context)

    async def _external_event(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        event: WorkflowEvent,
        context: dict[str, Any] | None,
    ) -> None:
        name = str(event.data.get("event", ""))
        waiting = [n for n, kind in state.waiting.items() if kind == f"event:{name}"]
        if not waiting:
            raise WorkflowExecutionError(f"no node is waiting for the event '{name}'")
        if state.status is WorkflowStatus.PAUSED:
            raise WorkflowExecutionError("the run is paused; resume it before sending events")
        for node_id in waiting:
            node = self._node(definition, node_id)
            output = {"event": name, "data": event.data.get("data")}
            await self._resume_waiting(definition, state, node, output, context)

    async def _resume_waiting(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        node: NodeDefinition,
        output: dict[str, Any],
        context: dict[str, Any] | None,
    ) -> None:
        state.waiting.pop(node.id, None)
        outcome = _Outcome(node, started_at=state.get_node_execution(node.id).started_at)
        try:
            outcome.handler = self.handler_for(node)
            outcome.output = await self.hooks.run_after_node(node, state, output)
        except Exception as exc:  # noqa: BLE001 - recorded like any node failure
            outcome.error = exc
            outcome.suppressed = await self.hooks.run_on_error(node, state, exc)
        runs = state.get_node_execution(node.id).runs
        self._apply(definition, state, [outcome])
        state.node_executions[node.id].runs = runs  # answering is not another execution
