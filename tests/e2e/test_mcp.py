"""End to end: a catalog agent with a tool from a real MCP server (streamable HTTP, started by
the test), served by the real LiteLLM proxy and used with the ``openai`` SDK, streaming."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.proxy import MASTER_KEY, make_project, run_proxy
from tests.servers import mcp_wire
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

CATALOG = """
models:
  calc:
    description: Adds numbers with an MCP server's tool.
    model: openai/gpt-test
    system_prompt: You add numbers with the add tool.
    mcp_servers:
      - name: maths
        url: {url}
        tools: [add]
"""
BLOCK = re.compile(r'<details type="tool_calls" done="true" ([^\n>]*)>')


@pytest.fixture
def upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


def test_an_mcp_tool_answers_through_the_openai_sdk_with_its_tool_block(
    tmp_path: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, url = upstream
    with mcp_wire.serve_http(tmp_path / "calls.log") as mcp_url:
        project = make_project(tmp_path, CATALOG.format(url=mcp_url))
        env = {
            "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
            "OPENAI_BASE_URL": url,
            "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/agent.db",
            "LITEAGENT_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        }
        server.reply_tool_call("add", {"a": 20, "b": 22})
        server.reply_text("The sum is 42.")
        with run_proxy(project, env, wait_for="liteagent/calc") as proxy:
            client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY)
            stream = client.chat.completions.create(
                model="liteagent/calc",
                messages=[{"role": "user", "content": "What is 20 + 22?"}],
                stream=True,
                extra_headers={"X-OpenWebUI-Chat-Id": "mcp-chat", "X-OpenWebUI-User-Id": "u1"},
            )
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
            )
    [block] = [dict(re.findall(r'(\w+)="(.*?)"', m.group(1))) for m in BLOCK.finditer(text)]
    assert block["name"] == "add"
    assert json.loads(json.loads(html.unescape(block["arguments"]))) == {"a": 20, "b": 22}
    assert json.loads(html.unescape(block["result"])) == "42"
    assert text.rstrip().endswith("The sum is 42.")
    # the model saw the MCP server's schema and then the server's result
    offered = {t["function"]["name"]: t for t in server.requests[0]["body"]["tools"]}
    assert offered["add"]["function"]["description"] == "Add two integers."
    sent = server.requests[-1]["body"]["messages"]
    assert sent[-1]["role"] == "tool" and sent[-1]["content"] == "42"
