"""Aborting and stopping a run through the handler, in one process (no Redis): the tool that is
running sees the cancellation, the run is stored as stopped and the answer says so (the calls
the person approved: tests/unit/test_stop_approved_tool.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liteagent.agents.builtin_tools import tool_registry
from liteagent.agents.run_store import RunStore
from liteagent.agents.tools import FunctionTool
from liteagent.proxy.runners.chat_session import StopReport, stopped_text
from liteagent.runtime.run_control import run_control
from liteagent.storage import get_database
from tests.unit.test_agent_runner import Chat

WAIT = {"tool_calls": [{"name": "wait_for_data", "arguments": {"source": "warehouse"}}]}


class Gate:
    """The tool's side: started, and whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()


@pytest.fixture
def gate() -> Iterator[Gate]:
    state = Gate()

    async def wait_for_data(source: str) -> str:
        """Wait for a data source (forever, in this test)."""
        state.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            state.cancelled.set()
            raise
        return source

    tool = FunctionTool(wait_for_data)
    tool_registry.register_factory("wait_for_data", lambda context=None, **_: tool, "test")
    try:
        yield state
    finally:
        tool_registry.unregister("wait_for_data")


async def _stored(chat: Chat) -> Any:
    record = await RunStore(get_database(chat.db_url)).load_run(
        session_key="owui/alice:chat:chat-1", owner="bot"
    )
    assert record is not None
    return record.state


async def _stream(chat: Chat, out: list[str]) -> None:
    assert chat.handler is not None
    async for chunk in chat.handler.astreaming("bot", chat.messages, **chat.kwargs()):
        if isinstance(chunk, dict):
            out.append(chunk["text"])


async def _run_until_the_tool_waits(
    chat: Chat, gate: Gate, text: list[str]
) -> tuple[asyncio.Task[None], str]:
    """Start a streamed turn whose tool blocks; return its task and run id once it waits."""
    chat.start([WAIT, "never said"], tools=["wait_for_data"])
    chat.messages.append({"role": "user", "content": "Fetch the warehouse data"})
    streaming = asyncio.create_task(_stream(chat, text))
    await asyncio.wait_for(gate.started.wait(), 30)
    return streaming, (await _stored(chat)).run_id


async def test_an_abort_cancels_the_running_tool_and_stores_the_run_aborted(
    tmp_path: Path, gate: Gate
) -> None:
    chat = Chat(tmp_path)
    text: list[str] = []
    streaming, run_id = await _run_until_the_tool_waits(chat, gate, text)
    assert not await run_control.abort(run_id, owner="owui/mallory")  # not theirs
    assert await run_control.abort(run_id, owner="owui/alice")
    await asyncio.wait_for(streaming, 30)  # the answer ends normally...
    assert gate.cancelled.is_set()  # ...the tool saw the cancellation...
    answer = "".join(text)
    said = stopped_text(StopReport("aborted", interrupted=("wait_for_data",)))
    assert answer.endswith(said) and "never said" not in answer
    assert "`wait_for_data` was interrupted while running: it may or may not" in said
    assert said.endswith("Nothing else was run.\n\nSend a new message to start again.")
    state = await _stored(chat)  # ...and the run is stored as stopped
    assert state.status.value == "aborted" and "Stopped" in (state.error or "")
    assert await run_control.tasks.get_task(run_id) is None
    assert not await run_control.abort(run_id)  # over: nothing to abort


async def test_a_stop_cancels_a_running_tool_that_needs_no_approval(
    tmp_path: Path, gate: Gate
) -> None:
    chat = Chat(tmp_path)
    text: list[str] = []
    streaming, run_id = await _run_until_the_tool_waits(chat, gate, text)
    streaming.cancel()  # Open WebUI's Stop: the proxy cancels the request
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(streaming, 30)  # the run does not wait for the tool
    assert gate.cancelled.is_set()
    state = await _stored(chat)
    assert state.status.value == "aborted"
    assert await run_control.tasks.get_task(run_id) is None


async def test_the_abort_route_needs_the_master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    from fastapi import FastAPI

    from liteagent.config import Settings
    from liteagent.runtime.endpoints import install_routes
    from liteagent.runtime.services import RuntimeServices

    app = FastAPI()
    install_routes(app, RuntimeServices(Settings(redis_url=None)))
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        url = "/liteagent/runs/run-1/abort"
        unset = await client.post(url, headers={"Authorization": "Bearer anything"})
        assert unset.status_code == 403 and "master key" in unset.json()["error"]["message"]
        monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-master-123")
        assert (await client.post(url)).status_code == 401
        bearer = {"Authorization": "Bearer sk-master-123"}
        missing = await client.post(url, headers=bearer)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "run_not_found"
        async with run_control.watch("run-1", agent="bot", owner="owui/alice") as watch:
            accepted = await client.post(url, headers=bearer)
            assert accepted.status_code == 202 and accepted.json()["run_id"] == "run-1"
            assert await run_control.tasks.is_stopped("run-1")
            for _ in range(400):  # the watch looks every 0.25 s
                if watch.aborted:
                    break
                await asyncio.sleep(0.05)
            assert watch.aborted  # (nothing was armed: the run's next step would raise)
        assert await run_control.tasks.get_task("run-1") is None


async def test_an_abort_stops_a_workflow_whose_agent_waits_in_a_tool(
    tmp_path: Path, gate: Gate
) -> None:
    from liteagent.catalog import parse_catalog
    from liteagent.config import Settings
    from liteagent.proxy import LiteAgentLLM
    from tests.unit.test_workflow_runner import Chat as WorkflowChat
    from tests.unit.test_workflow_runner import write_script

    waiter = {
        "system_prompt": "Fetch data.",
        "model": write_script(tmp_path, "waiter", [WAIT, "never said"]),
        "tools": ["wait_for_data"],
    }
    entry = {
        "kind": "workflow",
        "nodes": {
            "start": {"type": "start"},
            "fetch": {"type": "agent", "agent_id": "fetcher", "output_variable": "answer"},
            "end": {"type": "end", "output_variable": "answer"},
        },
        "edges": [{"from": "start", "to": "fetch"}, {"from": "fetch", "to": "end"}],
    }
    chat = WorkflowChat(tmp_path)
    handler = LiteAgentLLM(
        settings=Settings(database_url=f"sqlite+aiosqlite:///{chat.db}"),
        catalog=parse_catalog({"models": {"fetcher": waiter, "triage": entry}}),
    )
    messages = [{"role": "user", "content": "Fetch the warehouse data"}]
    text: list[str] = []

    async def stream() -> None:
        async for chunk in handler.astreaming("triage", messages, **chat.kwargs()):
            if isinstance(chunk, dict):
                text.append(chunk["text"])

    streaming = asyncio.create_task(stream())
    await asyncio.wait_for(gate.started.wait(), 30)
    tasks = run_control.tasks.local.tasks.values()  # the runs registered in this process
    [run_id] = [t.task_id for t in tasks if t.agent_id == "triage"]
    assert await run_control.abort(run_id)
    await asyncio.wait_for(streaming, 30)
    assert gate.cancelled.is_set()
    answer = "".join(text)
    # the step that was running is named: its tool may or may not have taken effect
    assert answer.endswith(stopped_text(StopReport(interrupted=("fetch",))))
    assert "never said" not in answer
    await handler.aclose()
