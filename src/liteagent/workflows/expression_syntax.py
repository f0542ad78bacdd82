"""Syntax of the workflow expression language: tokenizer, syntax tree, parser and renderer.

See ``liteagent.workflows.expressions`` for the grammar and the interpreter. Everything here is
plain string processing with explicit limits; nothing is ever executed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from liteagent.workflows.errors import ExpressionError

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NUMBER_DIGITS",
    "MAX_PATH_SEGMENTS",
    "MAX_TOKENS",
    "Arith",
    "BoolOp",
    "Compare",
    "ListExpr",
    "Literal",
    "Node",
    "Path",
    "Unary",
    "parse",
    "render",
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
"""Most segments in one variable path."""

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
_OPS_BY_WIDTH: Final = ((2, _TWO_CHAR_OPS), (1, _ONE_CHAR_OPS))
_REFUSED_OPS: Final = {
    "**": "'**' (power) is not supported",
    "=": "'=' is not supported; use '==' to compare",
    "&": "'&' is not supported; use '&&'",
    "|": "'|' is not supported; use '||'",
}
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
        for width, known in _OPS_BY_WIDTH:  # the longest operator first
            op = text[i : i + width]
            if op in _REFUSED_OPS:
                raise ExpressionError(_REFUSED_OPS[op], text, i)
            if op in known:
                tokens.append(_Token("op", op, i))
                i += width
                break
        else:
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
        return self._bool_chain("or", ("or", "||"), self._and, depth)

    def _and(self, depth: int) -> Node:
        return self._bool_chain("and", ("and", "&&"), self._not, depth)

    def _bool_chain(
        self, op: str, spellings: tuple[str, ...], operand: Callable[[int], Node], depth: int
    ) -> Node:
        """``operand (op operand)*`` as one ``BoolOp`` (or the lone operand)."""
        operands = [operand(depth)]
        while self._is(*spellings):
            self._advance()
            operands.append(operand(depth))
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

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
# Rendering (used by tests and error messages; the inverse of parsing)


def render(node: Node) -> str:
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
        return "[" + ", ".join(render(i) for i in node.items) + "]"
    if isinstance(node, Unary):
        sep = " " if node.op == "not" else ""
        return f"({node.op}{sep}{render(node.operand)})"
    if isinstance(node, Arith | Compare):
        text = render(node.first)
        for op, operand in node.rest:
            text += f" {op} {render(operand)}"
        return f"({text})"
    return "(" + f" {node.op} ".join(render(o) for o in node.operands) + ")"


def parse(text: str) -> Node:
    """Parse ``text`` into a syntax tree; raises ``ExpressionError`` with the position."""
    return _Parser(text).parse()
