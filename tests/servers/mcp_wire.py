"""Real MCP servers built with the SDK's ``MCPServer``, for tests.

``build_server`` makes one server with these tools:

- ``add(a, b)``: the sum; ``echo(text)``: the text back;
- ``fail(reason)``: raises, so the call ends with ``isError``;
- ``hang()``: never answers (for timeouts);
- ``wait_for_release(name)``: writes ``waiting <name>`` to the call log, then waits until the
  call is cancelled (the client's ``notifications/cancelled``) and writes ``cancelled <name>``;
- ``delete_item(item)``: appends ``item`` to the call log (one line per call), for approvals;
- ``server_pid()``: the server process's id; ``crash()``: the process exits mid-call;
- ``whoami()``: the user the caller's token belongs to (``TOKENS``); an unknown or missing token
  is an error. Over HTTP the token comes from the ``Authorization: Bearer`` header, over stdio
  from the ``MCP_TEST_TOKEN`` environment variable.

Run ``python -m tests.servers.mcp_wire <call log path>`` for the stdio server.
``serve_http(log)`` runs the streamable-HTTP server on 127.0.0.1:<free port> in a thread.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.servers.http import serve_app

TOKENS = {"tok-alice-123": "alice", "tok-bob-456": "bob"}


def build_server(log: Path) -> MCPServer:
    server = MCPServer("liteagent-test-mcp")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> str:
        return str(a + b)

    @server.tool(description="Say the text back.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Always fails with the given reason.")
    def fail(reason: str) -> str:
        raise ToolError(f"refused: {reason}")

    @server.tool(description="Never answers.")
    async def hang() -> str:
        await asyncio.Event().wait()
        return "unreachable"

    @server.tool(description="Wait for a release to be published.")
    async def wait_for_release(name: str) -> str:
        with log.open("a") as fh:
            fh.write(f"waiting {name}\n")
        try:
            await asyncio.Event().wait()
        except BaseException:  # the call was cancelled (anyio or asyncio)
            with log.open("a") as fh:
                fh.write(f"cancelled {name}\n")
            raise
        return "unreachable"

    @server.tool(description="Delete an item (irreversible).")
    def delete_item(item: str) -> str:
        with log.open("a") as fh:
            fh.write(item + "\n")
        return f"deleted {item}"

    @server.tool(description="Ends the server process in the middle of the call.")
    def crash() -> str:
        os._exit(1)

    @server.tool(description="The server's process id.")
    def server_pid() -> str:
        return str(os.getpid())

    @server.tool(description="Who am I, according to my token?")
    def whoami(ctx: Context) -> str:
        request = ctx.request_context.request
        if request is not None and hasattr(request, "headers"):
            header = request.headers.get("authorization", "")
            token = header.removeprefix("Bearer ").strip()
        else:
            token = os.environ.get("MCP_TEST_TOKEN", "")
        user = TOKENS.get(token)
        if user is None:
            raise ToolError("unknown token")
        return f"you are {user}"

    return server


def calls(log: Path) -> list[str]:
    """The lines of the call log, in order (``delete_item`` items, ``wait_for_release`` marks)."""
    return log.read_text().splitlines() if log.exists() else []


@contextmanager
def serve_http(log: Path) -> Iterator[str]:
    """Serve the server over streamable HTTP; yields the endpoint URL (``…/mcp``)."""
    app = build_server(log).streamable_http_app(host="127.0.0.1")
    with serve_app(app, lifespan="on") as url:
        yield f"{url}/mcp"


def stdio_command(log: Path) -> list[str]:
    """The command that runs the stdio server."""
    return [sys.executable, "-m", "tests.servers.mcp_wire", str(log)]


if __name__ == "__main__":
    build_server(Path(sys.argv[1])).run("stdio")
