"""Agent cards for catalog entries: name, description, skills from their tools, streaming."""

from __future__ import annotations

from typing import Any

from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)

from liteagent.mcp.toolset import exposed_name

__all__ = ["PROTOCOL_VERSION", "agent_card", "skills_of"]

PROTOCOL_VERSION = "1.0"
SECURITY_SCHEME = "litellm_key"


def _tool_description(name: str) -> str:
    from liteagent.agents.builtin_tools import tool_registry

    try:
        return tool_registry.get_metadata(name).description or name.replace("_", " ")
    except KeyError:
        return name.replace("_", " ")


def skills_of(spec: Any) -> list[AgentSkill]:
    """One skill per tool of an ``agent`` entry (built-in and allow-listed MCP tools, one per
    MCP server that exposes all its tools); one skill for any other entry."""
    skills: list[AgentSkill] = []
    kind = getattr(spec, "kind", "agent")
    if kind == "agent":
        for item in spec.tools:
            skills.append(
                AgentSkill(
                    id=item.name,
                    name=item.name,
                    description=_tool_description(item.name),
                    tags=["tool"],
                )
            )
        for server in spec.mcp_servers:
            allowed = server.tool_overrides()
            if allowed is None:
                skills.append(
                    AgentSkill(
                        id=f"mcp-{server.name}",
                        name=f"{server.name} tools",
                        description=f"The tools of the MCP server '{server.name}'.",
                        tags=["mcp"],
                    )
                )
                continue
            for name in allowed:
                skills.append(
                    AgentSkill(
                        id=exposed_name(server, name),
                        name=exposed_name(server, name),
                        description=f"{name} (MCP server '{server.name}')",
                        tags=["tool", "mcp"],
                    )
                )
    if not skills:
        skills.append(
            AgentSkill(
                id=spec.name,
                name=spec.name,
                description=spec.description or f"Chat with {spec.model_name}.",
                tags=[kind],
            )
        )
    return skills


def agent_card(spec: Any, url: str, *, version: str = "1") -> AgentCard:
    """The A2A agent card of a catalog entry served at ``url`` (its JSON-RPC endpoint).

    Args:
        spec: The catalog entry (any kind).
        url: Where its JSON-RPC endpoint is reachable from the callers.
        version: The agent's version string.
    """
    return AgentCard(
        name=spec.name,
        description=spec.description or f"LiteAgent {spec.kind} {spec.model_name}",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=PROTOCOL_VERSION)
        ],
        provider=AgentProvider(organization="LiteAgent", url=url),
        version=version,
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        security_schemes={
            SECURITY_SCHEME: SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="bearer", description="A LiteLLM key (the master key or a virtual key)."
                )
            )
        },
        security_requirements=[SecurityRequirement(schemes={SECURITY_SCHEME: StringList()})],
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=skills_of(spec),
    )
