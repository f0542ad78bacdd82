"""Run lifecycle and stop flags, visible to every replica.

The replica that runs a task registers it (``start_task``) and watches its stop flag
(``is_stopped`` or ``wait_for_stop``); any replica can raise the flag (``set_stop_flag``, e.g.
a client's Stop or an abort command reaching another replica), and the running one sees it on
its next check and cancels the run. With Redis the records and flags live there (with a TTL);
without it, or while it is unreachable, in this process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from liteagent.runtime.records import JsonRecord
from liteagent.runtime.redis_client import RedisBacked, RedisClientWrapper, redis_fallback

__all__ = ["InProcessTaskStore", "TaskInfo", "TaskStatus", "TaskTracker"]


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class TaskInfo(JsonRecord):
    """One tracked task."""

    task_id: str
    agent_id: str
    status: TaskStatus
    owner_id: str
    started_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


class InProcessTaskStore:
    """Task records and stop flags of this process (the ``local`` twin)."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskInfo] = {}
        self.stops: set[str] = set()

    async def put(self, info: TaskInfo) -> None:
        self.tasks[info.task_id] = info

    async def get_task(self, task_id: str) -> TaskInfo | None:
        return self.tasks.get(task_id)

    async def raise_flag(self, task_id: str) -> None:
        self.stops.add(task_id)

    async def is_stopped(self, task_id: str) -> bool:
        return task_id in self.stops

    async def clear_task(self, task_id: str) -> None:
        self.tasks.pop(task_id, None)
        self.stops.discard(task_id)


class TaskTracker(RedisBacked[InProcessTaskStore]):
    """Tracks tasks and their stop flags.

    Args:
        redis: The shared Redis (default: this process only).
        ttl: Seconds a task record and its flag are kept after the last change.
        poll_interval: Seconds between two looks at a flag in ``wait_for_stop``
            (``LITEAGENT_ABORT_POLL_INTERVAL``).
    """

    kind = "task"
    slot_tag = True

    def __init__(
        self,
        redis: RedisClientWrapper | None = None,
        *,
        ttl: int = 86_400,
        poll_interval: float = 0.25,
    ) -> None:
        super().__init__(redis, InProcessTaskStore())
        self.ttl = ttl
        self.poll_interval = poll_interval

    # ----------------------------------------------------------------- storage (with fallback)
    @redis_fallback()
    async def put(self, info: TaskInfo) -> None:
        await self.client.set(self.key(info.task_id), info.to_json(), ex=self.ttl)

    @redis_fallback()
    async def get_task(self, task_id: str) -> TaskInfo | None:
        """The task's record, or ``None`` if unknown."""
        raw = await self.client.get(self.key(task_id))
        return TaskInfo.from_json(raw) if raw is not None else None

    @redis_fallback()
    async def raise_flag(self, task_id: str) -> None:
        await self.client.set(self.key(task_id, "stop"), "1", ex=self.ttl)

    @redis_fallback()
    async def is_stopped(self, task_id: str) -> bool:
        """Whether someone asked this task to stop."""
        return bool(await self.client.exists(self.key(task_id, "stop")))

    @redis_fallback()
    async def clear_task(self, task_id: str) -> None:
        """Forget the task and its flag."""
        await self.client.delete(self.key(task_id), self.key(task_id, "stop"))
        await self.local.clear_task(task_id)

    # ----------------------------------------------------------------- lifecycle
    async def start_task(
        self, task_id: str, agent_id: str, owner_id: str, metadata: dict[str, Any] | None = None
    ) -> TaskInfo:
        """Register a running task owned by ``owner_id`` (the user who may stop it)."""
        info = TaskInfo(
            task_id=task_id,
            agent_id=agent_id,
            status=TaskStatus.RUNNING,
            owner_id=owner_id,
            started_at=datetime.now(UTC),
            metadata=dict(metadata or {}),
        )
        await self.put(info)
        return info

    async def update_status(
        self, task_id: str, status: TaskStatus, metadata: dict[str, Any] | None = None
    ) -> None:
        """Set the task's status (and merge ``metadata``); unknown tasks are ignored."""
        info = await self.get_task(task_id)
        if info is None:
            return
        await self.put(replace(info, status=status, metadata={**info.metadata, **(metadata or {})}))

    async def complete_task(self, task_id: str, result: dict[str, Any] | None = None) -> None:
        await self.update_status(task_id, TaskStatus.COMPLETED, {"result": result or {}})

    async def fail_task(self, task_id: str, error: str) -> None:
        await self.update_status(task_id, TaskStatus.FAILED, {"error": error})

    async def set_stop_flag(self, task_id: str, owner_id: str) -> bool:
        """Ask the task to stop. Only its owner may: False for another user or an unknown task."""
        info = await self.get_task(task_id)
        if info is None or info.owner_id != owner_id:
            return False
        await self.raise_flag(task_id)
        return True

    async def wait_for_stop(self, task_id: str, *, interval: float | None = None) -> None:
        """Return once the task's stop flag is raised (run it as a task beside the run and
        cancel the run when it returns), looking every ``interval`` seconds (default:
        ``poll_interval``)."""
        pause = self.poll_interval if interval is None else interval
        # the flag may be raised by another replica: nothing here can be awaited but Redis
        while not await self.is_stopped(task_id):  # noqa: ASYNC110
            await asyncio.sleep(pause)
