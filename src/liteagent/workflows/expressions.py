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

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_TOKENS",
    "Expression",
    "compile_expression",
    "evaluate_condition",
    "evaluate_expression",
    "render_template",
]

MAX_LENGTH: Final = 4000
"""Longest expression accepted, in characters."""
MAX_TOKENS: Final = 1000
"""Most tokens in one expression."""
MAX_DEPTH: Final = 32
"""Deepest nesting of parentheses, lists and unary operators."""
MAX_NUMBER_DIGITS: Final = 40
"""Most digits in a number literal."""
MAX_PATH_SEGMENTS: Final = 32
MAX_INT: Final = 10**100
"""Integer results larger than this (in magnitude) are refused."""
MAX_RESULT_SIZE: Final = 100_000
"""Longest string or list an operator may build."""
MAX_TEMPLATE_LENGTH: Final = 100_000
MAX_PLACEHOLDERS: Final = 200

_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_CONSTANTS: Final[dict[str, Any]] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
# Python words someone may try; refused with a message that says what the language is.
_FORBIDDEN: Final = frozenset(
    {
        "import", "from", "lambda", "def", "class", "exec", "eval", "global", "nonlocal",
        "yield", "await", "async", "with", "as", "del", "is", "if", "else", "elif", "for",
        "while", "return", "pass", "raise", "try", "except", "finally", "assert", "break",
        "continue", "getattr", "setattr", "open", "compile", "globals", "locals", "vars",
    }
)  # fmt: skip
_TWO_CHAR_OPS: Final = frozenset({"==", "!=", "<=", ">=", "&&", "||"})
_ONE_CHAR_OPS: Final = frozenset("<>+-*/%!()[],.")
_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not in"})


@dataclass(frozen=True)
class _Token:
    kind: str  # num | str | name | op | end
    value: Any
    pos: int


# --------------------------------------------------------------------------------------------
# Tokenizer


def _tokenize(text: str) -> list[_Token]:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}", text[:120]
        )
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if len(tokens) >= MAX_TOKENS:
            raise ExpressionError(f"expression has more than {MAX_TOKENS} tokens", text, i)
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit():
            start = i
            while i < n and text[i].isdigit():
                i += 1
            is_float = False
            if i + 1 < n and text[i] == "." and text[i + 1].isdigit():
                is_float = True
                i += 1
                while i < n and text[i].isdigit():
                    i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isdigit():
                    exp_start = j
                    while j < n and text[j].isdigit():
                        j += 1
                    if j - exp_start > 3:
                        raise ExpressionError("number exponent is too large", text, start)
                    is_float = True
                    i = j
            literal = text[start:i]
            if sum(c.isdigit() for c in literal) > MAX_NUMBER_DIGITS:
                raise ExpressionError(
                    f"number has more than {MAX_NUMBER_DIGITS} digits", text, start
                )
            if not literal.isascii():
                raise ExpressionError("numbers must use the digits 0-9", text, start)
            value: Any = float(literal) if is_float else int(literal)
            tokens.append(_Token("num", value, start))
            continue
        if ch.isalpha() or ch == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            word = text[start:i]
            if "__" in word:
                raise ExpressionError(
                    f"name {word!r} is not allowed: names containing '__' are refused "
                    "(expressions cannot reach attributes or internals)",
                    text,
                    start,
                )
            tokens.append(_Token("name", word, start))
            continue
        if ch in "'\"":
            value, i = _scan_string(text, i)
            tokens.append(_Token("str", value, i))
            continue
        pair = text[i : i + 2]
        if pair == "**":
            raise ExpressionError("'**' (power) is not supported", text, i)
        if pair in _TWO_CHAR_OPS:
            tokens.append(_Token("op", pair, i))
            i += 2
            continue
        if ch == "=":
            raise ExpressionError("'=' is not supported; use '==' to compare", text, i)
        if ch in _ONE_CHAR_OPS:
            tokens.append(_Token("op", ch, i))
            i += 1
            continue
        if ch in "&|":
            raise ExpressionError(f"'{ch}' is not supported; use '{ch * 2}'", text, i)
        raise ExpressionError(f"unexpected character {ch!r}", text, i)
    tokens.append(_Token("end", None, n))
    return tokens


_ESCAPES: Final = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0",
    "\\": "\\", "'": "'", '"': '"', "/": "/",
}  # fmt: skip


def _scan_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    i = start + 1
    parts: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(parts), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            esc = text[i + 1]
            if esc == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise ExpressionError("'\\u' must be followed by 4 hex digits", text, i)
                parts.append(chr(int(digits, 16)))
                i += 6
                continue
            if esc not in _ESCAPES:
                raise ExpressionError(f"unknown escape '\\{esc}' in string", text, i)
            parts.append(_ESCAPES[esc])
            i += 2
            continue
        parts.append(ch)
        i += 1
    raise ExpressionError("string is not closed", text, start)


# --------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    parts: tuple[str | int, ...]


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    op: str  # "-" | "+" | "not"
    operand: Node


@dataclass(frozen=True)
class Arith:
    first: Node
    rest: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Compare:
    first: Node
    rest: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]


Node = Literal | Path | ListExpr | Unary | Arith | Compare | BoolOp


# --------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def _is(self, *values: str) -> bool:
        t = self.tok
        return t.kind in ("op", "name") and t.value in values

    def _advance(self) -> _Token:
        t = self.tok
        self.i += 1
        return t

    def _error(self, message: str, tok: _Token | None = None) -> ExpressionError:
        return ExpressionError(message, self.text, (tok or self.tok).pos)

    def _unexpected(self, expected: str) -> ExpressionError:
        t = self.tok
        if t.kind == "end":
            return self._error(f"expression ended early; expected {expected}")
        if t.kind == "name" and t.value in _FORBIDDEN:
            hint = " (use '== null' instead)" if t.value == "is" else ""
            return self._error(
                f"'{t.value}' is not supported{hint}: expressions only compare and combine values"
            )
        if t.kind == "op" and t.value == "(":
            return self._error("function calls are not supported")
        shown = repr(t.value) if t.kind in ("str", "num") else f"'{t.value}'"
        return self._error(f"unexpected {shown}; expected {expected}")

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self._error("expression is empty")
        node = self._or(0)
        if self.tok.kind != "end":
            raise self._unexpected("an operator or the end of the expression")
        return node

    def _nest(self, depth: int) -> int:
        if depth + 1 > MAX_DEPTH:
            raise self._error(f"expression is nested more than {MAX_DEPTH} levels deep")
        return depth + 1

    def _or(self, depth: int) -> Node:
        operands = [self._and(depth)]
        while self._is("or", "||"):
            self._advance()
            operands.append(self._and(depth))
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def _and(self, depth: int) -> Node:
        operands = [self._not(depth)]
        while self._is("and", "&&"):
            self._advance()
            operands.append(self._not(depth))
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def _not(self, depth: int) -> Node:
        if self._is("not", "!"):
            self._advance()
            return Unary("not", self._not(self._nest(depth)))
        return self._comparison(depth)

    def _comparison(self, depth: int) -> Node:
        first = self._sum(depth)
        rest: list[tuple[str, Node]] = []
        while True:
            if self._is("==", "!=", "<", "<=", ">", ">=", "in"):
                op = str(self._advance().value)
            elif self._is("not") and self._peek().kind == "name" and self._peek().value == "in":
                self.i += 2
                op = "not in"
            else:
                break
            rest.append((op, self._sum(depth)))
        return Compare(first, tuple(rest)) if rest else first

    def _sum(self, depth: int) -> Node:
        first = self._product(depth)
        rest: list[tuple[str, Node]] = []
        while self._is("+", "-"):
            op = str(self._advance().value)
            rest.append((op, self._product(depth)))
        return Arith(first, tuple(rest)) if rest else first

    def _product(self, depth: int) -> Node:
        first = self._unary(depth)
        rest: list[tuple[str, Node]] = []
        while self._is("*", "/", "%"):
            op = str(self._advance().value)
            rest.append((op, self._unary(depth)))
        return Arith(first, tuple(rest)) if rest else first

    def _unary(self, depth: int) -> Node:
        if self._is("-", "+"):
            op = str(self._advance().value)
            return Unary(op, self._unary(self._nest(depth)))
        return self._primary(depth)

    def _primary(self, depth: int) -> Node:
        t = self.tok
        if t.kind in ("num", "str"):
            self._advance()
            node: Node = Literal(t.value)
        elif t.kind == "name" and t.value in _CONSTANTS:
            self._advance()
            node = Literal(_CONSTANTS[t.value])
        elif t.kind == "name" and t.value not in _KEYWORDS and t.value not in _FORBIDDEN:
            node = self._path()
        elif self._is("("):
            self._advance()
            node = self._or(self._nest(depth))
            if not self._is(")"):
                raise self._unexpected("')'")
            self._advance()
        elif self._is("["):
            node = self._list(self._nest(depth))
        else:
            raise self._unexpected("a value")
        if self._is("("):
            raise self._error("function calls are not supported")
        return node

    def _list(self, depth: int) -> Node:
        self._advance()
        items: list[Node] = []
        if not self._is("]"):
            items.append(self._or(depth))
            while self._is(","):
                self._advance()
                items.append(self._or(depth))
        if not self._is("]"):
            raise self._unexpected("',' or ']'")
        self._advance()
        return ListExpr(tuple(items))

    def _path(self) -> Node:
        parts: list[str | int] = [str(self._advance().value)]
        while self._is(".", "["):
            if len(parts) >= MAX_PATH_SEGMENTS:
                raise self._error(f"path has more than {MAX_PATH_SEGMENTS} segments")
            if self._advance().value == ".":
                t = self.tok
                if t.kind == "name":
                    parts.append(str(t.value))
                elif t.kind == "num" and isinstance(t.value, int):
                    parts.append(t.value)
                else:
                    raise self._unexpected("a key name or index after '.'")
                self._advance()
            else:
                negative = self._is("-")
                if negative:
                    self._advance()
                t = self.tok
                if t.kind == "num" and isinstance(t.value, int):
                    parts.append(-t.value if negative else t.value)
                elif t.kind == "str" and not negative:
                    if "__" in t.value:
                        raise self._error("keys containing '__' are refused")
                    parts.append(t.value)
                else:
                    raise self._unexpected("a string key or integer index inside '[ ]'")
                self._advance()
                if not self._is("]"):
                    raise self._unexpected("']'")
                self._advance()
        return Path(tuple(parts))


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
# Rendering (used by tests and error messages; the inverse of parsing)


def _render(node: Node) -> str:
    if isinstance(node, Literal):
        if isinstance(node.value, float):
            return repr(node.value)
        return json.dumps(node.value, ensure_ascii=False)
    if isinstance(node, Path):
        out = str(node.parts[0])
        for part in node.parts[1:]:
            out += (
                f"[{part}]"
                if isinstance(part, int)
                else f"[{json.dumps(part, ensure_ascii=False)}]"
            )
        return out
    if isinstance(node, ListExpr):
        return "[" + ", ".join(_render(i) for i in node.items) + "]"
    if isinstance(node, Unary):
        sep = " " if node.op == "not" else ""
        return f"({node.op}{sep}{_render(node.operand)})"
    if isinstance(node, Arith | Compare):
        text = _render(node.first)
        for op, operand in node.rest:
            text += f" {op} {_render(operand)}"
        return f"({text})"
    return "(" + f" {node.op} ".join(_render(o) for o in node.operands) + ")"


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
        return _render(self.tree)


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> Expression:
    """Parse ``text`` (cached); raises ``ExpressionError`` with the position of any problem."""
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, not {type(text).__name__}")
    return Expression(text, _Parser(text).parse())


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
