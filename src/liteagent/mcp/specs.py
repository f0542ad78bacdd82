"""Catalog settings of an agent's MCP servers (``mcp_servers:`` entries, docs/mcp.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["McpServerSpec", "McpToolOverride"]


class McpToolOverride(BaseModel):
    """Per-agent settings of one MCP tool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="The tool's name on the server.")
    requires_approval: bool | None = Field(None, description="Ask the user before each call.")
    timeout: float | None = Field(None, gt=0, description="Seconds a call may take.")


class McpServerSpec(BaseModel):
    """One MCP server of an agent (see docs/mcp.md): a command run over stdio, or a
    streamable-HTTP URL (checked against the outbound-URL policy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Names the server in errors.")
    command: tuple[str, ...] = Field((), description="stdio: the program and its arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="stdio: extra environment.")
    url: str | None = Field(None, description="streamable HTTP: the endpoint, e.g. .../mcp.")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP: sent every time.")
    tools: tuple[str | McpToolOverride, ...] | None = Field(
        None, description="Tools to expose (names or {name, requires_approval, timeout}); all."
    )
    requires_approval: bool = Field(False, description="Ask before every call of this server.")
    timeout: float = Field(30.0, gt=0, description="Seconds a call may take.")
    connect_timeout: float = Field(15.0, gt=0, description="Seconds to connect and list tools.")
    prefix: str = Field("", pattern=r"^[A-Za-z0-9_-]{0,32}$", description="Tool name prefix.")
    token_toolkit: str | None = Field(
        None, description="Send each user's own token, stored for this toolkit (per user)."
    )
    token_field: str = Field("token", description="The credential field holding the token.")
    token_header: str = Field("Authorization", description="HTTP: the header for the token.")
    token_scheme: str = Field("Bearer", description="HTTP: put before the token ('' for none).")
    token_env: str | None = Field(None, description="stdio: environment variable for the token.")

    @field_validator("token_toolkit")
    @classmethod
    def _toolkit_registered(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from liteagent.toolkits import toolkit_registry

        names = toolkit_registry.list_providers()
        if value not in names:
            raise ValueError(f"unknown toolkit '{value}'; available: {', '.join(names)}")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if bool(self.command) == bool(self.url):
            raise ValueError(f"MCP server '{self.name}': set either `command` or `url`")
        if self.token_toolkit and self.command and not self.token_env:
            raise ValueError(
                f"MCP server '{self.name}': a stdio server gets the user's token in an "
                "environment variable; set `token_env`"
            )
        return self

    def tool_overrides(self) -> dict[str, McpToolOverride] | None:
        """The allow-list by tool name (``None``: every tool the server lists)."""
        if self.tools is None:
            return None
        return {
            t.name: t
            for t in (McpToolOverride(name=v) if isinstance(v, str) else v for v in self.tools)
        }
