"""End to end: approval through plain chat across a proxy restart, streamed as Open WebUI sees it.

The real LiteLLM proxy runs as a subprocess; the agent's model is either a local server speaking
OpenAI's wire format (so the test can see exactly what the model was sent) or the bundled
llama.cpp model. Requests are sent with httpx as raw SSE, to check the order of status events,
tool blocks and text.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

CATALOG = """
models:
  notes:
    description: Takes notes after asking.
    model: openai/gpt-test
    system_prompt: You keep notes for the user.
    tools: [save_note, list_notes, calculator]
  local-calc:
    description: The bundled model with a calculator that needs approval.
    model: local/smollm2
    temperature: 0
    system_prompt: You are a helpful assistant.
    tools:
      - name: calculator
        requires_approval: true
"""
BLOCK = re.compile(r'<details type="tool_calls" done="true" ([^\n>]*)>\n<summary>Tool Executed')


def stream_chat(
    proxy: Proxy, model: str, messages: list[dict[str, Any]], chat_id: str, **extra: Any
) -> tuple[list[tuple[str, Any]], str]:
    """Send one streaming request; return the ordered (kind, value) items and the full text."""
    items: list[tuple[str, Any]] = []
    with httpx.stream(
        "POST",
        f"{proxy.base_url}/v1/chat/completions",
        timeout=300,
        headers={
            "Authorization": f"Bearer {MASTER_KEY}",
            "X-OpenWebUI-Chat-Id": chat_id,
            "X-OpenWebUI-User-Id": "e2e-user",
        },
        json={"model": model, "stream": True, "messages": messages, **extra},
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "event" in chunk:
                items.append(("event", chunk["event"]))
            for choice in chunk.get("choices") or []:
                if choice.get("delta", {}).get("content"):
                    items.append(("text", choice["delta"]["content"]))
    return items, "".join(v for k, v in items if k == "text")


def block_attributes(text: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w+)="(.*?)"', m.group(1))) for m in BLOCK.finditer(text)]


def db_rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(query))


def stored_runs(path: Path) -> int:
    tables = db_rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    if ("liteagent_agent_runs",) not in tables:
        return 0
    return int(db_rows(path, "SELECT count(*) FROM liteagent_agent_runs")[0][0])


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, CATALOG)


def test_approval_survives_restart_and_runs_the_stored_call_once(
    project: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, url = upstream
    db = project / "agent.db"
    env = {
        "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
        "OPENAI_BASE_URL": url,
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
    }
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Note: buy milk & <eggs>"}]
    proposed = {"title": "groceries", "text": 'buy "milk" & <eggs>'}
    server.reply_tool_call("save_note", proposed)
    with run_proxy(project, env, wait_for="liteagent/notes") as proxy:
        items, asked = stream_chat(proxy, "liteagent/notes", messages, "chat-e2e")
    assert "Approval needed" in asked and "save_note" in asked and "approve" in asked
    assert (
        "event",
        {"type": "status", "data": {"description": "Waiting for your approval", "done": True}},
    ) in items
    assert db_rows(db, "SELECT count(*) FROM liteagent_notes") == [(0,)]
    assert db_rows(db, "SELECT status FROM liteagent_agent_runs") == [("waiting_human",)]

    # restart: a new process with nothing in memory resumes from the database
    server.reply_text("Saved it as note #1, titled groceries.")
    messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "approve"}]
    with run_proxy(project, env, wait_for="liteagent/notes") as proxy:
        requests_before = len(server.requests)
        items, answer = stream_chat(proxy, "liteagent/notes", messages, "chat-e2e")
        kinds = [k if k == "event" else ("block" if "<details" in v else "text") for k, v in items]
        assert kinds.index("event") < kinds.index("block") < kinds.index("text")
        assert answer.rstrip().endswith("Saved it as note #1, titled groceries.")
        [block] = block_attributes(answer)
        assert block["name"] == "save_note"
        assert json.loads(json.loads(html.unescape(block["arguments"]))) == proposed
        assert json.loads(html.unescape(block["result"])) == "Saved note #1: groceries"
        assert db_rows(db, "SELECT title, text FROM liteagent_notes") == [
            ("groceries", 'buy "milk" & <eggs>')
        ]
        # the model was asked once, after the stored call ran, and saw its result
        assert len(server.requests) == requests_before + 1
        sent = server.requests[-1]["body"]["messages"]
        assert sent[-1]["role"] == "tool" and sent[-1]["content"] == "Saved note #1: groceries"
        call = sent[-2]["tool_calls"][0]["function"]
        assert call["name"] == "save_note" and json.loads(call["arguments"]) == proposed

        # a second approval in the same chat runs nothing
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "yes"}]
        _, again = stream_chat(proxy, "liteagent/notes", messages, "chat-e2e")
        assert "Nothing is waiting for your approval" in again
        assert len(server.requests) == requests_before + 1
        assert db_rows(db, "SELECT count(*) FROM liteagent_notes") == [(1,)]


def test_task_request_answers_json_without_tools(
    project: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, url = upstream
    env = {
        "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
        "OPENAI_BASE_URL": url,
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/agent.db",
    }
    server.reply_text('{"title": "Groceries list"}')
    task = (
        '### Task:\nGenerate a title. Reply with JSON: {"title": "..."}\n'
        "<chat_history>\nUSER: save a note about milk\n</chat_history>"
    )
    with run_proxy(project, env, wait_for="liteagent/notes") as proxy:
        r = httpx.post(
            f"{proxy.base_url}/v1/chat/completions",
            timeout=60,
            headers={"Authorization": f"Bearer {MASTER_KEY}", "X-OpenWebUI-Chat-Id": "t1"},
            json={"model": "liteagent/notes", "messages": [{"role": "user", "content": task}]},
        )
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"title": "Groceries list"}
    assert "tools" not in server.requests[-1]["body"]
    assert stored_runs(project / "agent.db") == 0


@pytest.mark.local_llm
def test_local_model_approval_flow(project: Path) -> None:
    """The same flow with the bundled SmolLM2 and grammar-constrained tool calls."""
    db = project / "agent.db"
    env = {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Use the calculator to compute 12*7"}
    ]
    with run_proxy(project, env, wait_for="liteagent/local-calc") as proxy:
        _, asked = stream_chat(proxy, "liteagent/local-calc", messages, "chat-local", max_tokens=64)
    assert "Approval needed" in asked
    assert "`calculator` with:" in asked and '"expression": "12*7"' in asked
    messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "approve"}]
    with run_proxy(project, env, wait_for="liteagent/local-calc") as proxy:
        _, answer = stream_chat(
            proxy, "liteagent/local-calc", messages, "chat-local", max_tokens=64
        )
    [block] = block_attributes(answer)
    assert json.loads(json.loads(html.unescape(block["arguments"]))) == {"expression": "12*7"}
    assert json.loads(html.unescape(block["result"])) == "12*7 = 84"
    final = answer.split("</details>\n", 1)[1]
    assert "84" in final  # the model's answer uses the tool's result
    assert db_rows(db, "SELECT status FROM liteagent_agent_runs") == [("completed",)]
