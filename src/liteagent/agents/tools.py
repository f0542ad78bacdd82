"""Tools: define them from plain functions, register them, run them safely.

``@tool`` / ``FunctionTool`` derive a tool's JSON schema from the function's type hints (via
pydantic, so ``Annotated[str, Field(max_length=80)]`` constraints reach the schema) and its
description and per-argument help from the Google-style docstring (via ``docstring_parser``).
Arguments the model sends are validated against the same hints before the function runs.

``Tool.validate_arguments`` says what is wrong with a call's arguments without running it:
pydantic checks a ``FunctionTool``'s arguments against the function's hints, ``jsonschema``
checks any other tool's against its declared schema. The agent uses it on every proposed call,
so a call that needs approval is corrected by the model before a person is asked.

``ToolExecutor`` runs calls with a per-tool timeout, independent calls in parallel, and turns
every failure into a compact, truncated error result the model can read (factor 9) instead of an
exception.

Example::

    @tool(name="weather", description="Get current weather for a location")
    async def get_weather(location: str, units: str = "celsius") -> dict:
        '''
        Args:
            location: City name or coordinates
            units: Temperature units (celsius or fahrenheit)
        '''
        return {"temperature": 22, "conditions": "sunny", "location": location}

    registry = ToolRegistry()
    registry.register(FunctionTool(func=get_weather, name="weather", description="..."))
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, overload

import docstring_parser
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ArgsKwargs, SchemaValidator, core_schema

from liteagent.agents.types import (
    ParameterType,
    ToolCall,
    ToolDefinition,
    ToolParameter,
    to_json_value,
)

__all__ = [
    "FunctionTool",
    "ParameterType",
    "Tool",
    "ToolCall",
    "ToolDefinition",
    "ToolExecutor",
    "ToolParameter",
    "ToolRegistry",
    "ToolResult",
    "compact_error",
    "tool",
]

DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_ERROR_CHARS = 500
MAX_RESULT_CHARS = 8000


@dataclass
class ToolResult:
    """What running one call produced.

    Attributes:
        tool_call_id: The call's id.
        name: Tool name.
        content: The result as text (JSON for structured results), or the compact error.
        is_error: Whether the call failed.
        duration_ms: Wall time of the call.
    """

    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool_call_id": self.tool_call_id,
            "name": self.name,
            "content": self.content,
            "is_error": self.is_error,
        }


def compact_error(exc: BaseException | str, limit: int = MAX_ERROR_CHARS) -> str:
    """One line saying what went wrong, at most ``limit`` characters (factor 9)."""
    if isinstance(exc, BaseException):
        text = str(exc).strip() or type(exc).__name__
        if not isinstance(exc, ToolInputError):
            text = f"{type(exc).__name__}: {text}"
    else:
        text = exc
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ToolInputError(ValueError):
    """The model called a tool with arguments that do not fit its schema."""


def result_text(value: Any, limit: int = MAX_RESULT_CHARS) -> str:
    """A tool's return value as text for the model: strings as they are, the rest as JSON."""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(to_json_value(value), ensure_ascii=False, default=str)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Tool(ABC):
    """Something the agent can call."""

    requires_human_approval: bool = False
    timeout_seconds: float | None = None

    @abstractmethod
    def get_definition(self) -> ToolDefinition:
        """Name, description and JSON schema, with ``execute`` as the handler."""

    @abstractmethod
    async def execute(self, **kwargs: Any) -> Any:
        """Run the tool with validated keyword arguments."""

    @property
    def name(self) -> str:
        return self.get_definition().name

    def validate_arguments(self, arguments: Mapping[str, Any]) -> str | None:
        """Check ``arguments`` against the tool's JSON schema without running the tool.

        Returns:
            ``None`` when they fit, else one line naming each missing or invalid argument.
        """
        definition = self.get_definition()
        validator = _schema_validator(json.dumps(definition.parameters, sort_keys=True))
        errors = sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path))
        if not errors:
            return None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.path) or 'arguments'}: {err.message}" for err in errors
        )
        return f"invalid arguments for {definition.name}: {problems}"


@lru_cache(maxsize=256)
def _schema_validator(schema_json: str) -> Any:
    """A ``jsonschema`` validator for a tool schema (cached by its JSON text)."""
    import jsonschema  # only tools without a function need it; keeps the import light

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


# Keywords whose value is a map of names to subschemas, a list of subschemas, or a subschema.
# Only these are walked: ``properties`` keys, ``default``/``enum``/``examples`` data and the
# like are kept as they are, even when something in them is called "title".
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_VALUES = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "unevaluatedItems",
        "unevaluatedProperties",
        "propertyNames",
        "contains",
        "not",
        "if",
        "then",
        "else",
    }
)


def _strip_titles(schema: Any) -> Any:
    """Drop the ``title`` keywords pydantic adds to a JSON schema (noise for a model).

    Only the keyword is dropped: a property *named* ``title`` stays declared.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_strip_titles(sub) for sub in value]
        elif key in _SCHEMA_VALUES:
            out[key] = (
                [_strip_titles(sub) for sub in value]
                if isinstance(value, list)
                else _strip_titles(value)
            )
        else:
            out[key] = value
    return out


def _arguments_validator(adapter: TypeAdapter[Any]) -> SchemaValidator:
    """Validates a function's arguments the way ``validate_call`` does, without calling it.

    ``TypeAdapter(func)`` holds a ``call`` schema (arguments, then the call); its arguments part
    alone yields ``(args, kwargs)`` ready for the call.
    """
    schema: Any = adapter.core_schema
    if schema["type"] == "definitions":  # shared or recursive types live beside the call
        return SchemaValidator(
            core_schema.definitions_schema(
                schema["schema"]["arguments_schema"], schema["definitions"]
            )
        )
    return SchemaValidator(schema["arguments_schema"])


def _parse_docstring(text: str) -> docstring_parser.Docstring:
    # A leading newline lets the parser accept docstrings that open with a section ("Args:").
    try:
        return docstring_parser.parse("\n" + text, style=docstring_parser.DocstringStyle.GOOGLE)
    except docstring_parser.ParseError:
        return docstring_parser.parse(text)


class FunctionTool(Tool):
    """A tool made from a function (sync or async).

    Args:
        func: The function; its parameters become the tool's arguments.
        name: Tool name (default: the function's name).
        description: What it does (default: the docstring's summary).
        requires_human_approval: Ask a person before each call.
        timeout_seconds: Per-call limit (default: the executor's).
    """

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        *,
        requires_human_approval: bool = False,
        timeout_seconds: float | None = None,
    ) -> None:
        if isinstance(func, FunctionTool):
            func = func.func
        self.func: Callable[..., Any] = func
        doc = _parse_docstring(inspect.getdoc(func) or "")
        summary = " ".join(
            part for part in (doc.short_description, doc.long_description) if part
        ).strip()
        self._name = name or func.__name__
        self.description = description or summary or self._name.replace("_", " ")
        self.requires_human_approval = requires_human_approval
        self.timeout_seconds = timeout_seconds
        adapter: TypeAdapter[Any] = TypeAdapter(func)  # type: ignore[arg-type]
        schema = _strip_titles(adapter.json_schema())
        schema.setdefault("properties", {})
        schema.setdefault("type", "object")
        param_help = {p.arg_name: p.description for p in doc.params if p.description}
        for arg, prop in schema["properties"].items():
            if arg in param_help and "description" not in prop:
                prop["description"] = " ".join(param_help[arg].split())
        if not schema.get("required"):
            schema.pop("required", None)
        self.parameters: dict[str, Any] = schema
        self._arguments = _arguments_validator(adapter)
        self._is_async = inspect.iscoroutinefunction(func)

    @property
    def name(self) -> str:
        return self._name

    def get_definition(self) -> ToolDefinition:
        return ToolDefinition(
            name=self._name,
            description=self.description,
            parameters=self.parameters,
            handler=self.execute,
            requires_human_approval=self.requires_human_approval,
            timeout_seconds=self.timeout_seconds,
        )

    def _bind(self, arguments: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's positional and keyword arguments, converted as the hints say.

        Raises:
            ToolInputError: naming each missing, unexpected or invalid argument.
        """
        try:
            args, kwargs = self._arguments.validate_python(ArgsKwargs((), dict(arguments)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolInputError(f"invalid arguments for {self._name}: {problems}") from None
        return tuple(args), dict(kwargs)

    def validate_arguments(self, arguments: Mapping[str, Any]) -> str | None:
        """Check ``arguments`` against the function's hints (as ``execute`` does) without
        calling it; ``None`` when they fit, else what is wrong."""
        try:
            self._bind(arguments)
        except ToolInputError as exc:
            return str(exc)
        return None

    async def execute(self, **kwargs: Any) -> Any:
        """Validate ``kwargs`` against the function's hints, then call it."""
        args, bound = self._bind(kwargs)
        if self._is_async:
            result = self.func(*args, **bound)
        else:  # blocking functions run in a worker thread, off the event loop
            result = await asyncio.to_thread(self.func, *args, **bound)
        if inspect.isawaitable(result):
            return await result
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly (the decorator keeps functions callable)."""
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool(name={self._name!r})"


@overload
def tool(func: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    name: str | None = None,
    description: str | None = None,
    *,
    requires_human_approval: bool = False,
    timeout_seconds: float | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    name: str | Callable[..., Any] | None = None,
    description: str | None = None,
    *,
    requires_human_approval: bool = False,
    timeout_seconds: float | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Decorator turning a function into a ``FunctionTool`` (``@tool`` or ``@tool(...)``).

    The result is still callable like the function.
    """
    if callable(name):
        return FunctionTool(name)
    tool_name = name

    def decorator(func: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            func,
            name=tool_name,
            description=description,
            requires_human_approval=requires_human_approval,
            timeout_seconds=timeout_seconds,
        )

    return decorator


class _DefinitionTool(Tool):
    """Adapts a ``ToolDefinition`` with a handler to the ``Tool`` interface."""

    def __init__(self, definition: ToolDefinition) -> None:
        import jsonschema

        try:  # a broken schema is found when the tool is made, not on the model's first call
            _schema_validator(json.dumps(definition.parameters, sort_keys=True))
        except jsonschema.SchemaError as exc:
            raise ValueError(
                f"tool '{definition.name}' has an invalid parameters schema: {exc.message}"
            ) from None
        self.definition = definition
        self.requires_human_approval = definition.requires_human_approval
        self.timeout_seconds = definition.timeout_seconds

    def get_definition(self) -> ToolDefinition:
        return self.definition

    async def execute(self, **kwargs: Any) -> Any:
        handler = self.definition.handler
        if handler is None:
            raise RuntimeError(f"tool '{self.definition.name}' has no handler")
        result = handler(**kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def as_tool(item: Tool | ToolDefinition | Callable[..., Any]) -> Tool:
    """Accept a ``Tool``, a ``ToolDefinition`` with a handler, or a plain function."""
    if isinstance(item, Tool):
        return item
    if isinstance(item, ToolDefinition):
        return _DefinitionTool(item)
    if callable(item):
        return FunctionTool(item)
    raise TypeError(f"not a tool: {item!r}")


class ToolRegistry:
    """Tools by name."""

    def __init__(self, tools: Iterable[Tool | ToolDefinition | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(as_tool(item))

    def register(self, tool: Tool) -> None:
        """Add ``tool``; a name can be registered once."""
        name = tool.get_definition().name
        if name in self._tools:
            raise ValueError(f"a tool named '{name}' is already registered")
        self._tools[name] = tool

    def register_function(self, func: Callable[..., Any], name: str | None = None) -> None:
        self.register(FunctionTool(func, name=name))

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def get_all(self) -> list[Tool]:
        return list(self._tools.values())

    def names(self) -> list[str]:
        return list(self._tools)

    def definitions(self) -> list[ToolDefinition]:
        return [t.get_definition() for t in self._tools.values()]

    def to_openai_format(self) -> list[dict[str, Any]]:
        return [d.to_openai_format() for d in self.definitions()]

    def to_anthropic_format(self) -> list[dict[str, Any]]:
        return [d.to_anthropic_format() for d in self.definitions()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)


class ToolExecutor:
    """Runs tool calls: validated, time-limited, failures turned into compact error results.

    Args:
        registry: Where tools are looked up.
        default_timeout: Seconds a call may take when its tool sets no ``timeout_seconds``.
        max_error_chars: Errors are cut to this length before they reach the model.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        default_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_error_chars: int = MAX_ERROR_CHARS,
    ) -> None:
        self.registry = registry
        self.default_timeout = default_timeout
        self.max_error_chars = max_error_chars

    async def execute(self, tool_call: ToolCall) -> ToolResult:
        """Run one call; never raises for a tool's own failure."""
        started = time.monotonic()

        def done(content: str, is_error: bool = False) -> ToolResult:
            return ToolResult(
                tool_call_id=tool_call.id,
                name=tool_call.name,
                content=content,
                is_error=is_error,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )

        tool = self.registry.get(tool_call.name)
        if tool is None:
            available = ", ".join(self.registry.names()) or "none"
            return done(
                compact_error(
                    f"Unknown tool '{tool_call.name}'. Available tools: {available}.",
                    self.max_error_chars,
                ),
                True,
            )
        problem = tool.validate_arguments(tool_call.arguments)
        if problem is not None:
            return done(compact_error(problem, self.max_error_chars), True)
        timeout = tool.timeout_seconds or self.default_timeout
        try:
            async with asyncio.timeout(timeout):
                value = await tool.execute(**tool_call.arguments)
        except TimeoutError:
            return done(f"Tool '{tool_call.name}' timed out after {timeout:g} s.", True)
        except Exception as exc:  # noqa: BLE001 - a tool's failure goes back to the model
            return done(compact_error(exc, self.max_error_chars), True)
        return done(result_text(value))

    async def execute_all(self, tool_calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run independent calls concurrently; results come back in the calls' order."""
        return list(await asyncio.gather(*(self.execute(c) for c in tool_calls)))
