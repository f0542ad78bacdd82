"""Tools from MCP servers (the official ``mcp`` SDK) for catalog agents and workflow nodes.

A catalog agent lists ``mcp_servers`` (``liteagent.catalog.specs.McpServerSpec``); its runner
holds one :class:`McpToolsets` for the user it serves and adds :meth:`McpToolsets.tools_for`
to the agent's tools at the start of each turn. See docs/mcp.md.

The names below are imported on first use: reading a catalog (``liteagent.mcp.specs``) does
not load the MCP SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liteagent.mcp.toolset import McpTool, McpToolError, McpToolsets, McpUnavailableError

__all__ = ["McpTool", "McpToolError", "McpToolsets", "McpUnavailableError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from liteagent.mcp import toolset

        return getattr(toolset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
