"""The shared pieces of the Redis-backed services: key names, JSON records, task cancelling.

Keys and record formats are what replicas of different versions share during a rolling
upgrade, so they are pinned here exactly.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pydantic
import pytest

from liteagent.runtime.background import cancel_and_wait
from liteagent.runtime.cache_manager import ConversationCache
from liteagent.runtime.circuit_breaker import CircuitSnapshot, CircuitState
from liteagent.runtime.pubsub import AgentEvent, CommandChannel, EventType, Topic
from liteagent.runtime.redis_backends import (
    RedisChainHealth,
    RedisCircuitBackend,
    RedisConcurrencyBackend,
)
from liteagent.runtime.session_manager import ConversationSession, SessionManager
from liteagent.runtime.task_tracker import TaskInfo, TaskStatus, TaskTracker


def test_redis_keys_keep_their_names() -> None:
    assert SessionManager.key("s1") == "liteagent:session:{s1}"
    assert SessionManager.key("s1", "messages") == "liteagent:session:{s1}:messages"
    assert TaskTracker.key("t1") == "liteagent:task:{t1}"
    assert TaskTracker.key("t1", "stop") == "liteagent:task:{t1}:stop"
    assert RedisChainHealth.key("c") == "liteagent:chain:{c}"
    assert RedisCircuitBackend.key("openai") == "liteagent:circuit:openai"
    assert RedisConcurrencyBackend.key("user:1") == "liteagent:inflight:user:1"
    assert CommandChannel.key("run-1") == "liteagent:commands:run-1"
    assert Topic("agent-events").channel == "liteagent:topic:agent-events"
    assert ConversationCache().full_key("s1") == "liteagent:cache:conversation:s1"


def test_records_round_trip_through_json() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    session = ConversationSession(
        "s1", "tenant", "agent", [{"role": "user", "content": "hi"}], now, now, {"k": 1}
    )
    task = TaskInfo("t1", "agent", TaskStatus.PAUSED, "alice", now, {"step": 2})
    event = AgentEvent(EventType.STREAM_CHUNK, "run-1", "agent", {"chunk": "x"}, now)
    snapshot = CircuitSnapshot(CircuitState.OPEN, failure_count=3, opened_at=12.5)

    assert ConversationSession.from_dict(session.to_dict()) == session
    assert TaskInfo.from_json(task.to_json()) == task
    assert TaskInfo.from_json(task.to_json().encode()) == task
    assert AgentEvent.from_json(event.to_json()) == event
    assert CircuitSnapshot.from_json(snapshot.to_json()) == snapshot
    assert TaskInfo.from_json(task.to_json()).status is TaskStatus.PAUSED
    assert json.loads(task.to_json())["status"] == "paused"
    assert session.to_dict()["created_at"].startswith("2026-01-02T03:04:05")


def test_records_written_with_isoformat_offsets_are_read() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    raw = json.dumps(
        {
            "task_id": "t1",
            "agent_id": "agent",
            "status": "running",
            "owner_id": "alice",
            "started_at": now.isoformat(),
            "metadata": {},
        }
    )
    assert TaskInfo.from_json(raw) == TaskInfo("t1", "agent", TaskStatus.RUNNING, "alice", now)


def test_a_record_missing_a_field_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="owner_id"):
        TaskInfo.from_json('{"task_id": "t1", "agent_id": "a", "status": "running"}')


async def test_cancel_and_wait_stops_the_task_and_returns() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(forever())
    await started.wait()
    await cancel_and_wait(task)
    assert task.cancelled()
    await cancel_and_wait(None)
