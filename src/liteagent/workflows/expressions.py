"""A small, safe expression language for edge conditions, CONDITION/LOOP nodes and templates.

Nothing here calls ``eval``, ``exec``, ``compile`` or ``getattr``: a hand-written tokenizer and
recursive-descent parser build a tiny tree that an interpreter walks over plain data (mappings,
lists, strings, numbers, booleans and ``null``). Grammar, loosest binding first::

    expr        := or_expr
    or_expr     := and_expr (("or" | "||") and_expr)*
    and_expr    := not_expr (("and" | "&&") not_expr)*
    not_expr    := ("not" | "!") not_expr | comparison
    comparison  := sum ((== | != | < | <= | > | >= | in | not in) sum)*     (chained like Python)
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/" | "%") unary)*
    unary       := ("-" | "+") unary | primary
    primary     := NUMBER | STRING | true | false | null | list | path | "(" expr ")"
    list        := "[" (expr ("," expr)*)? "]"
    path        := NAME ("." (NAME | INT) | "[" (STRING | INT) "]")*

``True``/``False``/``None`` are accepted as spellings of ``true``/``false``/``null``. A path looks
up keys in mappings and indexes in lists only; a missing key gives ``null``. There are no
function calls, attribute access, imports, assignments or ``**``; names containing ``__`` are
refused. Limits (length, tokens, nesting, number size, result size) bound every evaluation, so
no input can run code or take unbounded time or memory. Every refusal is an ``ExpressionError``
that says what is wrong and where.

Templates (``render_template``) replace ``{{ expr }}`` and ``${expr}`` placeholders with the
value of the expression (``null`` → empty string, lists/mappings → JSON).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from liteagent.workflows.errors import ExpressionError
from liteagent.workflows.expression_syntax import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TOKENS,
    Arith,
    BoolOp,
    Compare,
    ListExpr,
    Literal,
    Node,
    Path,
    Unary,
    parse,
    render,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_TOKENS",
    "Arith",
    "BoolOp",
    "Compare",
    "Expression",
    "ListExpr",
    "Literal",
    "Node",
    "Path",
    "Unary",
    "compile_expression",
    "evaluate_condition",
    "evaluate_expression",
    "render_template",
    "template_expressions",
]

MAX_INT: Final = 10**100
"""Integer results larger than this (in magnitude) are refused."""
MAX_RESULT_SIZE: Final = 100_000
"""Longest string or list an operator may build."""
MAX_TEMPLATE_LENGTH: Final = 100_000
MAX_PLACEHOLDERS: Final = 200


# --------------------------------------------------------------------------------------------
# Interpreter


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


MAX_COMPARE_DEPTH: Final = 64


def _equal(a: Any, b: Any, depth: int = 0) -> bool:
    """Structural equality over plain data; other objects are equal only to themselves."""
    if depth > MAX_COMPARE_DEPTH:
        raise ExpressionError("values are nested too deeply to compare")
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka in ("null", "boolean", "number", "string"):
        return bool(a == b)
    if ka == "list":
        return len(a) == len(b) and all(_equal(x, y, depth + 1) for x, y in zip(a, b, strict=True))
    if ka == "object":
        return len(a) == len(b) and all(
            isinstance(k, str) and k in b and _equal(v, b[k], depth + 1) for k, v in a.items()
        )
    return a is b


def _resolve(namespace: Mapping[str, Any], parts: tuple[str | int, ...]) -> Any:
    current: Any = namespace
    for part in parts:
        if isinstance(current, Mapping):
            current = current.get(part if isinstance(part, str) else str(part))
        elif isinstance(current, list | tuple) and isinstance(part, int):
            if -len(current) <= part < len(current):
                current = current[part]
            else:
                return None
        else:
            return None
    return current


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list) and len(value) > MAX_RESULT_SIZE:
        raise ExpressionError(f"result is longer than {MAX_RESULT_SIZE} items")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ExpressionError("number is too large")
    if isinstance(value, float) and math.isnan(value):
        raise ExpressionError("result is not a number")
    return value


def _arith(op: str, a: Any, b: Any) -> Any:
    ka, kb = _kind(a), _kind(b)
    if op == "+" and ka == kb == "string":
        return _check_size(a + b)
    if op == "+" and ka == kb == "list":
        return _check_size([*a, *b])
    if ka != "number" or kb != "number":
        raise ExpressionError(f"cannot apply '{op}' to {ka} and {kb}")
    if op in "/%" and b == 0:
        raise ExpressionError("division by zero")
    if op == "+":
        return _check_size(a + b)
    if op == "-":
        return _check_size(a - b)
    if op == "*":
        return _check_size(a * b)
    if op == "/":
        return _check_size(a / b)
    return _check_size(a % b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op in ("in", "not in"):
        found = _contains(b, a)
        return found if op == "in" else not found
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka not in ("number", "string"):
        raise ExpressionError(f"cannot compare {ka} with {kb} using '{op}'")
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _contains(container: Any, item: Any) -> bool:
    kind = _kind(container)
    if kind == "null":
        return False
    if kind == "string":
        if not isinstance(item, str):
            raise ExpressionError(f"'in' a string needs a string on the left, not {_kind(item)}")
        return item in container
    if kind == "list":
        return any(_equal(item, element) for element in container)
    if kind == "object":
        return isinstance(item, str) and item in container
    raise ExpressionError(f"'in' needs a string, list or object on the right, not {kind}")


def _eval(node: Node, ns: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Path):
        return _resolve(ns, node.parts)
    if isinstance(node, ListExpr):
        return [_eval(item, ns) for item in node.items]
    if isinstance(node, Unary):
        value = _eval(node.operand, ns)
        if node.op == "not":
            return not _truthy(value)
        if _kind(value) != "number":
            raise ExpressionError(f"cannot apply unary '{node.op}' to {_kind(value)}")
        return -value if node.op == "-" else value
    if isinstance(node, Arith):
        result = _eval(node.first, ns)
        for op, operand in node.rest:
            result = _arith(op, result, _eval(operand, ns))
        return result
    if isinstance(node, Compare):
        left = _eval(node.first, ns)
        for op, operand in node.rest:
            right = _eval(operand, ns)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    # BoolOp
    if node.op == "and":
        return all(_truthy(_eval(operand, ns)) for operand in node.operands)
    return any(_truthy(_eval(operand, ns)) for operand in node.operands)


def _truthy(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str | list | tuple | Mapping):
        return bool(value)
    return True


# --------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Expression:
    """A parsed expression; ``evaluate`` runs it against a namespace of plain data."""

    source: str
    tree: Node

    def evaluate(self, namespace: Mapping[str, Any]) -> Any:
        """The value of the expression, with names looked up in ``namespace``."""
        try:
            return _eval(self.tree, namespace)
        except ExpressionError as exc:
            if exc.expression:
                raise
            raise ExpressionError(exc.message, self.source) from None

    def render(self) -> str:
        """Canonical, fully parenthesised text that parses back to the same tree."""
        return render(self.tree)


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> Expression:
    """Parse ``text`` (cached); raises ``ExpressionError`` with the position of any problem."""
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, not {type(text).__name__}")
    return Expression(text, parse(text))


def evaluate_expression(text: str, namespace: Mapping[str, Any]) -> Any:
    """Parse and evaluate ``text`` against ``namespace``."""
    return compile_expression(text).evaluate(namespace)


def evaluate_condition(text: str, namespace: Mapping[str, Any]) -> bool:
    """Evaluate ``text`` and return its truth value (empty, zero and ``null`` are false)."""
    return _truthy(evaluate_expression(text, namespace))


_PLACEHOLDER: Final = re.compile(r"\{\{(.*?)\}\}|\$\{([^{}]*)\}", re.DOTALL)


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def render_template(template: str, namespace: Mapping[str, Any]) -> str:
    """Replace ``{{ expr }}`` and ``${expr}`` placeholders with their values as text."""
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise ExpressionError(f"template is longer than {MAX_TEMPLATE_LENGTH} characters")
    pieces: list[str] = []
    last = 0
    for count, match in enumerate(_PLACEHOLDER.finditer(template), start=1):
        if count > MAX_PLACEHOLDERS:
            raise ExpressionError(f"template has more than {MAX_PLACEHOLDERS} placeholders")
        expr = match.group(1) if match.group(1) is not None else match.group(2)
        pieces.append(template[last : match.start()])
        pieces.append(_to_text(evaluate_expression(expr.strip(), namespace)))
        last = match.end()
    pieces.append(template[last:])
    return "".join(pieces)


def template_expressions(template: str) -> Sequence[str]:
    """The expressions inside a template's placeholders (for validation at build time)."""
    return [
        (m.group(1) if m.group(1) is not None else m.group(2)).strip()
        for m in _PLACEHOLDER.finditer(template)
    ]
