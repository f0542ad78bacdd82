"""End to end: what an attacker or an unlucky operator does, replayed against the real proxy.

Each case was a defect reproduced on an earlier ``main``; each must now hold:

- oversized requests (a 360 KB ``"<details>" * N`` message, a 100 KB user header, a message
  over the size limit) get their own answers while health probes keep being answered;
- toolkit URLs that point inside (loopback in any spelling, cloud metadata, 6to4) are refused
  in the chat and nothing reaches the addressed server;
- approve, then hang up: the approval is not lost, and the tool runs exactly once;
- the proxy killed (SIGKILL) after the approved tool ran: the same "approve" after a restart
  finishes the answer without running the tool again;
- 24 concurrent proposals in one chat: no 5xx;
- a model-chosen argument with backticks, an image and "safe to approve" renders inertly;
- a locked database: a retryable 503; an immutable one: no crash, nothing lost; the proxy keeps
  serving;
- tokens pasted into every kind of entry reach no table and no log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from cryptography.fernet import Fernet

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.faults import Faults
from tests.servers.http import serve_app
from tests.servers.jira_wire import JiraWireServer
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

DETAILS_360_KB = "<details>" * 40_000


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("project")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(["Fine."] * 4))
    catalog = {"models": {"bot": {"model": f"scripted/{script}", "system_prompt": "Be brief."}}}
    project = make_project(folder, yaml.safe_dump(catalog))
    env = {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db"}
    with run_proxy(project, env, wait_for="liteagent/bot") as p:
        yield p


async def _chat(
    client: openai.AsyncOpenAI, content: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """``(status, reply or error message)`` of one chat request."""
    try:
        response = await client.chat.completions.create(
            model="liteagent/bot",
            messages=[{"role": "user", "content": content}],
            extra_headers=headers,
        )
    except openai.APIStatusError as exc:
        return exc.status_code, str(exc.message)
    return 200, response.choices[0].message.content or ""


async def _probe_until_done(base_url: str, requests: list[asyncio.Task[Any]]) -> list[int]:
    """Send health probes one after another until every request is answered; their statuses."""
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        while True:
            probe = await http.get("/health/liveliness")
            statuses.append(probe.status_code)
            if all(task.done() for task in requests):
                return statuses


async def test_big_requests_get_their_answers_and_probes_keep_being_answered(
    proxy: Proxy,
) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=60, max_retries=0
    )
    async with client:
        requests = [
            asyncio.create_task(_chat(client, DETAILS_360_KB)),
            asyncio.create_task(
                _chat(client, "hello", headers={"X-OpenWebUI-User-Id": "u" * 100_000})
            ),
            asyncio.create_task(_chat(client, "x" * 1_000_001)),
        ]
        probes = await _probe_until_done(proxy.base_url, requests)
        details, header, too_large = [task.result() for task in requests]

    assert probes and set(probes) == {200}
    assert details == (200, "Fine.")
    assert header[0] == 400
    assert "X-OpenWebUI-User-Id header is too large: 100000 characters" in header[1]
    assert too_large[0] == 413
    assert "Request too large: 1000001 characters, the limit is 1000000." in too_large[1]


# ----------------------------------------------------------------------------- a second proxy:
# an agent over a scripted OpenAI-wire upstream, the Agno demo with Jira, a RAG and a workflow
# entry; LiteAgent's database in the project folder.

PASTED = "glpat-Zz9yXw8vUt7sRq6pOn5mLk4j"  # shaped like a GitLab token
TOOLKIT_CATALOG = """
models:
  notes:
    model: openai/gpt-test
    system_prompt: You keep notes.
    tools: [save_note, list_notes]
  rm:
    kind: agno
    model: scripted/{script}
    instructions: You look things up in Jira.
    toolkits:
      - name: jira
        required: true
  kb:
    kind: rag
    sources: [kb.md]
    embedder: none
    answer: extractive
  flow:
    kind: workflow
    model: scripted/{script}
    nodes:
      start: {{type: start}}
      echo: {{type: transform, transform: lower, input_variable: input, output_variable: out}}
      end: {{type: end, output_variable: out}}
    edges:
      - {{from: start, to: echo}}
      - {{from: echo, to: end}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


@pytest.fixture(scope="module")
def jira() -> Iterator[tuple[JiraWireServer, str]]:
    server = JiraWireServer()
    with serve_app(server.app) as url:
        yield server, url


def _project(folder: Path) -> Path:
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(["Fine."] * 50))
    (folder / "kb.md").write_text("# Ports\n\nThe proxy listens on port 8890.\n")
    return make_project(folder, TOOLKIT_CATALOG.format(script=script))


def _env(project: Path, upstream_url: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
        "OPENAI_BASE_URL": upstream_url,
        "LITEAGENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db",
        "LITEAGENT_KNOWLEDGE_DIR": str(project / "knowledge"),
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("adversarial"))


@pytest.fixture(scope="module")
def second(project: Path, upstream: tuple[OpenAIWireServer, str]) -> Iterator[Proxy]:
    with run_proxy(project, _env(project, upstream[1]), wait_for="liteagent/flow") as p:
        yield p


def _post(
    proxy: Proxy, model: str, messages: list[dict[str, Any]], chat: str, *, user: str = "eve"
) -> httpx.Response:
    return httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        timeout=120,
        headers={
            "Authorization": f"Bearer {MASTER_KEY}",
            "X-OpenWebUI-User-Id": user,
            "X-OpenWebUI-Chat-Id": chat,
        },
        json={"model": model, "messages": messages},
    )


def _answer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(query))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/any?x=",
        "http://2130706433:{port}/",
        "http://0x7f.1:{port}/",
        "http://localhost:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://[2002:7f00:1::]:{port}/",
        "http://10.0.0.5/",
    ],
)
def test_toolkit_urls_pointing_inside_are_refused_and_nothing_is_sent(
    second: Proxy, jira: tuple[JiraWireServer, str], url: str
) -> None:
    server, jira_url = jira
    port = jira_url.rsplit(":", 1)[1]
    before = len(server.requests)
    message = f"jira url {url.format(port=port)} token ATATT3xFfGF0abcdefghijklmnop1234"
    reply = _answer(_post(second, "liteagent/rm", [{"role": "user", "content": message}], "s1"))
    assert "LITEAGENT_OUTBOUND_ALLOW_HOSTS" in reply, reply
    assert len(server.requests) == before  # nothing reached the addressed server


def test_an_argument_cannot_dress_up_the_approval_prompt(
    second: Proxy, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, _ = upstream
    hostile = {
        "title": "x` ![p](http://127.0.0.1:9/p.png) **safe to approve** `",
        "text": "```\n</details><think>hidden",
    }
    server.reply_tool_call("save_note", hostile)
    asked = _answer(
        _post(second, "liteagent/notes", [{"role": "user", "content": "save it"}], "spoof")
    )
    fence = re.search(r"\n(`{3,})json\n(.*?)\n\1\n", asked, re.S)
    assert fence is not None and "safe to approve" in fence.group(2)
    outside = asked.replace(fence.group(0), "")
    assert "![" not in outside and "safe to approve" not in outside
    assert "<think>" not in asked


def test_24_concurrent_proposals_in_one_chat_get_no_5xx(
    second: Proxy, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, _ = upstream
    server.replies.clear()
    server.reply_tool_call("save_note", {"title": "t", "text": "race"}, sticky=True)
    message = [{"role": "user", "content": "Save a note: race"}]
    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(
                pool.map(
                    lambda _: _post(second, "liteagent/notes", message, "race").status_code,
                    range(24),
                )
            )
    finally:
        server.replies.clear()
    assert statuses == [200] * 24


def test_approve_then_hang_up_loses_nothing_and_runs_the_tool_once(
    second: Proxy, project: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, _ = upstream
    server.replies.clear()
    server.reply_tool_call("save_note", {"title": "hangup", "text": "once"})
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Save a note: once"}]
    asked = _answer(_post(second, "liteagent/notes", messages, "hang"))
    messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "approve"}]
    server.reply_text("Saved it.", faults=Faults(delay=5))
    with httpx.stream(
        "POST",
        f"{second.base_url}/v1/chat/completions",
        timeout=120,
        headers={
            "Authorization": f"Bearer {MASTER_KEY}",
            "X-OpenWebUI-User-Id": "eve",
            "X-OpenWebUI-Chat-Id": "hang",
        },
        json={"model": "liteagent/notes", "messages": messages, "stream": True},
    ) as response:
        for line in response.iter_lines():
            if "Running save_note" in line:
                break  # Stop pressed: the connection closes here
    server.reply_text("Saved it.")
    final = _answer(_post(second, "liteagent/notes", messages, "hang"))
    events = " | ".join(
        str(e.get("event"))
        for e in second.logs()
        if str(e.get("event", "")).startswith(("agent_", "request_", "llm_", "tool"))
    )
    assert final.rstrip().endswith("Saved it."), (final, events[-1500:])
    db = project / "liteagent.db"
    assert _rows(db, "SELECT count(*) FROM liteagent_notes WHERE title = 'hangup'") == [(1,)], (
        _rows(db, "SELECT title, owner FROM liteagent_notes"),
        events[-2500:],
        final,
    )
    again = _answer(_post(second, "liteagent/notes", messages, "hang"))
    assert "nothing was run again" in again
    assert _rows(db, "SELECT count(*) FROM liteagent_notes WHERE title = 'hangup'") == [(1,)]


def test_tokens_pasted_into_every_kind_reach_no_table_and_no_log(
    second: Proxy, project: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, _ = upstream
    server.replies.clear()
    server.reply_tool_call("save_note", {"title": "token", "text": "kept"})
    for model in ("notes", "rm", "kb", "flow"):
        message = f"my gitlab token is {PASTED}, and here it is glued: x{PASTED}"
        response = _post(
            second, f"liteagent/{model}", [{"role": "user", "content": message}], model
        )
        assert response.status_code == 200, (model, response.text)
    sent = json.dumps([r["body"] for r in server.requests])
    assert PASTED not in sent  # the model never saw it
    dump = "\n".join(
        str(row)
        for (table,) in _rows(
            project / "liteagent.db", "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
        for row in _rows(project / "liteagent.db", f'SELECT * FROM "{table}"')
    )
    assert "liteagent_agent_runs" in str(
        _rows(project / "liteagent.db", "SELECT name FROM sqlite_master")
    )
    assert PASTED not in dump
    assert PASTED not in second.log_text()


# ----------------------------------------------------------------------------- faults


def test_sigkill_after_the_approved_tool_ran_finishes_once_after_a_restart(
    tmp_path: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, url = upstream
    server.replies.clear()
    project = _project(tmp_path)
    env = _env(project, url)
    db = project / "liteagent.db"
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Save a note: crash"}]
    server.reply_tool_call("save_note", {"title": "crash", "text": "once"})
    with run_proxy(project, env, wait_for="liteagent/notes") as proxy:
        asked = _answer(_post(proxy, "liteagent/notes", messages, "crash"))
        messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "yes"}]
        server.reply_text("too late", faults=Faults(delay=20))  # the answer never comes back
        asked_upstream = len(server.requests)
        pending = ThreadPoolExecutor(max_workers=1).submit(
            _post, proxy, "liteagent/notes", messages, "crash"
        )
        # waiting for a condition: the approved note is in the table and the model is being
        # asked for the final answer
        while (
            _rows(db, "SELECT count(*) FROM liteagent_notes") != [(1,)]
            or len(server.requests) == asked_upstream
        ):
            assert not pending.done(), pending.result().text
            time.sleep(0.05)
        os.killpg(proxy.process.pid, signal.SIGKILL)
        proxy.process.wait(timeout=30)
        with contextlib.suppress(httpx.HTTPError):
            pending.result()
    server.reply_text("Saved it, once.")
    with run_proxy(project, env, wait_for="liteagent/notes") as proxy:
        final = _answer(_post(proxy, "liteagent/notes", messages, "crash"))
    assert final.rstrip().endswith("Saved it, once.")
    assert _rows(db, "SELECT count(*) FROM liteagent_notes") == [(1,)]


def test_locked_and_immutable_databases_are_a_retryable_503(
    tmp_path: Path, upstream: tuple[OpenAIWireServer, str]
) -> None:
    server, url = upstream
    server.replies.clear()
    project = _project(tmp_path)
    db = project / "liteagent.db"
    server.reply_tool_call("save_note", {"title": "db", "text": "faults"}, sticky=True)
    message = [{"role": "user", "content": "Save a note: db"}]
    try:
        with run_proxy(project, _env(project, url), wait_for="liteagent/notes") as proxy:
            assert _post(proxy, "liteagent/notes", message, "db-1").status_code == 200
            holder = sqlite3.connect(db, timeout=0.1)
            holder.execute("BEGIN EXCLUSIVE")  # another process holds the database
            try:
                locked = _post(proxy, "liteagent/notes", message, "db-2")
            finally:
                holder.rollback()
                holder.close()
            assert locked.status_code == 503, locked.text
            assert "busy or unavailable" in locked.json()["error"]["message"]
            assert _post(proxy, "liteagent/notes", message, "db-3").status_code == 200
            subprocess.run(["chattr", "+i", str(db)], check=True)
            try:
                frozen = _post(proxy, "liteagent/notes", message, "db-4")
                health = httpx.get(f"{proxy.base_url}/health/liveliness", timeout=30)
            finally:
                subprocess.run(["chattr", "-i", str(db)], check=True)
            # SQLite in WAL mode writes into the -wal file: the turn either succeeds (and is
            # kept) or is a retryable 503; the proxy never dies with its database
            assert frozen.status_code in (200, 503), frozen.text
            assert health.status_code == 200 and proxy.process.poll() is None
            assert _post(proxy, "liteagent/notes", message, "db-5").status_code == 200
        chats = {
            row[0].rsplit(":", 1)[1]
            for row in _rows(db, "SELECT session_key FROM liteagent_agent_runs")
        }
        expected = {"db-1", "db-3", "db-5"} | ({"db-4"} if frozen.status_code == 200 else set())
        assert chats == expected
    finally:
        server.replies.clear()
