"""Tools from MCP servers (the official ``mcp`` SDK) for catalog agents and workflow nodes.

A catalog agent lists ``mcp_servers`` (``liteagent.catalog.specs.McpServerSpec``); its runner
holds one :class:`McpToolsets` for the user it serves and adds :meth:`McpToolsets.tools_for`
to the agent's tools at the start of each turn. See docs/mcp.md.
"""

from liteagent.mcp.toolset import McpTool, McpToolError, McpToolsets, McpUnavailableError

__all__ = ["McpTool", "McpToolError", "McpToolsets", "McpUnavailableError"]
