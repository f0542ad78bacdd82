"""MCP servers' tools as agent tools, over sessions pooled per user and server.

``McpToolsets`` belongs to one runner, which serves one user: it holds at most one live MCP
session per server of that user (``(user, server)``), opened on first use and closed with the
runner (``aclose``). Each session is owned by a task of its own, because the SDK's client must
be entered and left in the same task while calls come from the requests' tasks.

A server that cannot be reached or dies never fails a run: its calls return a compact tool
error naming the server ("MCP server 'files' is unavailable: …"), the session is dropped and the
next call connects again. Servers that need a per-user token get the token the user stored for
``token_toolkit`` (encrypted, per user; ``liteagent.toolkits.store``), sent as an HTTP header or,
for stdio servers, in an environment variable of the server's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Implementation, TextContent
from mcp.types import Tool as McpToolInfo
from mcp_types import CONNECTION_CLOSED

from liteagent.agents.tools import Tool
from liteagent.agents.types import ToolDefinition
from liteagent.config import Settings
from liteagent.log import get_logger
from liteagent.mcp.specs import McpServerSpec
from liteagent.mcp.transport import policy_http_client
from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.toolkits.store import TokenStorage

__all__ = ["McpTool", "McpToolError", "McpToolsets", "McpUnavailableError"]

logger = get_logger(__name__)


class HasMcpServers(Protocol):
    """What ``McpToolsets.tools_for`` reads of an agent (a catalog ``AgentSpec`` has it)."""

    @property
    def mcp_servers(self) -> tuple[McpServerSpec, ...]: ...


CLIENT_INFO = Implementation(name="liteagent", version="1")
OPEN_SCHEMA: dict[str, Any] = {"type": "object"}


class McpToolError(RuntimeError):
    """The server ran the tool and reported an error (``isError``)."""


class McpUnavailableError(RuntimeError):
    """The server cannot be reached, refused the session or went away."""


def _tool_text(result: CallToolResult) -> str:
    """A call's result as text: text parts joined; structured content as JSON when no text."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        else:
            parts.append(f"[{getattr(block, 'type', 'content')}]")
    text = "\n".join(parts).strip()
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False, default=str)
    return text


class _Session:
    """One live MCP session, owned by its own task until ``close``."""

    def __init__(self, server: McpServerSpec) -> None:
        self.server = server
        self.client: Client | None = None
        self.tools: list[McpToolInfo] = []
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._closing = asyncio.Event()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self.client is not None

    async def open(self, target: Any) -> None:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._task = asyncio.create_task(self._own(target), name=f"mcp:{self.server.name}")
        try:
            async with asyncio.timeout(self.server.connect_timeout):
                await asyncio.shield(self._ready)
        except TimeoutError:
            await self.close()
            raise McpUnavailableError(
                f"MCP server '{self.server.name}' did not answer within "
                f"{self.server.connect_timeout:g} s"
            ) from None

    async def _own(self, target: Any) -> None:
        assert self._ready is not None
        try:
            # (each call's time limit is the agent engine's: the tool's ``timeout_seconds``)
            async with Client(target, client_info=CLIENT_INFO) as client:
                listed = await client.list_tools()
                tools = list(listed.tools)
                while listed.next_cursor:
                    listed = await client.list_tools(cursor=listed.next_cursor)
                    tools.extend(listed.tools)
                self.client, self.tools = client, tools
                if not self._ready.done():
                    self._ready.set_result(None)
                await self._closing.wait()
        except BaseException as exc:
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            elif not self._closing.is_set():
                logger.warning("mcp_session_lost", server=self.server.name, error=_reason(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            self.client = None

    async def close(self) -> None:
        self._closing.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            async with asyncio.timeout(10):
                await asyncio.shield(task)
        except (TimeoutError, Exception):  # noqa: BLE001 - closing: a stuck server is cut off
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class McpToolsets:
    """The MCP tools of one user's agents, with that user's sessions.

    Args:
        settings: Process settings (outbound-URL policy, credential storage).
        user_key: Whose sessions and tokens these are.
        storage: Where per-user tokens are read (default: the toolkit service's storage).
    """

    def __init__(
        self, settings: Settings, user_key: str, *, storage: TokenStorage | None = None
    ) -> None:
        self.settings = settings
        self.user_key = user_key
        self._storage = storage
        self._sessions: dict[str, _Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    # ------------------------------------------------------------------ tools
    async def tools_for(self, spec: HasMcpServers | None) -> list[Tool]:
        """The tools ``spec``'s MCP servers offer this user (as the catalog entry filters them).

        A server that cannot be reached keeps the tools its allow-list names (their calls then
        report the server unavailable); without an allow-list it offers none this turn.
        """
        if spec is None or not spec.mcp_servers:
            return []
        listed = await asyncio.gather(*(self._server_tools(s) for s in spec.mcp_servers))
        return [tool for tools in listed for tool in tools]

    async def _server_tools(self, server: McpServerSpec) -> list[Tool]:
        allowed = server.tool_overrides()
        try:
            session = await self._session(server)
            infos = {t.name: t for t in session.tools}
        except McpUnavailableError as exc:
            logger.warning("mcp_server_unavailable", server=server.name, error=str(exc))
            infos = {}
        names = list(infos) if allowed is None else list(allowed)
        tools: list[Tool] = []
        for name in names:
            override = allowed.get(name) if allowed is not None else None
            info = infos.get(name)
            if info is None and infos:
                logger.warning("mcp_tool_not_listed", server=server.name, tool=name)
                continue
            approval = server.requires_approval
            if override is not None and override.requires_approval is not None:
                approval = override.requires_approval
            tools.append(
                McpTool(
                    self,
                    server,
                    name,
                    description=(info.description if info else None)
                    or f"{name} (from MCP server {server.name})",
                    parameters=dict(info.input_schema) if info else OPEN_SCHEMA,
                    requires_human_approval=approval,
                    timeout_seconds=(override.timeout if override else None) or server.timeout,
                )
            )
        return tools

    # ------------------------------------------------------------------ sessions
    async def call(self, server: McpServerSpec, name: str, arguments: dict[str, Any]) -> str:
        """Call tool ``name`` on ``server``; its text result.

        Raises:
            McpToolError: the tool reported an error.
            McpUnavailableError: the server cannot be reached or went away.
        """
        session = await self._session(server)
        client = session.client
        if client is None:
            await self._drop(server.name, session)
            raise McpUnavailableError(f"MCP server '{server.name}' went away")
        try:
            result = await client.call_tool(name, arguments)
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED and session.alive:
                raise McpToolError(exc.error.message) from None
            await self._drop(server.name, session)
            raise McpUnavailableError(
                f"MCP server '{server.name}' went away: {exc.error.message}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a broken transport: the session is gone
            await self._drop(server.name, session)
            raise McpUnavailableError(
                f"MCP server '{server.name}' went away: {_reason(exc)}"
            ) from None
        text = _tool_text(result)
        if result.is_error:
            raise McpToolError(text or "the tool reported an error")
        return text

    async def _session(self, server: McpServerSpec) -> _Session:
        if self._closed:
            raise McpUnavailableError("the agent was closed")
        lock = self._locks.setdefault(server.name, asyncio.Lock())
        async with lock:
            session = self._sessions.get(server.name)
            if session is not None and session.alive:
                return session
            if session is not None:
                await self._drop(server.name, session)
            session = _Session(server)
            try:
                await session.open(await self._target(server))
            except McpUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever failed, the server is unusable
                await session.close()
                raise McpUnavailableError(
                    f"MCP server '{server.name}' is unavailable: {_reason(exc)}"
                ) from None
            self._sessions[server.name] = session
            logger.info(
                "mcp_session_opened",
                server=server.name,
                user=self.user_key,
                tools=len(session.tools),
            )
            return session

    async def _drop(self, name: str, session: _Session) -> None:
        if self._sessions.get(name) is session:
            del self._sessions[name]
        await session.close()
        logger.info("mcp_session_closed", server=name, user=self.user_key)

    async def _token(self, server: McpServerSpec) -> str | None:
        if server.token_toolkit is None:
            return None
        storage = self._storage
        if storage is None:
            from liteagent.toolkits import get_toolkit_service

            storage = self._storage = get_toolkit_service(self.settings).storage
        data = await storage.get_token(user_id=self.user_key, toolkit=server.token_toolkit)
        token = (data or {}).get(server.token_field)
        if not isinstance(token, str) or not token:
            raise McpUnavailableError(
                f"MCP server '{server.name}' needs your {server.token_toolkit} token, and none "
                f"is stored for you: configure the {server.token_toolkit} toolkit first"
            )
        return token

    async def _target(self, server: McpServerSpec) -> Any:
        token = await self._token(server)
        if server.command:
            env = dict(server.env)
            if token is not None and server.token_env:
                env[server.token_env] = token
            return StdioServerParameters(
                command=server.command[0], args=list(server.command[1:]), env=env or None
            )
        assert server.url is not None
        policy = OutboundPolicy.from_settings(self.settings)
        url = await policy.check(server.url)
        headers = dict(server.headers)
        if token is not None:
            scheme = server.token_scheme.strip()
            headers[server.token_header] = f"{scheme} {token}" if scheme else token
        return streamable_http_client(str(url), http_client=policy_http_client(policy, headers))

    async def aclose(self) -> None:
        """Close every session (the runner is done)."""
        self._closed = True
        sessions, self._sessions = dict(self._sessions), {}
        for name, session in sessions.items():
            await session.close()
            logger.info("mcp_session_closed", server=name, user=self.user_key)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def exposed_name(server: McpServerSpec, remote_name: str) -> str:
    """The name the model sees: prefix plus the server's name, with characters function names
    may not hold replaced by ``_``, at most 64 characters."""
    return _UNSAFE.sub("_", f"{server.prefix}{remote_name}")[:64]


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line and without internals (exception groups unwrapped)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, OutboundURLError):
        return str(exc)
    if isinstance(exc, MCPError):
        return exc.error.message
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class McpTool(Tool):
    """One tool of an MCP server, run through the agent engine like any other tool."""

    def __init__(
        self,
        toolsets: McpToolsets,
        server: McpServerSpec,
        remote_name: str,
        *,
        description: str,
        parameters: Mapping[str, Any],
        requires_human_approval: bool,
        timeout_seconds: float,
    ) -> None:
        self.toolsets = toolsets
        self.server = server
        self.remote_name = remote_name
        self.requires_human_approval = requires_human_approval
        self.timeout_seconds = timeout_seconds
        schema = dict(parameters)
        schema.setdefault("type", "object")
        self._definition = ToolDefinition(
            name=exposed_name(server, remote_name),
            description=description,
            parameters=schema,
            handler=self.execute,
            requires_human_approval=requires_human_approval,
            timeout_seconds=timeout_seconds,
        )

    def get_definition(self) -> ToolDefinition:
        return self._definition

    def validate_arguments(self, arguments: Mapping[str, Any]) -> str | None:
        """As for any tool; a schema the validator cannot read is left to the server to check."""
        import jsonschema

        try:
            return super().validate_arguments(arguments)
        except jsonschema.SchemaError:
            return None

    async def execute(self, **kwargs: Any) -> str:
        return await self.toolsets.call(self.server, self.remote_name, kwargs)

    def __repr__(self) -> str:
        return f"McpTool({self.server.name}:{self.remote_name})"
