"""End to end: the real proxy answers what a real Open WebUI 0.12.4 sent, recorded on the wire.

Each request is replayed with Open WebUI's own headers and body (its 36 built-in tools, its task
prompts with ``max_tokens: 1000``, and the assistant turns it rebuilt from its storage: cut at
``<reason>`` with the default reasoning tags, re-rendered with them off). The agent's model is
either a scripted server speaking OpenAI's wire format or the bundled llama.cpp model.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.openwebui.markup import rewrite_tags_found
from tests.openwebui.recorded import Recorded, requests
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

CATALOG = """
models:
  assistant:
    model: openai/gpt-test
    system_prompt: You are LiteAgent's assistant.
    tools: [calculator, current_time, convert_units, save_note, list_notes]
"""


def send(proxy: Proxy, request: Recorded) -> tuple[int, str, list[dict[str, Any]]]:
    """POST a recorded request as Open WebUI did; (status, answer text, stream events)."""
    headers = {**request.headers, "Authorization": f"Bearer {MASTER_KEY}"}
    url = f"{proxy.base_url}/v1/chat/completions"
    if not request.stream:
        r = httpx.post(url, headers=headers, json=request.body, timeout=300)
        body = r.json()
        text = body["choices"][0]["message"]["content"] if r.status_code == 200 else r.text
        return r.status_code, text, []
    events: list[dict[str, Any]] = []
    text: list[str] = []
    with httpx.stream("POST", url, headers=headers, json=request.body, timeout=300) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "event" in chunk:
                events.append(chunk["event"])
            for choice in chunk.get("choices") or []:
                text.append(choice.get("delta", {}).get("content") or "")
        return response.status_code, "".join(text), events


def notes(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT title, text FROM liteagent_notes"))


@pytest.fixture
def upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


def test_recorded_approval_resumes_through_the_proxy_and_saves_one_note(
    tmp_path: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, url = upstream
    project = make_project(tmp_path, CATALOG)
    db = project / "agent.db"
    env = {
        "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
        "OPENAI_BASE_URL": url,
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
    }
    title, ask, follow_ups, tags = requests("approval-request.json")
    approve, after = requests("approval-approve-default-reasoning-tags.json")
    server.reply_text('{"title": "Saving a note"}')
    server.reply_tool_call("save_note", {"title": "Groceries", "text": "buy milk"})
    server.reply_text('{"follow_ups": ["Show my notes", "Save another note')  # cut by the cap
    server.reply_text('{"tags": ["Productivity"]}')
    server.reply_text("Saved your note.")
    server.reply_text("not JSON at all")
    with run_proxy(project, env, wait_for="liteagent/assistant") as proxy:
        assert send(proxy, title)[:2] == (200, '{"title": "Saving a note"}')
        status, asked, events = send(proxy, ask)
        assert status == 200 and "Approval needed" in asked and "save_note" in asked
        assert events[0]["data"] == {"description": "Working…", "done": False}
        assert rewrite_tags_found(asked) == []
        assert json.loads(send(proxy, follow_ups)[1]) == {"follow_ups": ["Show my notes"]}
        assert json.loads(send(proxy, tags)[1]) == {"tags": ["Productivity"]}
        # Open WebUI sends our prompt back cut at its "<reason>" reasoning tag
        assert approve.messages[1]["content"].endswith("**reject: ")
        status, answer, _ = send(proxy, approve)
        assert status == 200 and 'name="save_note"' in answer
        assert answer.rstrip().endswith("Saved your note.")
        assert notes(db) == [("Groceries", "buy milk")]
        assert list(json.loads(send(proxy, after)[1])) == ["follow_ups"]
        # the task requests went out capped, without tools; chat requests never with 1000
        tasks = [r["body"] for r in server.requests if "### Task:" in str(r["body"]["messages"])]
        assert len(tasks) == 4
        assert all(t["max_tokens"] <= 64 and "tools" not in t for t in tasks)
        # a click on "approve" again runs nothing
        again = approve.with_messages(
            [
                *approve.messages,
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "approve"},
            ]
        )
        assert "Nothing is waiting for your approval" in send(proxy, again)[1]
    assert notes(db) == [("Groceries", "buy milk")]


def test_recorded_rerendered_turn_and_approve_twice_through_the_proxy(
    tmp_path: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, url = upstream
    project = make_project(tmp_path, CATALOG)
    db = project / "agent.db"
    env = {
        "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
        "OPENAI_BASE_URL": url,
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
    }
    approve = requests("approval-approve-reasoning-tags-off.json")[0]
    [twice] = [r for r in requests("approval-approve-twice.json") if not r.is_task]
    server.reply_tool_call("save_note", {"title": "Groceries", "text": "buy milk"})
    server.reply_text("Saved your note.")
    with run_proxy(project, env, wait_for="liteagent/assistant") as proxy:
        # the recording starts at "approve": its first turn alone is the original request
        status, asked, _ = send(proxy, approve.with_messages(approve.messages[:1]))
        assert status == 200 and "Approval needed" in asked
        # Open WebUI sends back its own stored rendering of an older prompt, not our text
        assert approve.messages[1]["content"] != asked
        status, answer, _ = send(proxy, approve)
        assert status == 200 and answer.rstrip().endswith("Saved your note.")
        status, told, _ = send(proxy, twice)
        assert status == 200 and "Nothing is waiting for your approval" in told
    assert notes(db) == [("Groceries", "buy milk")]


@pytest.mark.local_llm
def test_bundled_model_saves_a_note_after_approval_in_the_demo_catalog(tmp_path: Path) -> None:
    """A fresh clone, no API key: the demo assistant on the bundled model, as Open WebUI asks."""
    project = make_project(tmp_path)
    db = project / "agent.db"
    env = {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    ask = requests("approval-request.json")[1]
    with run_proxy(project, env, wait_for="liteagent/assistant") as proxy:
        status, asked, _ = send(proxy, ask)
        assert status == 200 and "Approval needed" in asked and "`save_note` with:" in asked
        messages = [*ask.messages, {"role": "assistant", "content": asked}]
        approve = ask.with_messages([*messages, {"role": "user", "content": "approve"}])
        status, answer, _ = send(proxy, approve)
        assert status == 200 and 'name="save_note"' in answer
    rows = notes(db)
    assert len(rows) == 1 and all(rows[0]), rows
    assert "Saved note #1" in answer
