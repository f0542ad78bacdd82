"""Aborting and stopping a run through the handler, in one process (no Redis): the tool that is
running sees the cancellation, the run is stored as stopped and the answer says so (the calls
the person approved: tests/unit/test_stop_approved_tool.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from liteagent.agents.builtin_tools import tool_registry
from liteagent.agents.run_store import RunStore
from liteagent.agents.tools import FunctionTool
from liteagent.proxy.runners.chat_session import StopReport, stopped_text
from liteagent.runtime.pubsub import CommandChannel
from liteagent.runtime.run_control import RunControl, run_control
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


class _LookedChannel(CommandChannel):
    """The in-process command channel, telling the test each time a watch has looked."""

    looks: ClassVar[list[str]] = []  # the run of each look, in order

    async def fetch_commands(self) -> list[dict[str, Any]]:
        commands = await super().fetch_commands()
        self.looks.append(self.execution_id)
        return commands


async def _looked(times: int) -> None:
    """Wait until the watches have looked at their commands ``times`` times."""
    while len(_LookedChannel.looks) < times:  # noqa: ASYNC110 - a watch's look has no event
        await asyncio.sleep(0.005)


def test_the_abort_poll_interval_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from liteagent.config import Settings
    from liteagent.runtime.services import RuntimeServices

    assert Settings(redis_url=None).abort_poll_interval == 0.25
    monkeypatch.setenv("LITEAGENT_ABORT_POLL_INTERVAL", "0.05")
    settings = Settings(redis_url=None)
    assert settings.abort_poll_interval == 0.05
    assert RuntimeServices(settings).tasks.poll_interval == 0.05  # wait_for_stop's pause
    for bad in ("0", "-1", "61"):
        monkeypatch.setenv("LITEAGENT_ABORT_POLL_INTERVAL", bad)
        with pytest.raises(ValidationError, match="LITEAGENT_ABORT_POLL_INTERVAL"):
            Settings(redis_url=None)


@pytest.mark.parametrize(("interval", "stopped"), [(60.0, False), (0.001, True)])
async def test_a_run_looks_for_an_abort_every_abort_poll_interval(
    tmp_path: Path, interval: float, stopped: bool
) -> None:
    """The run's watch looks once when the run starts, then every interval: with a minute (the
    longest allowed), an abort raised after that first look is not seen by a run that ends
    before; with a millisecond, it is seen and cancels the tool."""
    from liteagent.catalog import parse_catalog
    from liteagent.config import Settings
    from liteagent.proxy import LiteAgentLLM

    started, release, cancelled = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def fetch_rates(region: str) -> str:
        """Fetch exchange rates."""
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return f"rates of {region}"

    tool = FunctionTool(fetch_rates)
    tool_registry.register_factory("fetch_rates", lambda context=None, **_: tool, "test")
    _LookedChannel.looks = []
    run_control.use(run_control.tasks, _LookedChannel)
    chat = Chat(tmp_path)
    script = tmp_path / "rates.yaml"
    call = {"tool_calls": [{"name": "fetch_rates", "arguments": {"region": "EU"}}]}
    script.write_text(yaml.safe_dump([call, "Here are the EU rates."]))
    entry = {"system_prompt": "Rates.", "model": f"scripted/{script}", "tools": ["fetch_rates"]}
    handler = LiteAgentLLM(
        settings=Settings(database_url=chat.db_url, abort_poll_interval=interval),
        catalog=parse_catalog({"models": {"bot": entry}}),
    )
    messages = [{"role": "user", "content": "EU rates?"}]
    text: list[str] = []

    async def stream() -> None:
        async for chunk in handler.astreaming("bot", messages, **chat.kwargs()):
            if isinstance(chunk, dict):
                text.append(chunk["text"])

    try:
        streaming = asyncio.create_task(stream())
        await asyncio.wait_for(started.wait(), 30)
        await asyncio.wait_for(_looked(1), 30)  # the watch's first look is behind us
        assert await run_control.abort((await _stored(chat)).run_id)
        if stopped:
            await asyncio.wait_for(cancelled.wait(), 30)  # seen at a later look
        release.set()
        await asyncio.wait_for(streaming, 30)
        answer = "".join(text)
        assert answer.endswith("Here are the EU rates.") is not stopped
        assert ("`fetch_rates` was interrupted while running" in answer) is stopped
        assert (await _stored(chat)).status.value == ("aborted" if stopped else "completed")
        if not stopped:
            assert len(_LookedChannel.looks) == 2  # the first look, and the drain at its end
    finally:
        tool_registry.unregister("fetch_rates")
        await handler.aclose()


async def test_an_abort_the_watch_left_unread_does_not_stop_the_next_watch_of_the_run() -> None:
    """A watch that saw the stop flag first leaves the abort command unread: it is drained when
    the watch ends, so the same run resumed later (the chat's next message) is not aborted."""
    control = RunControl(channel=_LookedChannel, interval=0.001)
    _LookedChannel.looks = []

    async def forever() -> AsyncIterator[None]:
        await asyncio.Event().wait()
        yield

    async with control.watch("run-7", agent="bot", owner="owui/alice") as first:
        assert await control.abort("run-7")
        with pytest.raises(asyncio.CancelledError):
            async for _ in first.guard(forever()):
                pass
        assert first.absorb()  # the abort's own cancellation, taken back
    seen = len(_LookedChannel.looks)

    async def two_looks() -> AsyncIterator[int]:
        await _looked(seen + 2)  # the second look comes after the first one's verdict
        yield 1

    async with control.watch("run-7", agent="bot", owner="owui/alice") as again:
        assert [n async for n in again.guard(two_looks())] == [1]
        assert not again.aborted
