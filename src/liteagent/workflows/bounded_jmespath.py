"""JMESPath queries evaluated within a fixed budget of work.

A JMESPath query can ask for data far larger than itself. ``[@,@]`` pairs a value with itself
without copying it, so each ``|[@,@]`` doubles what a later ``to_string`` serialises or ``==``
compares node by node; each ``|[@,@][]`` doubles a real list. A few hundred characters can
thereby ask for gigabytes and minutes. ``search`` runs a query with jmespath's own interpreter
but charges one budget for:

- every node it visits (projections visit once per element);
- every element a flatten (``[]``) produces, before producing it;
- every node of the values that ``==``/``!=``, ``to_string`` and ``contains`` walk, and the
  length of the arrays, objects and strings any other function goes through.

A query over the budget stops with ``ExpressionError`` before the large value is built, and so
does a function call whose arguments (or, for ``join``, its result) hold more characters than
``MAX_CHARS``. Conditions over workflow state take a few dozen steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jmespath
from jmespath.visitor import TreeInterpreter

from liteagent.workflows.errors import ExpressionError

__all__ = ["MAX_CHARS", "MAX_STEPS", "search"]

MAX_STEPS = 50_000
MAX_CHARS = 4_000_000
# Functions that walk their arguments all the way down (serialise or compare them).
_DEEP_FUNCTIONS = frozenset({"to_string", "contains"})


class _BoundedInterpreter(TreeInterpreter):  # type: ignore[misc]
    """jmespath's tree interpreter, charging the work described in the module docstring."""

    def __init__(self, query: str, max_steps: int, max_chars: int) -> None:
        super().__init__()
        self._query = query
        self._steps_left = max_steps
        self._max_steps = max_steps
        self._max_chars = max_chars

    def _charge(self, steps: int) -> None:
        self._steps_left -= steps
        if self._steps_left < 0:
            raise ExpressionError(
                f"JMESPath query needs more than {self._max_steps} steps; "
                "it builds or walks too much data",
                self._query,
            )

    def _deep_size(self, value: Any) -> int:
        """Characters in ``value``, charging one step per node (shared nodes count each time)."""
        chars = 0
        stack = [value]
        while stack:
            item = stack.pop()
            self._charge(1)
            if isinstance(item, str):
                chars += len(item)
            elif isinstance(item, Mapping):
                chars += sum(len(k) for k in item if isinstance(k, str))
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return chars

    def _check_chars(self, chars: int) -> None:
        if chars > self._max_chars:
            raise ExpressionError(
                f"JMESPath query works on more than {self._max_chars} characters", self._query
            )

    def visit(self, node: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._charge(1)
        return super().visit(node, *args, **kwargs)

    def visit_flatten(self, node: dict[str, Any], value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        self._charge(len(base) + sum(len(e) for e in base if isinstance(e, list)))
        merged: list[Any] = []
        for element in base:
            if isinstance(element, list):
                merged.extend(element)
            else:
                merged.append(element)
        return merged

    def visit_comparator(self, node: dict[str, Any], value: Any) -> Any:
        if node["value"] not in self._EQUALITY_OPS:  # ordering: numbers only, no walk
            return super().visit_comparator(node, value)
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        self._deep_size(left)
        self._deep_size(right)
        return self.COMPARATOR_FUNC[node["value"]](left, right)

    def visit_function_expression(self, node: dict[str, Any], value: Any) -> Any:
        name = node["value"]
        args = [self.visit(child, value) for child in node["children"]]
        chars = 0
        for arg in args:
            if name in _DEEP_FUNCTIONS:
                chars += self._deep_size(arg)
            elif isinstance(arg, str | list | Mapping):
                self._charge(len(arg))
                chars += len(arg) if isinstance(arg, str) else 0
        if name == "join" and len(args) == 2:
            sep, items = args
            if isinstance(sep, str) and isinstance(items, list):
                chars += len(sep) * len(items)
                chars += sum(len(item) for item in items if isinstance(item, str))
        self._check_chars(chars)
        return self._functions.call_function(name, args)


def search(query: str, data: Any, *, max_steps: int = MAX_STEPS, max_chars: int = MAX_CHARS) -> Any:
    """Evaluate a JMESPath ``query`` against ``data`` within the budget.

    Raises:
        ExpressionError: The query is over the budget (the message says which limit).
        jmespath.exceptions.JMESPathError: The query is not valid JMESPath.
    """
    parsed = jmespath.compile(query).parsed
    return _BoundedInterpreter(query, max_steps, max_chars).visit(parsed, data)
