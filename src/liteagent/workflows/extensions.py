"""Extension points: hooks, custom node handlers, condition evaluators and state transformers.

- ``workflow_hooks``: ``before_node`` / ``after_node`` / ``on_error`` for one node type
  (``"agent"``, a custom handler's name such as ``"http_request"``) or ``"*"``;
  ``before_workflow_start`` and ``after_workflow_complete``. Hooks may be ``async`` or plain.
- ``register_node_handler(name)``: a class decorator registering a ``NodeHandler`` for CUSTOM
  nodes whose config says ``handler: <name>``. Third-party packages can declare the same under
  the entry-point group ``liteagent.workflow_nodes`` (the built-in ``http_request`` does).
- ``condition_registry``: evaluators selected by a prefix of the condition text (``jmespath:``,
  ``regex:`` and ``expr:`` are built in); conditions without a registered prefix use the safe
  expression language of ``liteagent.workflows.expressions``.
- ``transformer_registry``: named ``WorkflowState -> WorkflowState`` functions that TRANSFORM
  nodes can name as their ``transform``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import jmespath.exceptions
import regex

from liteagent.log import get_logger
from liteagent.registry import ProviderRegistry
from liteagent.workflows import bounded_jmespath
from liteagent.workflows.errors import ExpressionError
from liteagent.workflows.expressions import MAX_LENGTH, compile_expression, evaluate_condition

if TYPE_CHECKING:
    from liteagent.workflows.handlers import NodeHandler
    from liteagent.workflows.state import WorkflowDefinition, WorkflowState
    from liteagent.workflows.types import NodeDefinition

__all__ = [
    "AfterNodeHook",
    "BeforeNodeHook",
    "ConditionEvaluator",
    "ConditionRegistry",
    "ErrorHook",
    "StateTransformer",
    "TransformerRegistry",
    "WorkflowHooks",
    "condition_registry",
    "node_handler_registry",
    "register_node_handler",
    "transformer_registry",
    "workflow_hooks",
]

logger = get_logger(__name__)

BeforeNodeHook = Callable[["NodeDefinition", "WorkflowState"], Awaitable["WorkflowState | None"]]
AfterNodeHook = Callable[
    ["NodeDefinition", "WorkflowState", dict[str, Any]], Awaitable[dict[str, Any] | None]
]
ErrorHook = Callable[["NodeDefinition", "WorkflowState", Exception], Awaitable[bool]]
ConditionEvaluator = Callable[[str, dict[str, Any]], bool]
StateTransformer = Callable[["WorkflowState"], "WorkflowState"]
WorkflowHook = Callable[["WorkflowDefinition", "WorkflowState"], Any]

F = TypeVar("F", bound=Callable[..., Any])

REGEX_TIMEOUT_SECONDS = 0.5
"""Longest one ``regex:`` match may run (patterns are user-written; this stops backtracking)."""


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    result = func(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _chain(
    hooks: list[Callable[..., Any]], definition: WorkflowDefinition, state: WorkflowState
) -> WorkflowState:
    """Pass ``state`` through ``hooks`` in order; a hook returning ``None`` keeps it."""
    for hook in list(hooks):
        result = await _call(hook, definition, state)
        if result is not None:
            state = result
    return state


def _key(node_type: object) -> str:
    if node_type is None:
        return "*"
    return str(getattr(node_type, "value", node_type)).lower()


def node_keys(node: NodeDefinition) -> set[str]:
    """The hook keys that match ``node``: its type, its custom handler name, and ``*``."""
    keys = {"*", node.type.value}
    handler = node.config.get("handler")
    if isinstance(handler, str):
        keys.add(handler.lower())
    return keys


class WorkflowHooks:
    """Hooks run by the reducer around every node and by the engine around every run."""

    def __init__(self) -> None:
        self._before: list[tuple[str, Callable[..., Any]]] = []
        self._after: list[tuple[str, Callable[..., Any]]] = []
        self._error: list[tuple[str, Callable[..., Any]]] = []
        self._start: list[Callable[..., Any]] = []
        self._complete: list[Callable[..., Any]] = []

    def before_node(self, node_type: str | None = None) -> Callable[[F], F]:
        """Register ``hook(node, state) -> state | None`` run before matching nodes.

        Raising fails the node (its ``on_error`` hooks run). Returning a state replaces the
        variables the node sees.
        """

        def decorator(func: F) -> F:
            self._before.append((_key(node_type), func))
            return func

        return decorator

    def after_node(self, node_type: str | None = None) -> Callable[[F], F]:
        """Register ``hook(node, state, output) -> output | None`` run after matching nodes."""

        def decorator(func: F) -> F:
            self._after.append((_key(node_type), func))
            return func

        return decorator

    def on_error(self, node_type: str | None = None) -> Callable[[F], F]:
        """Register ``hook(node, state, error) -> bool``; any ``True`` suppresses the error."""

        def decorator(func: F) -> F:
            self._error.append((_key(node_type), func))
            return func

        return decorator

    def before_workflow_start(self, func: F) -> F:
        """Register ``hook(definition, state) -> state | None`` run when a run starts."""
        self._start.append(func)
        return func

    def after_workflow_complete(self, func: F) -> F:
        """Register ``hook(definition, state) -> state | None`` run when a run completes."""
        self._complete.append(func)
        return func

    def clear(self) -> None:
        """Remove every hook."""
        for hooks in (self._before, self._after, self._error, self._start, self._complete):
            hooks.clear()

    async def run_before_node(self, node: NodeDefinition, state: WorkflowState) -> WorkflowState:
        """Run the matching ``before_node`` hooks; returns the state the node should see."""
        keys = node_keys(node)
        for key, hook in list(self._before):
            if key in keys:
                result = await _call(hook, node, state)
                if result is not None:
                    state = result
        return state

    async def run_after_node(
        self, node: NodeDefinition, state: WorkflowState, output: dict[str, Any]
    ) -> dict[str, Any]:
        """Run the matching ``after_node`` hooks; returns the (possibly replaced) output."""
        keys = node_keys(node)
        for key, hook in list(self._after):
            if key in keys:
                result = await _call(hook, node, state, output)
                if result is None:
                    continue
                if not isinstance(result, dict):
                    raise TypeError(
                        f"after_node hook {getattr(hook, '__name__', hook)!r} returned "
                        f"{type(result).__name__}; return the output dict or None"
                    )
                output = result
        return output

    async def run_on_error(
        self, node: NodeDefinition, state: WorkflowState, error: Exception
    ) -> bool:
        """Run every matching ``on_error`` hook; True when at least one suppresses the error.

        A hook that raises is logged and counts as not suppressing: it never hides the error.
        """
        keys = node_keys(node)
        suppressed = False
        for key, hook in list(self._error):
            if key not in keys:
                continue
            try:
                suppressed = bool(await _call(hook, node, state, error)) or suppressed
            except Exception as exc:  # noqa: BLE001 - a broken hook must not mask the node error
                logger.warning(
                    "workflow_error_hook_failed",
                    node_id=node.id,
                    hook=getattr(hook, "__name__", repr(hook)),
                    error=str(exc),
                )
        return suppressed

    async def run_before_workflow_start(
        self, definition: WorkflowDefinition, state: WorkflowState
    ) -> WorkflowState:
        return await _chain(self._start, definition, state)

    async def run_after_workflow_complete(
        self, definition: WorkflowDefinition, state: WorkflowState
    ) -> WorkflowState:
        return await _chain(self._complete, definition, state)


class _FunctionTable(Generic[F]):
    """Functions by name, added with a decorator (``@table.register(name)``)."""

    def __init__(self) -> None:
        self._functions: dict[str, F] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator registering the function under ``name``."""

        def decorator(func: F) -> F:
            self._functions[name] = func
            return func

        return decorator

    def unregister(self, name: str) -> None:
        self._functions.pop(name, None)


class ConditionRegistry(_FunctionTable[ConditionEvaluator]):
    """Condition evaluators chosen by the prefix of the condition text.

    ``evaluate("jmespath:a.b == 'x'", context)`` calls the evaluator registered for
    ``"jmespath:"`` with the *whole* condition text and the context; a condition with no
    registered prefix is evaluated by the safe expression language.
    """

    def register(self, prefix: str) -> Callable[[ConditionEvaluator], ConditionEvaluator]:
        """Decorator registering ``evaluator(condition, context) -> bool`` for ``prefix``."""
        if not prefix:
            raise ValueError("a condition prefix must not be empty")
        return super().register(prefix)

    def prefixes(self) -> list[str]:
        """Registered prefixes, longest first (the order they are tried in)."""
        return sorted(self._functions, key=lambda p: (-len(p), p))

    def find(self, condition: str) -> str | None:
        """The registered prefix that ``condition`` starts with, if any."""
        for prefix in self.prefixes():
            if condition.startswith(prefix):
                return prefix
        return None

    def check(self, condition: str) -> None:
        """Raise ``ExpressionError`` if ``condition`` can never be evaluated.

        Conditions with a registered prefix are left to their evaluator; others are parsed.
        """
        if self.find(condition) is None:
            compile_expression(condition)

    def evaluate(self, condition: str, context: dict[str, Any]) -> bool:
        """Evaluate ``condition`` against ``context`` (variables and node outputs)."""
        prefix = self.find(condition)
        if prefix is None:
            return evaluate_condition(condition, context)
        try:
            return bool(self._functions[prefix](condition, context))
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(
                f"condition evaluator '{prefix}' failed: {type(exc).__name__}: {exc}", condition
            ) from exc


class TransformerRegistry(_FunctionTable[StateTransformer]):
    """Named ``WorkflowState -> WorkflowState`` functions usable as a TRANSFORM node's transform."""

    def get(self, name: str) -> StateTransformer | None:
        return self._functions.get(name)

    def apply(self, name: str, state: WorkflowState) -> WorkflowState:
        """Apply the transformer ``name`` to ``state``; ``KeyError`` names the known ones."""
        func = self._functions.get(name)
        if func is None:
            known = ", ".join(self.list()) or "none"
            raise KeyError(f"no state transformer named '{name}' (registered: {known})")
        return func(state)

    def list(self) -> list[str]:
        return sorted(self._functions)


node_handler_registry: ProviderRegistry[NodeHandler] = ProviderRegistry(
    "workflow node handler", entry_point_group="liteagent.workflow_nodes"
)
"""Handlers for CUSTOM nodes, by name (built-ins come from entry points like plugins)."""


def register_node_handler(
    name: str, description: str = ""
) -> Callable[[type[NodeHandler]], type[NodeHandler]]:
    """Class decorator: CUSTOM nodes with ``config["handler"] == name`` run this handler."""
    return node_handler_registry.register(name, description)


workflow_hooks = WorkflowHooks()
condition_registry = ConditionRegistry()
transformer_registry = TransformerRegistry()


@condition_registry.register("expr:")
def _expression_evaluator(condition: str, context: dict[str, Any]) -> bool:
    """``expr:<expression>``: the safe expression language, spelt out explicitly."""
    return evaluate_condition(condition.removeprefix("expr:"), context)


@condition_registry.register("jmespath:")
def _jmespath_evaluator(condition: str, context: dict[str, Any]) -> bool:
    """``jmespath:<query>``: true when the JMESPath query gives a truthy value.

    Evaluated within a budget of work (``bounded_jmespath``): a query that would build or walk
    more data than that fails with ``ExpressionError`` instead of holding the process.
    """
    query = condition.removeprefix("jmespath:")
    if len(query) > MAX_LENGTH:
        raise ExpressionError(f"JMESPath query is longer than {MAX_LENGTH} characters", query)
    try:
        return bool(bounded_jmespath.search(query, context))
    except jmespath.exceptions.JMESPathError as exc:
        raise ExpressionError(f"invalid JMESPath query: {exc}", query) from None
    except RecursionError:
        raise ExpressionError("JMESPath query is nested too deeply", query) from None


@condition_registry.register("regex:")
def _regex_evaluator(condition: str, context: dict[str, Any]) -> bool:
    """``regex:<variable>,<pattern>``: true when the pattern matches the variable's start."""
    body = condition.removeprefix("regex:")
    if "," not in body:
        raise ExpressionError("write regex conditions as 'regex:<variable>,<pattern>'", condition)
    name, pattern = body.split(",", 1)
    value: Any = context
    for part in name.strip().split("."):
        value = value.get(part) if isinstance(value, dict) else None
    try:
        return (
            regex.match(pattern, "" if value is None else str(value), timeout=REGEX_TIMEOUT_SECONDS)
            is not None
        )
    except regex.error as exc:
        raise ExpressionError(f"invalid regular expression: {exc}", condition) from None
    except TimeoutError:
        raise ExpressionError(
            f"regular expression took longer than {REGEX_TIMEOUT_SECONDS}s", condition
        ) from None
