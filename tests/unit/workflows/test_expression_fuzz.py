"""Fuzzing the expression language: no input executes code, escapes the data, or runs unbounded.

Two generators: token soups (random sequences of real and hostile tokens, and raw text) and
random syntax trees rendered to text. Every input must either be refused with an
``ExpressionError`` or evaluate to plain data, without ever touching the trap objects in the
namespace (any attribute access, call, comparison or conversion of them would trip a flag).
Time is bounded structurally: an accepted expression has at most ``MAX_TOKENS`` tree nodes and
``MAX_DEPTH`` nesting, which the tests check, rather than timing anything.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liteagent.workflows import ExpressionError, compile_expression
from liteagent.workflows.expressions import (
    MAX_DEPTH,
    MAX_TOKENS,
    Arith,
    BoolOp,
    Compare,
    ListExpr,
    Literal,
    Node,
    Path,
    Unary,
)

TRIPPED: list[str] = []


class Trap:
    """Records any use beyond identity: the language must treat it as an opaque value."""

    def __getattr__(self, name: str) -> Any:
        TRIPPED.append(f"getattr {name}")
        raise AttributeError(name)

    def __call__(self, *a: Any, **k: Any) -> Any:
        TRIPPED.append("call")

    def __eq__(self, other: object) -> bool:
        TRIPPED.append("eq")
        return False

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        TRIPPED.append("bool")
        return True

    def __len__(self) -> int:
        TRIPPED.append("len")
        return 0

    def __iter__(self) -> Any:
        TRIPPED.append("iter")
        return iter(())

    def __contains__(self, item: object) -> bool:
        TRIPPED.append("contains")
        return False

    def __lt__(self, other: object) -> bool:
        TRIPPED.append("lt")
        return False

    def __add__(self, other: object) -> Any:
        TRIPPED.append("add")
        return self


NAMESPACE: dict[str, Any] = {
    "a": 1,
    "b": "text",
    "c": [1, "x", None, {"d": 2}],
    "obj": {"trap": Trap(), "n": 3.5, "s": "abc"},
    "trap": Trap(),
    "os": Trap(),
    "flag": False,
}

TOKENS = [
    "a", "b", "c", "obj", "trap", "os", "flag", "x", "d", "n", "s", "__class__", "__import__",
    "__builtins__", "_x", "and", "or", "not", "in", "true", "false", "null", "True", "None",
    "import", "lambda", "is", "eval", "exec", "0", "1", "-1", "3.5", "1e5", "9" * 50, "1e999",
    "'s'", '"q"', "'__'", "'\\u0041'", "'\\x41'", "'", '"', "==", "!=", "<", "<=", ">", ">=",
    "+", "-", "*", "/", "%", "**", "!", "&&", "||", "&", "|", "=", "(", ")", "[", "]", ",",
    ".", ":", ";", "{", "}", "@", "`", "\\", "#", "$", "?", "~", "^", " ", "\n", "\t", "\x00",
]  # fmt: skip


def _check(text: str) -> None:
    TRIPPED.clear()
    try:
        expr = compile_expression(text)
    except ExpressionError as exc:
        assert exc.message  # a clear message, never another exception type
        return
    assert _size(expr.tree) <= MAX_TOKENS
    assert _depth(expr.tree) <= 4 * MAX_DEPTH + 4
    try:
        value = expr.evaluate(NAMESPACE)
    except ExpressionError as exc:
        assert exc.message
    else:
        assert isinstance(value, (type(None), bool, int, float, str, list, dict, Trap))
    assert TRIPPED == [], f"{text!r} touched a trap: {TRIPPED}"


def _children(node: Node) -> list[Node]:
    if isinstance(node, ListExpr):
        return list(node.items)
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Arith | Compare):
        return [node.first, *(n for _, n in node.rest)]
    if isinstance(node, BoolOp):
        return list(node.operands)
    return []


def _size(node: Node) -> int:
    return 1 + sum(_size(c) for c in _children(node))


def _depth(node: Node) -> int:
    return 1 + max((_depth(c) for c in _children(node)), default=0)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join))
def test_token_soup_is_refused_or_evaluated_safely(text: str) -> None:
    _check(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_glued_token_soup(text: str) -> None:
    _check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["(", "not ", "-", "[", "!"]))
def test_deep_nesting_is_refused_not_crashing(n: int, opener: str) -> None:
    closer = {"(": ")", "[": "]"}.get(opener, "")
    _check(opener * n + "1" + closer * n)


# ------------------------------------------------------------------ random syntax trees

_SAFE_NAMES = st.sampled_from(["a", "b", "c", "obj", "trap", "flag", "missing", "x_1", "é"])
_KEYS = st.text(max_size=8).filter(lambda s: "__" not in s)


def _literals() -> st.SearchStrategy[Node]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=0, max_value=10**39),
        st.floats(min_value=0, allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ).map(Literal)


def _paths() -> st.SearchStrategy[Node]:
    segment = st.one_of(_KEYS, st.integers(min_value=-5, max_value=5))
    return st.builds(
        lambda first, rest: Path((first, *rest)), _SAFE_NAMES, st.lists(segment, max_size=4)
    )


def _compound(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def chain(ops: list[str]) -> st.SearchStrategy[Node]:
        return st.builds(
            lambda first, rest: (
                Arith(first, tuple(rest)) if ops[0] in "+-*/%" else Compare(first, tuple(rest))
            ),
            children,
            st.lists(st.tuples(st.sampled_from(ops), children), min_size=1, max_size=3),
        )

    return st.one_of(
        st.builds(lambda items: ListExpr(tuple(items)), st.lists(children, max_size=3)),
        st.builds(Unary, st.sampled_from(["-", "+", "not"]), children),
        chain(["+", "-"]),
        chain(["*", "/", "%"]),
        chain(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]),
        st.builds(
            lambda op, items: BoolOp(op, tuple(items)),
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=2, max_size=3),
        ),
    )


trees = st.recursive(st.one_of(_literals(), _paths()), _compound, max_leaves=40)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_trees_round_trip_and_evaluate_safely(tree: Node) -> None:
    from liteagent.workflows.expression_syntax import render as _render

    text = _render(tree)
    TRIPPED.clear()
    try:
        parsed = compile_expression(text)
    except ExpressionError as exc:
        # Only the structural limits may refuse a well-formed tree.
        assert any(w in exc.message for w in ("nested", "tokens", "characters", "digits"))
        return
    assert parsed.tree == tree, text
    _check(text)


def test_literal_floats_render_exactly() -> None:
    for value in (0.1, 1e16, 1.7976931348623157e308, 5e-324):
        text = Literal(value)
        assert compile_expression(repr(value)).tree == text
        assert math.isfinite(value)
    assert json.loads(json.dumps(0.1)) == 0.1
