"""MCP tools in: real MCP servers (stdio and streamable HTTP, built with the SDK) started by the
tests, used by a catalog agent through the handler's agent path (tool blocks, approval, errors).
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from litellm.types.utils import ModelResponse

from liteagent.catalog import AgentSpec, parse_catalog
from liteagent.config import Settings
from liteagent.mcp import McpToolsets
from liteagent.proxy import LiteAgentLLM
from liteagent.security import EncryptionService
from liteagent.toolkits import MemoryCredentialBackend, TokenStorage
from tests.servers import mcp_wire

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<details type=\"tool_(?:calls|error)\" done=\"true\" ([^\n>]*)>")


def blocks(text: str) -> list[dict[str, str]]:
    return [
        {k: html.unescape(v) for k, v in re.findall(r'(\w+)="(.*?)"', m.group(1))}
        for m in BLOCK.finditer(text)
    ]


@pytest.fixture
def call_log(tmp_path: Path) -> Path:
    return tmp_path / "calls.log"


@pytest.fixture
def http_url(call_log: Path) -> Iterator[str]:
    with mcp_wire.serve_http(call_log) as url:
        yield url


def stdio_server(call_log: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": "local",
        "command": mcp_wire.stdio_command(call_log),
        "env": {"PYTHONPATH": str(ROOT)},
        **extra,
    }


@pytest.fixture(params=["stdio", "http"])
def server(request: pytest.FixtureRequest, call_log: Path) -> Iterator[dict[str, Any]]:
    """The same test server over either transport, as a catalog ``mcp_servers`` entry."""
    if request.param == "stdio":
        yield stdio_server(call_log)
    else:
        with mcp_wire.serve_http(call_log) as url:
            yield {"name": "remote", "url": url}


class Chat:
    """One user's conversation with a fresh handler whose agent has ``servers``."""

    def __init__(
        self, tmp: Path, servers: list[dict[str, Any]], script: list[Any], user: str = "alice"
    ) -> None:
        path = tmp / f"script-{user}-{len(list(tmp.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump(script))
        self.settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/liteagent.db",
            outbound_allow_hosts=("127.0.0.1",),
        )
        entry = {
            "system_prompt": "You use tools.",
            "model": f"scripted/{path}",
            "mcp_servers": servers,
        }
        self.catalog = parse_catalog({"models": {"bot": entry}})
        self.handler = LiteAgentLLM(settings=self.settings, catalog=self.catalog)
        self.user = user
        self.messages: list[dict[str, Any]] = []

    async def say(self, text: str) -> str:
        self.messages.append({"role": "user", "content": text})
        headers = {"x-openwebui-user-id": self.user, "x-openwebui-chat-id": f"chat-{self.user}"}
        chunks = [
            c
            async for c in self.handler.astreaming(
                "bot",
                self.messages,
                model_response=ModelResponse(),
                optional_params={},
                litellm_params={"metadata": {"user_api_key_user_id": "k", "headers": headers}},
            )
        ]
        answer = "".join(c["text"] for c in chunks if isinstance(c, dict))
        self.messages.append({"role": "assistant", "content": answer})
        return answer

    async def close(self) -> None:
        for runner in list(self.handler.cache._lru.values()):
            await runner.aclose()


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"content": "", "tool_calls": [{"name": name, "arguments": arguments}]}


async def test_tools_are_listed_with_the_servers_schemas(server: dict[str, Any]) -> None:
    spec = parse_catalog({"models": {"bot": {"system_prompt": "x", "mcp_servers": [server]}}}).get(
        "liteagent/bot"
    )
    assert isinstance(spec, AgentSpec)
    toolsets = McpToolsets(Settings(outbound_allow_hosts=("127.0.0.1",)), "alice")
    try:
        tools = {t.name: t.get_definition() for t in await toolsets.tools_for(spec)}
    finally:
        await toolsets.aclose()
    assert {"add", "echo", "fail", "hang", "delete_item", "whoami"} <= set(tools)
    assert tools["add"].description == "Add two integers."
    assert tools["add"].parameters["properties"]["a"]["type"] == "integer"
    assert sorted(tools["add"].parameters["required"]) == ["a", "b"]


async def test_a_call_runs_on_the_server_and_shows_as_a_tool_block(
    tmp_path: Path, server: dict[str, Any]
) -> None:
    chat = Chat(tmp_path, [{**server, "tools": ["add", "echo"]}], [call("add", a=2, b=3), "5."])
    try:
        answer = await chat.say("What is 2 + 3?")
    finally:
        await chat.close()
    [block] = blocks(answer)
    assert block["name"] == "add" and block["result"] == '"5"'
    assert answer.endswith("5.")


async def test_an_error_and_a_timeout_are_compact_tool_errors(
    tmp_path: Path, server: dict[str, Any]
) -> None:
    tools = ["fail", {"name": "hang", "timeout": 0.5}]
    script = [call("fail", reason="no way"), call("hang"), "Both failed."]
    chat = Chat(tmp_path, [{**server, "tools": tools}], script)
    try:
        answer = await chat.say("Try both")
    finally:
        await chat.close()
    failed, hung = blocks(answer)
    assert failed["name"] == "fail" and "refused: no way" in failed["result"]
    assert hung["name"] == "hang" and "timed out after 0.5 s" in hung["result"]
    assert answer.endswith("Both failed.")


async def test_a_dead_server_is_a_tool_error_not_a_failed_run(tmp_path: Path) -> None:
    dead = {
        "name": "gone",
        "command": [sys.executable, "-c", "import sys; sys.exit(3)"],
        "tools": ["lookup"],
        "connect_timeout": 30,
    }
    chat = Chat(tmp_path, [dead], [call("lookup", q="x"), "The lookup service is down."])
    try:
        answer = await chat.say("Look it up")
    finally:
        await chat.close()
    [block] = blocks(answer)
    assert "MCP server 'gone' is unavailable" in block["result"]
    assert answer.endswith("The lookup service is down.")


async def test_an_approval_gated_tool_pauses_and_runs_exactly_once(
    tmp_path: Path, server: dict[str, Any], call_log: Path
) -> None:
    gated = {**server, "tools": [{"name": "delete_item", "requires_approval": True}]}
    chat = Chat(tmp_path, [gated], [call("delete_item", item="report-7"), "Deleted."])
    try:
        asked = await chat.say("Delete report-7")
        assert "Approval needed" in asked and "delete_item" in asked
        assert mcp_wire.calls(call_log) == []
        done = await chat.say("approve")
        assert mcp_wire.calls(call_log) == ["report-7"]
        [block] = blocks(done)
        assert "deleted report-7" in block["result"]
        again = await chat.say("approve")
        assert "Nothing is waiting for your approval" in again
        assert mcp_wire.calls(call_log) == ["report-7"]
    finally:
        await chat.close()


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_each_user_sends_only_their_own_token(
    tmp_path: Path, http_url: str, call_log: Path, transport: str
) -> None:
    """Over HTTP the token is the Authorization header; over stdio each user's server process
    gets it in its environment. The server says whose token it got."""
    from liteagent.toolkits.service import ToolkitService, use_toolkit_service

    storage = TokenStorage(MemoryCredentialBackend(), EncryptionService(Fernet.generate_key()))
    where: dict[str, Any] = (
        {"url": http_url}
        if transport == "http"
        else {**stdio_server(call_log), "token_env": "MCP_TEST_TOKEN"}
    )
    server = {**where, "name": "private", "tools": ["whoami"], "token_toolkit": "gitlab"}
    answers: dict[str, str] = {}
    for user, token in (("alice", "tok-alice-123"), ("bob", "tok-bob-456"), ("carol", None)):
        chat = Chat(tmp_path, [server], [call("whoami"), "Answered."], user=user)
        use_toolkit_service(ToolkitService(chat.settings, storage=storage))
        if token is not None:
            await storage.upsert_token(user_id=f"k/{user}", toolkit="gitlab", data={"token": token})
        try:
            [block] = blocks(await chat.say("Who am I?"))
        finally:
            await chat.close()
        answers[user] = block["result"]
    assert answers["alice"] == '"you are alice"'
    assert answers["bob"] == '"you are bob"'
    assert "needs your gitlab token" in answers["carol"]
    assert "tok-" not in answers["carol"]


async def test_server_urls_go_through_the_outbound_policy(http_url: str) -> None:
    from liteagent.mcp import McpUnavailableError

    spec = parse_catalog(
        {
            "models": {
                "bot": {
                    "system_prompt": "x",
                    "mcp_servers": [{"name": "intranet", "url": http_url, "tools": ["add"]}],
                }
            }
        }
    ).get("liteagent/bot")
    assert isinstance(spec, AgentSpec)
    toolsets = McpToolsets(Settings(), "alice")  # 127.0.0.1 not in LITEAGENT_OUTBOUND_ALLOW_HOSTS
    try:
        [tool] = await toolsets.tools_for(spec)
        with pytest.raises(McpUnavailableError, match=r"intranet.*loopback"):
            await tool.execute(a=1, b=2)
    finally:
        await toolsets.aclose()


async def test_workflow_agent_nodes_call_mcp_tools(
    tmp_path: Path, server: dict[str, Any], call_log: Path
) -> None:
    path = tmp_path / "node-script.yaml"
    path.write_text(yaml.safe_dump([call("delete_item", item="old-logs"), "Removed old-logs."]))
    cleaner = {
        "system_prompt": "You clean up.",
        "model": f"scripted/{path}",
        "mcp_servers": [{**server, "tools": ["delete_item"]}],
    }
    workflow = {
        "kind": "workflow",
        "nodes": {
            "start": {"type": "start"},
            "clean": {
                "type": "agent",
                "agent_id": "cleaner",
                "input_variable": "input",
                "output_variable": "answer",
            },
            "end": {"type": "end", "output_variable": "answer"},
        },
        "edges": [{"from": "start", "to": "clean"}, {"from": "clean", "to": "end"}],
    }
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/liteagent.db",
        outbound_allow_hosts=("127.0.0.1",),
    )
    handler = LiteAgentLLM(
        settings=settings,
        catalog=parse_catalog({"models": {"cleaner": cleaner, "cleanup": workflow}}),
    )
    response = await handler.acompletion(
        "cleanup",
        [{"role": "user", "content": "Remove the old logs"}],
        model_response=ModelResponse(),
        optional_params={},
        litellm_params={"metadata": {"user_api_key_user_id": "k"}},
    )
    for runner in list(handler.cache._lru.values()):
        await runner.aclose()
    assert response.choices[0].message.content.rstrip().endswith("Removed old-logs.")
    assert mcp_wire.calls(call_log) == ["old-logs"]


async def test_one_session_per_user_and_server_closed_with_the_runner(
    tmp_path: Path, call_log: Path
) -> None:
    """Two turns reuse the user's session (one server process); closing the runner ends it."""
    script = [call("server_pid"), "First.", call("server_pid"), "Second."]
    chat = Chat(tmp_path, [stdio_server(call_log, tools=["server_pid"])], script)
    first = blocks(await chat.say("Which process?"))[0]["result"]
    second = blocks(await chat.say("And now?"))[0]["result"]
    assert first == second
    pid = int(json.loads(first))
    os.kill(pid, 0)  # the server process is alive while the runner holds its session
    await chat.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_server_that_dies_mid_call_is_a_tool_error_and_is_restarted(
    tmp_path: Path, call_log: Path
) -> None:
    script = [call("server_pid"), call("crash"), call("server_pid"), "Recovered."]
    chat = Chat(tmp_path, [stdio_server(call_log, tools=["server_pid", "crash"])], script)
    try:
        answer = await chat.say("Crash it")
    finally:
        await chat.close()
    before, crashed, after = blocks(answer)
    assert "MCP server 'local' went away" in crashed["result"]
    assert json.loads(before["result"]) != json.loads(after["result"])  # a new server process
    assert answer.endswith("Recovered.")
