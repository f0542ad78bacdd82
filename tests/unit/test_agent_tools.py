"""Tools: schemas from hints and docstrings, registry formats, the executor, built-in tools."""

from __future__ import annotations

import asyncio
from typing import Annotated

import pytest
from pydantic import Field

from liteagent.agents import (
    FunctionTool,
    ParameterType,
    ToolCall,
    ToolDefinition,
    ToolExecutor,
    ToolParameter,
    ToolRegistry,
    tool,
)
from liteagent.agents.builtin_tools import (
    ToolContext,
    available_tools,
    build_tool,
    calculate,
    convert_units,
    current_time,
)


@tool(name="weather", description="Get current weather for a location")
async def get_weather(location: str, units: str = "celsius") -> dict[str, object]:
    """
    Args:
        location: City name or coordinates
        units: Temperature units (celsius or fahrenheit)
    """
    return {"temperature": 22, "conditions": "sunny", "location": location}


def test_seed_guide_tool_example() -> None:
    weather_tool = FunctionTool(
        func=get_weather, name="weather", description="Get current weather for a location"
    )
    registry = ToolRegistry()
    registry.register(weather_tool)
    [spec] = registry.to_openai_format()
    assert spec["type"] == "function"
    fn = spec["function"]
    assert fn["name"] == "weather" and fn["description"] == "Get current weather for a location"
    props = fn["parameters"]["properties"]
    assert props["location"] == {"type": "string", "description": "City name or coordinates"}
    assert props["units"]["default"] == "celsius"
    assert fn["parameters"]["required"] == ["location"]
    [anthropic] = registry.to_anthropic_format()
    assert anthropic["name"] == "weather" and anthropic["input_schema"] == fn["parameters"]


def test_schema_keeps_pydantic_constraints_and_docstring_summary() -> None:
    @tool
    def label(text: Annotated[str, Field(max_length=5, pattern="^[a-z]+$")], count: int = 1) -> str:
        """Make a label.

        Args:
            text: Lower-case letters.
            count: Copies.
        """
        return text * count

    assert label.description == "Make a label."
    prop = label.parameters["properties"]["text"]
    assert prop["maxLength"] == 5 and prop["pattern"] == "^[a-z]+$"
    assert prop["description"] == "Lower-case letters."
    assert label("ab", 2) == "abab"  # still callable like the function


def test_hand_written_parameters() -> None:
    definition = ToolDefinition(
        name="pick",
        description="Pick a colour",
        parameters=[
            ToolParameter("colour", ParameterType.STRING, "The colour", enum=["red", "blue"]),
            ToolParameter("shade", ParameterType.INTEGER, "Shade", required=False),
        ],
    )
    schema = definition.to_openai_format()["function"]["parameters"]
    assert schema["properties"]["colour"]["enum"] == ["red", "blue"]
    assert schema["required"] == ["colour"]


def test_registry_refuses_duplicates() -> None:
    registry = ToolRegistry([get_weather])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(get_weather)
    assert "weather" in registry and len(registry) == 1


async def test_executor_validates_arguments_and_reports_compact_errors() -> None:
    @tool
    def boom(n: int) -> int:
        """Fail loudly."""
        raise ValueError("x" * 5000)

    executor = ToolExecutor(ToolRegistry([boom, get_weather]), max_error_chars=200)
    bad_type = await executor.execute(ToolCall("1", "boom", {"n": "not a number"}))
    assert bad_type.is_error and "invalid arguments for boom" in bad_type.content
    failed = await executor.execute(ToolCall("2", "boom", {"n": 1}))
    assert failed.is_error and failed.content.startswith("ValueError: xxx")
    assert len(failed.content) == 200
    unknown = await executor.execute(ToolCall("3", "nope", {}))
    assert unknown.is_error and "Available tools: boom, weather" in unknown.content
    ok = await executor.execute(ToolCall("4", "weather", {"location": "Oslo"}))
    assert not ok.is_error and '"location": "Oslo"' in ok.content


async def test_executor_runs_independent_calls_concurrently_in_order() -> None:
    started: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}

    @tool
    async def wait_for_other(me: str, other: str) -> str:
        """Start, then wait until the other call has started too."""
        started[me].set()
        await asyncio.wait_for(started[other].wait(), timeout=5)
        return me

    executor = ToolExecutor(ToolRegistry([wait_for_other]))
    results = await executor.execute_all(
        [
            ToolCall("1", "wait_for_other", {"me": "a", "other": "b"}),
            ToolCall("2", "wait_for_other", {"me": "b", "other": "a"}),
        ]
    )
    # sequential execution would time out waiting for the other call
    assert [(r.tool_call_id, r.content, r.is_error) for r in results] == [
        ("1", "a", False),
        ("2", "b", False),
    ]


async def test_per_tool_timeout() -> None:
    slow = FunctionTool(asyncio.sleep, name="sleep", timeout_seconds=0.05)
    executor = ToolExecutor(ToolRegistry([slow]), default_timeout=60)
    result = await executor.execute(ToolCall("1", "sleep", {"delay": 10}))
    assert result.is_error and "timed out after 0.05 s" in result.content


# ----------------------------------------------------------------------------- built-ins
@pytest.mark.parametrize(
    ("expression", "value"),
    [("12*7", 84), ("(3+4)/2", 3.5), ("2^10", 1024), ("sqrt(16) + pi - pi", 4), ("-5 // 2", -3)],
)
def test_calculator(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "open('x')", "2**100000", "1/0", "x + 1", "(1).__class__", "[1,2]"],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str) -> None:
    from liteagent.agents.tools import ToolInputError

    with pytest.raises(ToolInputError):
        calculate(expression)


def test_unit_conversion_and_time() -> None:
    assert convert_units(5, "km", "mile").startswith("5 km = 3.10686")
    assert convert_units(100, "fahrenheit", "celsius") == "100 fahrenheit = 37.7778 celsius"
    from liteagent.agents.tools import ToolInputError

    with pytest.raises(ToolInputError, match="different kinds"):
        convert_units(1, "kg", "meter")
    assert "(Europe/Paris" in current_time("Europe/Paris")
    with pytest.raises(ToolInputError, match="Did you mean"):
        current_time("Paris")


def test_builtin_registry_lists_the_demo_tools() -> None:
    assert {"calculator", "current_time", "convert_units", "save_note", "list_notes"} <= set(
        available_tools()
    )
    calc = build_tool("calculator", ToolContext())
    assert not calc.requires_human_approval
    with pytest.raises(ValueError, match="database"):
        build_tool("save_note", ToolContext())


def test_catalog_tools_are_checked_at_load() -> None:
    from liteagent.catalog import parse_catalog
    from liteagent.errors import CatalogError

    catalog = parse_catalog(
        {
            "models": {
                "bot": {
                    "system_prompt": "x",
                    "tools": ["calculator", {"name": "save_note", "requires_approval": False}],
                }
            }
        }
    )
    spec = catalog.get("liteagent/bot")
    assert [(t.name, t.requires_approval) for t in spec.tools] == [
        ("calculator", None),
        ("save_note", False),
    ]
    assert spec.memory.strategy == "sliding_window"
    with pytest.raises(CatalogError) as err:
        parse_catalog({"models": {"bot": {"system_prompt": "x", "tools": ["nope"]}}})
    assert "models.bot.tools.0.name" in err.value.message and "unknown tool 'nope'" in str(
        err.value
    )
    assert "calculator" in err.value.message
    with pytest.raises(CatalogError, match="listed twice"):
        parse_catalog({"models": {"bot": {"system_prompt": "x", "tools": ["calculator"] * 2}}})
