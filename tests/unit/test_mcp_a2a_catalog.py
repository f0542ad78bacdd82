"""The catalog's ``mcp_servers`` and what agent cards say about an entry (no servers needed)."""

from __future__ import annotations

from typing import Any

import pytest

from liteagent.a2a_server import agent_card
from liteagent.catalog import AgentSpec, parse_catalog
from liteagent.errors import CatalogError
from liteagent.mcp.specs import McpServerSpec
from liteagent.mcp.toolset import exposed_name


def agent(**entry: Any) -> AgentSpec:
    spec = parse_catalog({"models": {"a": {"system_prompt": "x", **entry}}}).get("liteagent/a")
    assert isinstance(spec, AgentSpec)
    return spec


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"name": "s"}, "set either `command` or `url`"),
        ({"name": "s", "command": ["x"], "url": "http://h/mcp"}, "set either `command` or `url`"),
        ({"name": "s", "command": ["x"], "token_toolkit": "gitlab"}, "set `token_env`"),
        ({"name": "s", "url": "http://h/mcp", "token_toolkit": "nope"}, "unknown toolkit 'nope'"),
        ({"name": "bad name", "url": "http://h/mcp"}, r"mcp_servers\.0\.name"),
        ({"name": "s", "url": "http://h/mcp", "timeout": 0}, r"mcp_servers\.0\.timeout"),
    ],
)
def test_bad_servers_are_named(server: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        agent(mcp_servers=[server])


def test_server_names_are_unique() -> None:
    with pytest.raises(CatalogError, match="each MCP server needs its own `name`"):
        agent(mcp_servers=[{"name": "s", "url": "http://h/mcp"}] * 2)


def test_allow_list_and_overrides() -> None:
    spec = agent(
        mcp_servers=[
            {
                "name": "s",
                "url": "http://h/mcp",
                "tools": ["a", {"name": "b", "requires_approval": True, "timeout": 5}],
            },
            {"name": "t", "command": ["srv"]},
        ]
    )
    first, second = spec.mcp_servers
    overrides = first.tool_overrides()
    assert overrides is not None and list(overrides) == ["a", "b"]
    assert overrides["b"].requires_approval is True and overrides["b"].timeout == 5
    assert second.tool_overrides() is None  # every tool the server lists


def test_exposed_names_fit_function_name_rules() -> None:
    server = McpServerSpec(name="s", url="http://h/mcp", prefix="gl_")
    assert exposed_name(server, "issues.search v2") == "gl_issues_search_v2"
    assert len(exposed_name(server, "x" * 100)) == 64


def test_card_skills_come_from_the_tools() -> None:
    spec = agent(
        description="Helps.",
        tools=["calculator"],
        mcp_servers=[
            {"name": "s", "url": "http://h/mcp", "tools": ["search"], "prefix": "s_"},
            {"name": "everything", "command": ["srv"]},
        ],
    )
    card = agent_card(spec, "https://agents.example/a")
    assert card.name == "a" and card.description == "Helps."
    assert [s.id for s in card.skills] == ["calculator", "s_search", "mcp-everything"]
    assert card.skills[0].description == "Safe arithmetic"  # the registered description
    assert card.capabilities.streaming
    assert card.supported_interfaces[0].url == "https://agents.example/a"
    assert card.supported_interfaces[0].protocol_binding == "JSONRPC"
    assert "litellm_key" in card.security_schemes
