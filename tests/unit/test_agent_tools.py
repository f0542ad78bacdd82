"""Tools: schemas from hints and docstrings, registry formats, the executor, built-in tools."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Annotated, Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from liteagent.agents import (
    Agent,
    AgentConfig,
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
from liteagent.agents.llm_client import ProviderLLMClient, ToolCallingProfile
from liteagent.agents.tools import Tool, as_tool
from liteagent.llm import ChatOptions, ScriptedModel
from liteagent.llm.anthropic_provider import to_anthropic_tools
from liteagent.llm.local import LocalLlamaProvider
from liteagent.llm.ollama_provider import OllamaProvider
from liteagent.llm.openai_provider import OpenAIProvider
from liteagent.storage import Database, NoteRepository


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


# ----------------------------------------------------------------------------- schemas as sent
class Tag(BaseModel):
    title: str
    colour: str = "red"


class Outline(BaseModel):
    heading: str
    children: list[Outline] = []


INBOX = Tag(title="inbox")


def test_a_parameter_named_title_stays_declared_and_required() -> None:
    @tool
    def file_note(title: str, text: str, tag: Tag = INBOX) -> str:
        """File a note under a tag."""
        return f"{tag.title}/{title}: {text}"

    schema = file_note.parameters
    assert list(schema["properties"]) == ["title", "text", "tag"]
    assert schema["required"] == ["title", "text"]
    # only pydantic's "title" keywords go: names of properties and data in defaults stay
    assert "title" not in schema and "title" not in schema["properties"]["text"]
    assert schema["$defs"]["Tag"]["required"] == ["title"]
    assert "title" in schema["$defs"]["Tag"]["properties"] and "title" not in schema["$defs"]["Tag"]
    assert schema["properties"]["tag"]["default"] == {"title": "inbox", "colour": "red"}
    assert file_note.validate_arguments({"title": "a", "text": "b", "tag": {"title": "x"}}) is None
    problem = file_note.validate_arguments({"text": "b"})
    assert problem == "invalid arguments for file_note: title: Missing required argument"


def _values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a JSON schema of the built-in tools' kind (scalars with constraints) accepts."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 100)
        if "pattern" not in schema:
            return st.text(min_size=low, max_size=high)
        return st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda text: low <= len(text) <= high
        )
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"no generator for {schema}")


def _calls(parameters: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Argument objects built from a tool schema: every required property, some optional."""
    props: dict[str, Any] = parameters.get("properties", {})
    required = parameters.get("required", [])
    return st.fixed_dictionaries(
        {name: _values(props[name]) for name in required},
        optional={name: _values(p) for name, p in props.items() if name not in required},
    )


@functools.cache
def sent_to_the_model() -> tuple[dict[str, list[dict[str, Any]]], dict[str, Tool]]:
    """Every built-in tool, put on an agent, as each provider sends it to its model, and the
    agent's tools by name.

    The agent makes one call to the scripted model; the ``ChatOptions`` that reached it go
    through the request builders of the OpenAI, Ollama, local llama.cpp and Anthropic
    providers. The local model gets tools only when one is forced (naming one does that).
    """
    database = Database("sqlite+aiosqlite:///:memory:")  # never connected: no call runs
    context = ToolContext(owner="ada", notes=NoteRepository(database))
    names = available_tools()
    assert {"calculator", "current_time", "convert_units", "save_note", "list_notes"} <= set(names)
    local_profile = ToolCallingProfile(native_auto=False, tool_role=False)
    sent: dict[str, list[dict[str, Any]]] = {}
    tools: dict[str, Tool] = {}
    for profile in (ToolCallingProfile(), local_profile):
        model = ScriptedModel(["ok"])
        built = [build_tool(name, context) for name in names]
        agent = Agent(
            AgentConfig(
                agent_id="all_tools",
                purpose="Use the tools.",
                tools=built,
                llm_client=ProviderLLMClient(model, profile=profile),
            )
        )
        asyncio.run(agent.step(agent.launch("please use save_note for this")))
        [(messages, options)] = model.calls
        offered = ChatOptions(tools=options.tools, tool_choice=options.tool_choice)
        if profile is local_profile:
            sent["local"] = LocalLlamaProvider()._request(messages, offered).tools
            continue
        tools = {d.name: as_tool(d) for d in agent.definitions}
        tools.update({t.name: t for t in built})
        sent["openai"] = OpenAIProvider(api_key="sk-test")._request(messages, offered)["tools"]
        sent["ollama"] = OllamaProvider()._request(messages, offered, stream=False)["tools"]
        sent["anthropic"] = [
            {"function": {"name": t["name"], "parameters": t["input_schema"]}}
            for t in to_anthropic_tools(offered.tools)
        ]
    return sent, tools


@pytest.mark.parametrize("provider", ["anthropic", "local", "ollama", "openai"])
def test_every_builtin_tool_reaches_the_model_with_its_parameters_declared(provider: str) -> None:
    sent, _ = sent_to_the_model()
    by_name = {t["function"]["name"]: t["function"]["parameters"] for t in sent[provider]}
    assert set(by_name) == set(available_tools()) | {"request_human_input"}
    for name, parameters in by_name.items():
        jsonschema.Draft202012Validator.check_schema(parameters)
        declared = set(parameters.get("properties", {}))
        assert set(parameters.get("required", [])) <= declared, name
    assert by_name["save_note"]["required"] == ["title", "text"]
    assert json.dumps(by_name) == json.dumps(
        {t["function"]["name"]: t["function"]["parameters"] for t in sent["openai"]}
    )


@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data())
def test_calls_built_from_the_sent_schemas_pass_validation(data: st.DataObject) -> None:
    sent, tools = sent_to_the_model()
    for spec in sent["openai"]:
        name, parameters = spec["function"]["name"], spec["function"]["parameters"]
        arguments = data.draw(_calls(parameters), label=name)
        # the generator keeps to the schema the model saw…
        jsonschema.Draft202012Validator(parameters).validate(arguments)
        # …and the tool, validating with its own rules, agrees
        assert tools[name].validate_arguments(arguments) is None, (name, arguments)


def test_calls_missing_required_arguments_are_refused_naming_each_one() -> None:
    sent, tools = sent_to_the_model()
    for spec in sent["openai"]:
        name, required = spec["function"]["name"], spec["function"]["parameters"].get("required")
        problem = tools[name].validate_arguments({})
        if not required:
            assert problem is None, name
            continue
        assert problem is not None and problem.startswith(f"invalid arguments for {name}: ")
        assert all(f"{arg}: Missing required argument" in problem for arg in required) or all(
            f"'{arg}' is a required property" in problem for arg in required
        ), problem


async def test_hand_written_tools_are_checked_against_their_schema_before_running() -> None:
    ran: list[dict[str, Any]] = []

    def pick(**arguments: Any) -> str:
        ran.append(arguments)
        return "picked"

    definition = ToolDefinition(
        name="pick",
        description="Pick a colour",
        parameters=[
            ToolParameter("colour", ParameterType.STRING, "The colour", enum=["red", "blue"]),
            ToolParameter("shade", ParameterType.INTEGER, "Shade", required=False),
        ],
        handler=pick,
    )
    checked = as_tool(definition)
    assert checked.validate_arguments({"colour": "red", "shade": 2}) is None
    assert checked.validate_arguments({"shade": 2}) == (
        "invalid arguments for pick: arguments: 'colour' is a required property"
    )
    wrong = checked.validate_arguments({"colour": "green", "shade": "dark"})
    assert wrong is not None and "colour: 'green' is not one of ['red', 'blue']" in wrong
    assert "shade: 'dark' is not of type 'integer'" in wrong
    executor = ToolExecutor(ToolRegistry([definition]))
    refused = await executor.execute(ToolCall("1", "pick", {"shade": 1}))
    assert refused.is_error and "'colour' is a required property" in refused.content
    assert ran == []
    ok = await executor.execute(ToolCall("2", "pick", {"colour": "blue"}))
    assert not ok.is_error and ran == [{"colour": "blue"}]


async def test_recursive_argument_types_are_validated_and_converted() -> None:
    @tool
    def count_headings(outline: Outline, limit: int = 100) -> int:
        """Count the headings of an outline."""

        def walk(node: Outline) -> int:
            return 1 + sum(walk(child) for child in node.children)

        return min(walk(outline), limit)

    outline = {"heading": "a", "children": [{"heading": "b"}, {"heading": "c", "children": []}]}
    assert count_headings.validate_arguments({"outline": outline}) is None
    assert await count_headings.execute(outline=outline, limit="2") == 2
    problem = count_headings.validate_arguments({"outline": {"children": [{"heading": 1}]}})
    assert problem is not None and "outline.heading: Field required" in problem
    assert "outline.children.0.heading: Input should be a valid string" in problem


def test_a_hand_written_tool_with_a_broken_schema_is_refused_when_made() -> None:
    broken = ToolDefinition(
        name="broken",
        description="Has a bad schema",
        parameters={"type": "object", "properties": {"n": {"type": "nonsense"}}},
        handler=lambda n: n,
    )
    with pytest.raises(ValueError, match="tool 'broken' has an invalid parameters schema"):
        ToolRegistry([broken])
