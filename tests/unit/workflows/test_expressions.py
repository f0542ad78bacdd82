"""The safe expression language: what it evaluates and what it refuses."""

from __future__ import annotations

import pytest

from liteagent.workflows import (
    ExpressionError,
    compile_expression,
    evaluate_condition,
    evaluate_expression,
    render_template,
)
from liteagent.workflows.expressions import MAX_DEPTH, MAX_LENGTH, MAX_TOKENS

NS = {
    "value": 20,
    "name": "Ada",
    "tags": ["urgent", "billing"],
    "response": {"status": "success", "items": [{"id": 1}, {"id": 2}], "count": 2},
    "flag": True,
    "nothing": None,
    "ratio": 0.5,
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("value > 10", True),
        ("value >= 20 and value < 21", True),
        ("value == 20.0", True),
        ("10 < value < 30", True),
        ("10 < value < 15", False),
        ("response.status == 'success'", True),
        ('response["status"] != "failure"', True),
        ("response.items.1.id", 2),
        ("response.items[-1].id", 2),
        ("response.items[5].id", None),
        ("missing.deeper.path", None),
        ("missing == null", True),
        ("nothing == None", True),
        ("'urgent' in tags", True),
        ("'legal' not in tags", True),
        ("'Ad' in name", True),
        ("'status' in response", True),
        ("value in [1, 2, 20]", True),
        ("not flag", False),
        ("!flag || value > 100", False),
        ("flag && (value == 1 or value == 20)", True),
        ("true == 1", False),
        ("false == null", False),
        ("value + 1", 21),
        ("value * ratio - 4 / 2", 8.0),
        ("value % 7", 6),
        ("-value", -20),
        ("name + '!'", "Ada!"),
        ("tags + ['x']", ["urgent", "billing", "x"]),
        ("[1, 'a', [true]]", [1, "a", [True]]),
        ("1.5e2", 150.0),
        (r"'it\'s \"quoted\"\n'", 'it\'s "quoted"\n'),
        ("'\\u00e9'", "é"),
        ("True and not False", True),
    ],
)
def test_evaluates(expr: str, expected: object) -> None:
    assert evaluate_expression(expr, NS) == expected


def test_conditions_use_truthiness() -> None:
    assert evaluate_condition("flag", NS) is True
    assert evaluate_condition("nothing", NS) is False
    assert evaluate_condition("tags", NS) is True
    assert evaluate_condition("response.count - 2", NS) is False


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os').system('echo hi')", "names containing '__'"),
        ("value.__class__", "names containing '__'"),
        ("response['__class__']", "keys containing '__'"),
        ("import os", "'import' is not supported"),
        ("lambda x", "'lambda' is not supported"),
        ("value is None", "'is' is not supported (use '== null' instead)"),
        ("len(tags)", "function calls are not supported"),
        ("(value)(1)", "function calls are not supported"),
        ("2 ** 100000", "'**' (power) is not supported"),
        ("value = 3", "use '==' to compare"),
        ("value & 1", "use '&&'"),
        ("value > ", "expression ended early"),
        ("", "expression is empty"),
        ("'open", "string is not closed"),
        ("value ; 1", "unexpected character ';'"),
        ("1" * 41, "more than 40 digits"),
        ("1e1000", "exponent is too large"),
        ("value > 1 2", "unexpected 2"),
        ("'a\\q'", "unknown escape"),
        ("eval", "'eval' is not supported"),
    ],
)
def test_refuses_with_clear_message(expr: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_expression(expr, NS)
    assert message in info.value.message
    assert info.value.status_code == 400


def test_limits() -> None:
    with pytest.raises(ExpressionError, match=f"the limit is {MAX_LENGTH}"):
        compile_expression("1 + " * MAX_LENGTH + "1")
    with pytest.raises(ExpressionError, match=f"more than {MAX_TOKENS} tokens"):
        compile_expression("1+" * (MAX_TOKENS // 2 + 1) + "1")
    with pytest.raises(ExpressionError, match=f"more than {MAX_DEPTH} levels"):
        compile_expression("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="more than 32 levels"):
        compile_expression("not " * 40 + "true")
    # Flat chains are long but shallow: fine.
    assert evaluate_expression(" + ".join(["1"] * 300), {}) == 300


def test_runtime_bounds() -> None:
    big = 10**40
    with pytest.raises(ExpressionError, match="number is too large"):
        evaluate_expression("x * x * x", {"x": big})
    with pytest.raises(ExpressionError, match="result is longer"):
        evaluate_expression("s + s", {"s": "a" * 60_000})
    with pytest.raises(ExpressionError, match="cannot apply '\\*' to string and number"):
        evaluate_expression("'a' * 1000000000", {})
    with pytest.raises(ExpressionError, match="division by zero"):
        evaluate_expression("1 / 0", {})
    with pytest.raises(ExpressionError, match="cannot compare null with number"):
        evaluate_expression("missing > 10", {})
    with pytest.raises(ExpressionError, match="'in' needs a string, list or object"):
        evaluate_expression("1 in 5", {})


def test_never_touches_attributes_of_objects() -> None:
    class Secret:
        password = "hunter2"

        def __getattr__(self, name: str) -> str:
            raise AssertionError("attribute access")

    ns = {"obj": Secret()}
    assert evaluate_expression("obj.password", ns) is None
    assert evaluate_expression("obj.password == 'hunter2'", ns) is False


def test_render_round_trips() -> None:
    expr = compile_expression("not (a.b[0] + 1 > 2) or 'x' in [\"x\", null, 1.5]")
    assert compile_expression(expr.render()).tree == expr.tree


def test_templates() -> None:
    ns = {"name": "Ada", "n": 2, "info": {"tags": ["a"]}, "none": None}
    out = render_template("Hi {{ name }}, ${n + 1} {{info}} [{{ none }}] {single} ${ n > 1 }", ns)
    assert out == 'Hi Ada, 3 {"tags": ["a"]} [] {single} true'
    with pytest.raises(ExpressionError, match="names containing '__'"):
        render_template("{{ __import__ }}", ns)
