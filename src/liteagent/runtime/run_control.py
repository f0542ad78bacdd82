"""Stopping a run from anywhere: the replica that runs it watches for an abort.

The replica running a run registers it (``RunControl.watch``) in the ``TaskTracker`` and, while
it runs, watches two things every ``interval`` seconds (``LITEAGENT_ABORT_POLL_INTERVAL``, passed
to ``watch`` by the runners): the run's stop flag and its
``CommandChannel`` (an ``abort`` command). ``RunControl.abort`` (from any replica: with Redis
both live there) raises the flag and sends the command; the watching replica then cancels the
task that drives the run, which the run sees as ``asyncio.CancelledError`` at the point it was
waiting (a model's stream, a tool call), saves itself as stopped, and ends its answer::

    async with run_control.watch(run_id, agent="notes", owner=user) as watch:
        async for event in watch.guard(events):   # cancelled here on an abort
            yield event

    # the code that catches the CancelledError asks whether the abort caused it:
    except asyncio.CancelledError:
        if not watch.absorb():
            raise          # a real cancellation (the client went away): pass it on

Without Redis, or while it is unreachable, flags and commands live in this process, so an abort
reaches the runs of this process only. ``install`` points the process-wide ``run_control`` at
the backends of ``RuntimeServices`` (as ``install`` does for breakers and rate limiters).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, TypeVar

from liteagent.log import get_logger
from liteagent.runtime.pubsub import CommandChannel
from liteagent.runtime.task_tracker import TaskTracker

__all__ = ["RunControl", "RunWatch", "run_control"]

logger = get_logger(__name__)

T = TypeVar("T")
ABORT = "abort"


class RunWatch:
    """One run being watched for an abort (see the module docs).

    Args:
        control: The run control it belongs to.
        run_id: The run.
        interval: Seconds between two looks at the run's flag and commands.
    """

    def __init__(self, control: RunControl, run_id: str, interval: float) -> None:
        self.control = control
        self.run_id = run_id
        self.interval = interval
        self.aborted = False
        self._task: asyncio.Task[Any] | None = None  # the task driving the run, while armed
        self._cancelled: asyncio.Task[Any] | None = None  # the task this watch cancelled
        self._watcher: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """While inside, an abort cancels the current task (outside, ``guard`` raises at the
        next step instead: a task waiting for its consumer is never cancelled under it)."""
        self._task = asyncio.current_task()
        try:
            yield
        finally:
            self._task = None

    async def guard(self, events: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
        """``events``, cancelled by an abort while one is awaited; an abort that arrives while
        the consumer holds an item is raised (``CancelledError``) before the next one."""
        while True:
            if self.aborted:
                raise asyncio.CancelledError
            with self.armed():
                try:
                    item = await anext(events)
                except StopAsyncIteration:
                    return
            yield item

    def absorb(self) -> bool:
        """Called with a ``CancelledError`` in hand: True when this watch's abort caused it (the
        cancellation is then taken back and the run may end its answer), False when something
        else cancelled the task (re-raise it)."""
        if not self.aborted:
            return False
        task = asyncio.current_task()
        if self._cancelled is not None and self._cancelled is task:
            self._cancelled = None
            task.uncancel()
        return task is None or task.cancelling() == 0

    def _fire(self, reason: str) -> None:
        if self.aborted:
            return
        self.aborted = True
        logger.info("run_abort_received", run_id=self.run_id, via=reason)
        task = self._task
        if task is not None and not task.done():
            self._cancelled = task
            task.cancel()

    async def _watch(self) -> None:
        control = self.control
        channel = control.channel(self.run_id)
        while not self.aborted and not self._closing.is_set():
            try:
                if await control.tasks.is_stopped(self.run_id):
                    self._fire("stop_flag")
                    return
                commands = await channel.fetch_commands()
            except Exception as exc:  # noqa: BLE001 - a broken watch must not break the run
                logger.warning("run_watch_failed", run_id=self.run_id, error=str(exc))
                return
            if any(c.get("type") == ABORT for c in commands):
                self._fire("command")
                return
            # the flag may be raised on another replica: nothing here to wait on but time
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.interval)

    async def start(self, agent: str, owner: str, metadata: dict[str, Any]) -> None:
        await self.control.tasks.start_task(self.run_id, agent, owner, metadata)
        self._watcher = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            # not cancelled: a Redis command cut off halfway could spoil its connection
            self._closing.set()
            await watcher
        try:
            # an abort command the watch left unread (it saw the flag first) must not stop the
            # next watch of this run (a stopped run that the chat's next message resumes)
            await self.control.channel(self.run_id).fetch_commands()
        except Exception as exc:  # noqa: BLE001 - the run is over either way
            logger.warning("run_watch_drain_failed", run_id=self.run_id, error=str(exc))
        await self.control.tasks.clear_task(self.run_id)


class RunControl:
    """Registers runs and aborts them, on whichever replica they run.

    Args:
        tasks: Where runs and their stop flags are kept (default: this process).
        channel: The command channel of a run (default: this process's).
        interval: Seconds between two looks at a run's flag and commands, for watches that
            name none.
    """

    def __init__(
        self,
        tasks: TaskTracker | None = None,
        channel: Callable[[str], CommandChannel] | None = None,
        *,
        interval: float = 0.25,
    ) -> None:
        self.tasks = tasks or TaskTracker()
        self.channel: Callable[[str], CommandChannel] = channel or CommandChannel
        self.interval = interval

    def use(self, tasks: TaskTracker, channel: Callable[[str], CommandChannel]) -> None:
        """Keep runs and commands in ``tasks`` and ``channel`` from now on."""
        self.tasks, self.channel = tasks, channel

    @contextlib.asynccontextmanager
    async def watch(
        self,
        run_id: str,
        *,
        agent: str,
        owner: str,
        metadata: dict[str, Any] | None = None,
        interval: float | None = None,
    ) -> AsyncGenerator[RunWatch, None]:
        """Register the run ``run_id`` of ``agent`` for ``owner`` and watch it for an abort
        until the block ends (then the record and any flag are removed), looking every
        ``interval`` seconds (default: this control's)."""
        watch = RunWatch(self, run_id, self.interval if interval is None else interval)
        await watch.start(agent, owner, dict(metadata or {}))
        try:
            yield watch
        finally:
            # the run may be ending because its task was cancelled: clean up regardless
            await asyncio.shield(watch.stop())

    async def abort(self, run_id: str, *, owner: str | None = None) -> bool:
        """Ask the run ``run_id`` to stop, wherever it runs.

        Args:
            run_id: The run (an agent run's ``run_id``, a workflow's ``execution_id``).
            owner: Only this user's run may be stopped (``None``: any, for operators).

        Returns:
            False when no such run is running (or it belongs to someone else).
        """
        info = await self.tasks.get_task(run_id)
        if info is None or (owner is not None and info.owner_id != owner):
            return False
        await self.tasks.set_stop_flag(run_id, info.owner_id)
        await self.channel(run_id).abort()
        logger.info("run_abort_requested", run_id=run_id, agent=info.agent_id)
        return True


run_control = RunControl()
"""The process-wide run control (in-process until ``RuntimeServices.install`` points it at
Redis)."""
