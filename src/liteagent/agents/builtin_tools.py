"""Built-in tools a catalog entry can list by name (``tools: [calculator, save_note]``).

- ``calculator``: arithmetic on a parsed syntax tree (never ``eval``), with size limits.
- ``current_time``: the date and time in an IANA time zone.
- ``convert_units``: unit conversion with pint (length, mass, temperature, volume, speed…).
- ``save_note`` (asks for approval) and ``list_notes``: notes kept per user in LiteAgent's
  database.

Tools are built per user from a ``ToolContext`` by factories in ``tool_registry`` (a
``ProviderRegistry``); third-party packages add tools under the ``liteagent.tools`` entry-point
group with a factory ``(context: ToolContext) -> Tool``.

The JSON schemas are tight on purpose (patterns, lengths): with grammar-constrained decoding
(the local llama.cpp model) the schema is what keeps a small model's arguments valid.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field

from liteagent.agents.tools import FunctionTool, Tool, ToolInputError
from liteagent.registry import ProviderRegistry

if TYPE_CHECKING:
    from liteagent.storage.repositories import NoteRepository

__all__ = [
    "ToolContext",
    "available_tools",
    "build_tool",
    "calculate",
    "tool_registry",
]

# ----------------------------------------------------------------------------- calculator
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPONENT = 1000
_MAX_MAGNITUDE = 1e300


def calculate(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely.

    Supports ``+ - * / // % **`` (``^`` means power), parentheses, ``pi``, ``e`` and the
    functions sqrt, abs, round, floor, ceil, log, log10, exp, sin, cos, tan.

    Raises:
        ToolInputError: for anything else, or results too large to be useful.
    """
    text = expression.strip().replace("^", "**").replace("\u00d7", "*").replace("\u00f7", "/")
    if not text:
        raise ToolInputError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolInputError(f"'{expression}' is not a valid arithmetic expression") from None
    value: int | float = _evaluate(tree.body)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ToolInputError("booleans are not numbers here")
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ToolInputError(f"exponent {right} is too large (at most {_MAX_EXPONENT})")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolInputError("division by zero") from None
        if isinstance(result, complex):
            raise ToolInputError("the result is not a real number")
        if abs(result) > _MAX_MAGNITUDE:
            raise ToolInputError("the result is too large")
        return result
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_evaluate(a) for a in node.args]
        try:
            return _FUNCTIONS[node.func.id](*args)
        except (ValueError, TypeError) as exc:
            raise ToolInputError(f"{node.func.id}: {exc}") from None
    raise ToolInputError(
        f"unsupported element '{ast.unparse(node)}': use numbers, + - * / // % ** ( ) "
        "and sqrt, abs, round, floor, ceil, log, log10, exp, sin, cos, tan, pi, e"
    )


Expression = Annotated[
    str,
    Field(
        description="The arithmetic expression, e.g. 12*7 or (3+4)/2",
        pattern=r"^[-(0-9a-z][0-9a-z+\-*/%^()., ]*$",
        max_length=200,
    ),
]


def calculator(expression: Expression) -> str:
    """Evaluate an arithmetic expression such as 12*7 or sqrt(2)*10."""
    value = calculate(expression)
    return (
        f"{expression.strip()} = {value:g}"
        if isinstance(value, float)
        else (f"{expression.strip()} = {value}")
    )


# ----------------------------------------------------------------------------- time
TimeZoneName = Annotated[
    str,
    Field(
        description="IANA time zone such as UTC, Europe/Paris or America/New_York",
        pattern=r"^[A-Za-z][A-Za-z0-9_+\-/]*$",
        max_length=40,
    ),
]


def current_time(timezone: TimeZoneName = "UTC") -> str:
    """The current date and time in a time zone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        close = sorted(z for z in available_timezones() if timezone.lower() in z.lower())[:5]
        hint = f" Did you mean: {', '.join(close)}?" if close else " Use e.g. Europe/Paris."
        raise ToolInputError(f"unknown time zone '{timezone}'.{hint}") from None
    now = datetime.now(zone)
    return now.strftime(f"%A %d %B %Y, %H:%M:%S ({timezone}, UTC%z)")


# ----------------------------------------------------------------------------- units
UnitName = Annotated[
    str,
    Field(
        description="A unit such as km, mile, kg, lb, degC, degF, liter, gallon, km/h",
        pattern=r"^[A-Za-z][A-Za-z0-9 /*^_.]*$",
        max_length=30,
    ),
]


@lru_cache(maxsize=1)
def _units() -> Any:
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


_ALIASES = {
    "celsius": "degC",
    "c": "degC",
    "fahrenheit": "degF",
    "f": "degF",
    "kelvin": "kelvin",
    "mi": "mile",
    "miles": "mile",
    "kph": "km/h",
    "mph": "mile/hour",
}


def convert_units(value: float, from_unit: UnitName, to_unit: UnitName) -> str:
    """Convert a quantity between units (length, mass, temperature, volume, speed…)."""
    import pint

    ureg = _units()
    src = _ALIASES.get(from_unit.strip().lower(), from_unit.strip())
    dst = _ALIASES.get(to_unit.strip().lower(), to_unit.strip())
    try:
        result = ureg.Quantity(value, src).to(dst)
    except pint.errors.UndefinedUnitError as exc:
        raise ToolInputError(f"unknown unit {exc.unit_names!s}") from None
    except pint.errors.DimensionalityError:
        raise ToolInputError(f"cannot convert {from_unit} to {to_unit}: different kinds") from None
    return f"{value:g} {from_unit} = {result.magnitude:.6g} {to_unit}"


# ----------------------------------------------------------------------------- notes
@dataclass(frozen=True)
class ToolContext:
    """What tool factories may use: the user the agent runs for and LiteAgent's storage."""

    owner: str = "anonymous"
    notes: NoteRepository | None = None


def _notes_tools(context: ToolContext) -> tuple[FunctionTool, FunctionTool]:
    repo = context.notes
    if repo is None:
        raise ValueError("the notes tools need LiteAgent's database")
    owner = context.owner

    async def save_note(
        title: Annotated[str, Field(description="A short title", min_length=1, max_length=80)],
        text: Annotated[str, Field(description="The note itself", min_length=1, max_length=500)],
    ) -> str:
        """Save a note for the user."""
        note = await repo.add(owner=owner, title=title.strip(), text=text.strip())
        return f"Saved note #{note.id}: {note.title}"

    async def list_notes(
        limit: Annotated[int, Field(description="How many notes", ge=1, le=50)] = 10,
    ) -> str:
        """List the user's saved notes, newest first."""
        notes = await repo.list(owner=owner, limit=limit)
        if not notes:
            return "No notes saved yet."
        return "\n".join(f"#{n.id} {n.title}: {n.text}" for n in notes)

    return (
        FunctionTool(save_note, requires_human_approval=True),
        FunctionTool(list_notes),
    )


# ----------------------------------------------------------------------------- registry
tool_registry: ProviderRegistry[Tool] = ProviderRegistry(
    "tool", entry_point_group="liteagent.tools"
)
"""Tool factories by name: ``tool_registry.get(name, context=ToolContext(...))``."""


def _static(func: Callable[..., Any]) -> Callable[..., Tool]:
    built = FunctionTool(func)
    return lambda context=None, **_: built


tool_registry.register_factory("calculator", _static(calculator), "Safe arithmetic")
tool_registry.register_factory("current_time", _static(current_time), "Date and time in a zone")
tool_registry.register_factory("convert_units", _static(convert_units), "Unit conversion (pint)")
tool_registry.register_factory(
    "save_note", lambda context, **_: _notes_tools(context)[0], "Save a note (needs approval)"
)
tool_registry.register_factory(
    "list_notes", lambda context, **_: _notes_tools(context)[1], "List the user's notes"
)


def available_tools() -> list[str]:
    """Names a catalog entry can list under ``tools``."""
    return tool_registry.list_providers()


def build_tool(name: str, context: ToolContext) -> Tool:
    """Build the tool registered as ``name`` for ``context``."""
    return tool_registry.get(name, context=context)
