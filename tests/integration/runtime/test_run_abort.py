"""An abort sent through one replica stops the run another replica is running.

Each replica has its own ``RunControl`` over its own ``RuntimeServices`` (the same Valkey, or
one process without Redis); the run is an async generator whose "tool" waits for an event that
never comes, so only the abort can end it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator

import pytest

from liteagent.runtime.run_control import RunControl
from tests.integration.runtime.conftest import ServicesFactory

pytestmark = pytest.mark.integration


class SlowTool:
    """A tool that waits forever once started, and notes whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def __call__(self) -> str:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return "unreachable"


async def _run(tool: SlowTool) -> AsyncGenerator[str, None]:
    yield "thinking"
    yield await tool()


async def _drive(control: RunControl, run_id: str, tool: SlowTool) -> list[str]:
    """What a runner does: watch the run, pass its events on, end cleanly on an abort."""
    seen: list[str] = []
    async with control.watch(run_id, agent="helper", owner="alice") as watch:
        try:
            async for item in watch.guard(_run(tool)):
                seen.append(item)
        except asyncio.CancelledError:
            if not watch.absorb():
                raise
            seen.append("stopped")
    return seen


@pytest.mark.parametrize("how", ["flag_and_command", "command_only"])
async def test_an_abort_through_one_replica_cancels_the_run_on_the_other(
    replicas: ServicesFactory, how: str
) -> None:
    a, b = replicas(), replicas()
    on_a = RunControl(a.tasks, a.command_channel, interval=0.02)
    on_b = RunControl(b.tasks, b.command_channel, interval=0.02)
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    tool = SlowTool()
    running = asyncio.create_task(_drive(on_a, run_id, tool))
    await asyncio.wait_for(tool.started.wait(), 10)
    info = await b.tasks.get_task(run_id)  # registered where every replica sees it
    assert info is not None and info.owner_id == "alice" and info.agent_id == "helper"
    assert not await on_b.abort(run_id, owner="mallory")  # someone else's run
    assert not await on_b.abort(f"other-{run_id}")  # no such run
    assert not running.done()
    if how == "command_only":  # a bare abort command (no stop flag) is obeyed too
        await b.command_channel(run_id).abort()
    else:
        assert await on_b.abort(run_id, owner="alice")
    assert await asyncio.wait_for(running, 10) == ["thinking", "stopped"]
    assert tool.cancelled  # the tool saw the cancellation
    assert not running.cancelled()  # the driving task itself goes on (cancellation absorbed)
    assert await b.tasks.get_task(run_id) is None  # forgotten once the run ended
    assert not await b.tasks.is_stopped(run_id)


async def test_a_cancellation_from_elsewhere_is_not_taken_for_an_abort(
    replicas: ServicesFactory,
) -> None:
    a = replicas()
    control = RunControl(a.tasks, a.command_channel, interval=0.02)
    tool = SlowTool()
    running = asyncio.create_task(_drive(control, f"run-{uuid.uuid4().hex[:12]}", tool))
    await asyncio.wait_for(tool.started.wait(), 10)
    running.cancel()  # the client went away: the cancellation goes on up
    with pytest.raises(asyncio.CancelledError):
        await running
    assert tool.cancelled
