"""Events about runs (``Topic`` of ``AgentEvent``) and commands to runs (``CommandChannel``).

A ``Topic`` fans messages out to every subscriber: with Redis, through ``PUBLISH``/``SUBSCRIBE``
(every replica's subscribers get them; in Cluster mode any node's ``PUBLISH`` reaches all);
without it, or while Redis is unreachable, through an in-process broker (this process's
subscribers only). Messages are not stored: a subscriber sees what is published after it
subscribed.

A ``CommandChannel`` queues pause / resume / abort commands for one execution, to be fetched
by whichever replica runs it: the commands are kept (a Redis list with a TTL, or this
process's memory) until fetched, so none is lost between two polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from redis.asyncio.client import PubSub

from liteagent.runtime.records import JsonRecord
from liteagent.runtime.redis_client import (
    REDIS_ERRORS,
    RedisBacked,
    RedisClientWrapper,
    in_use,
    redis_fallback,
)

__all__ = [
    "AgentEvent",
    "AgentEventPublisher",
    "CommandChannel",
    "EventType",
    "InProcessBroker",
    "Subscription",
    "Topic",
]


class EventType(StrEnum):
    AGENT_STARTED = "agent_started"
    AGENT_STEP = "agent_step"
    AGENT_COMPLETED = "agent_completed"
    AGENT_FAILED = "agent_failed"
    AGENT_PAUSED = "agent_paused"
    STREAM_CHUNK = "stream_chunk"
    STREAM_TOOL_CALL = "stream_tool_call"
    STREAM_TOOL_RESULT = "stream_tool_result"
    STREAM_END = "stream_end"
    CONTROL_PAUSE = "control_pause"
    CONTROL_RESUME = "control_resume"
    CONTROL_ABORT = "control_abort"
    HUMAN_INPUT_REQUESTED = "human_input_requested"
    HUMAN_INPUT_PROVIDED = "human_input_provided"


@dataclass(frozen=True)
class AgentEvent(JsonRecord):
    """Something that happened in one execution."""

    event_type: EventType
    execution_id: str
    agent_id: str
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


class InProcessBroker:
    """Channels of this process: every subscriber has a queue."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[str]]] = {}

    def subscribe(self, channel: str) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._queues.setdefault(channel, set()).add(queue)
        return queue

    def unsubscribe(self, channel: str, queue: asyncio.Queue[str]) -> None:
        queues = self._queues.get(channel)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[channel]

    async def publish(self, channel: str, message: str) -> int:
        queues = self._queues.get(channel, ())
        for queue in queues:
            queue.put_nowait(message)
        return len(queues)


local_broker = InProcessBroker()
"""The process-wide in-process broker (holds no connection)."""


class _LocalTopic:
    def __init__(self, channel: str, broker: InProcessBroker) -> None:
        self.channel = channel
        self.broker = broker

    async def publish_raw(self, message: str) -> int:
        return await self.broker.publish(self.channel, message)


class Topic(RedisBacked[_LocalTopic]):
    """A named stream of messages (``AgentEvent`` by default).

    Args:
        name: The topic's name (``agent-events`` for run events).
        redis: The shared Redis (default: this process only).
        broker: The in-process broker (default: the process-wide one).
    """

    kind = "topic"

    def __init__(
        self,
        name: str = "agent-events",
        *,
        redis: RedisClientWrapper | None = None,
        broker: InProcessBroker | None = None,
    ) -> None:
        self.name = name
        self.channel = self.key(name)
        self.broker = broker or local_broker
        super().__init__(redis, _LocalTopic(self.channel, self.broker))

    @redis_fallback()
    async def publish_raw(self, message: str) -> int:
        """Publish a string; returns how many subscribers Redis (or this process) reached."""
        return int(await self.client.publish(self.channel, message))

    async def publish(self, event: AgentEvent) -> None:
        await self.publish_raw(event.to_json())

    async def subscribe(self) -> Subscription:
        """Start receiving what is published from now on."""
        subscription = Subscription(self, self.broker.subscribe(self.channel))
        await subscription.connect()
        return subscription


class Subscription:
    """One subscriber of a ``Topic``; ``close()`` it (or use ``async with``)."""

    def __init__(self, topic: Topic, queue: asyncio.Queue[str]) -> None:
        self.topic = topic
        self._queue = queue
        self._pubsub: PubSub | None = None
        self.poll = 0.1

    async def connect(self) -> bool:
        """Subscribe on Redis (if in use and reachable); True once Redis confirmed it."""
        redis = self.topic.redis
        if not in_use(redis) or self._pubsub is not None:
            return self._pubsub is not None
        assert redis is not None
        if not redis.should_try():
            return False
        pubsub = redis.pubsub_client().pubsub()
        try:
            await pubsub.subscribe(self.topic.channel)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # the confirmation: later PUBLISHes reach us
                msg = await pubsub.get_message(timeout=0.5)
                if msg is not None and msg.get("type") == "subscribe":
                    break
        except REDIS_ERRORS as exc:
            redis.mark_failed(exc)
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            return False
        redis.mark_ok()
        self._pubsub = pubsub
        return True

    async def receive_raw(self, timeout: float | None = None) -> str | None:  # noqa: ASYNC109
        """The next message, or ``None`` after ``timeout`` seconds (``None``: wait forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self._queue.empty():
                return self._queue.get_nowait()
            left = self.poll if deadline is None else min(self.poll, deadline - time.monotonic())
            if left <= 0:
                return None
            if self._pubsub is None:
                await self.connect()
            if self._pubsub is not None:
                redis = self.topic.redis
                assert redis is not None
                try:
                    msg = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=left
                    )
                except REDIS_ERRORS as exc:
                    redis.mark_failed(exc)
                    await self._drop_pubsub()
                    continue
                if msg is not None and msg.get("type") == "message":
                    data = msg["data"]
                    return data.decode() if isinstance(data, bytes) else str(data)
                continue
            try:
                return await asyncio.wait_for(self._queue.get(), left)
            except TimeoutError:
                continue

    async def receive(self, timeout: float | None = None) -> AgentEvent | None:  # noqa: ASYNC109
        raw = await self.receive_raw(timeout)
        return AgentEvent.from_json(raw) if raw is not None else None

    async def __aiter__(self) -> AsyncIterator[AgentEvent]:
        while True:
            event = await self.receive()
            if event is not None:
                yield event

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def reset(self) -> None:
        """Drop the Redis subscription; the next ``receive`` subscribes again."""
        await self._drop_pubsub()

    async def close(self) -> None:
        self.topic.broker.unsubscribe(self.topic.channel, self._queue)
        await self._drop_pubsub()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class AgentEventPublisher:
    """Publishes the events of one execution to a topic."""

    def __init__(self, topic: Topic, execution_id: str, agent_id: str) -> None:
        self.topic = topic
        self.execution_id = execution_id
        self.agent_id = agent_id

    async def _emit(self, kind: EventType, data: dict[str, Any]) -> None:
        await self.topic.publish(AgentEvent(kind, self.execution_id, self.agent_id, data))

    async def started(self) -> None:
        await self._emit(EventType.AGENT_STARTED, {})

    async def step(self, data: dict[str, Any]) -> None:
        await self._emit(EventType.AGENT_STEP, data)

    async def completed(self, result: dict[str, Any]) -> None:
        await self._emit(EventType.AGENT_COMPLETED, result)

    async def failed(self, error: str) -> None:
        await self._emit(EventType.AGENT_FAILED, {"error": error})

    async def stream_chunk(self, chunk: str) -> None:
        await self._emit(EventType.STREAM_CHUNK, {"chunk": chunk})


_FETCH_ALL = """
local v = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return v
"""


class _LocalCommands:
    def __init__(self) -> None:
        self.queues: dict[str, list[str]] = {}

    async def push(self, execution_id: str, message: str) -> None:
        self.queues.setdefault(execution_id, []).append(message)

    async def pop_all(self, execution_id: str) -> list[str]:
        return self.queues.pop(execution_id, [])


_local_commands = _LocalCommands()


class CommandChannel(RedisBacked[_LocalCommands]):
    """Commands for one execution (pause, resume, abort), fetched by the replica running it.

    Args:
        execution_id: The execution (run) the commands are for.
        redis: The shared Redis (default: this process only).
        ttl: Seconds unfetched commands are kept.
    """

    kind = "commands"

    def __init__(
        self, execution_id: str, *, redis: RedisClientWrapper | None = None, ttl: int = 3600
    ) -> None:
        super().__init__(redis, _local_commands)
        self.execution_id = execution_id
        self.ttl = ttl

    @redis_fallback()
    async def push(self, execution_id: str, message: str) -> None:
        key = self.key(execution_id)
        await self.client.rpush(key, message)
        await self.client.expire(key, self.ttl)

    @redis_fallback()
    async def pop_all(self, execution_id: str) -> list[str]:
        raw = await self.client.eval(_FETCH_ALL, 1, self.key(execution_id))
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    async def send_command(self, command_type: str, data: dict[str, Any] | None = None) -> None:
        message = json.dumps({"type": command_type, "data": data or {}})
        await self.push(self.execution_id, message)

    async def fetch_commands(self) -> list[dict[str, Any]]:
        """Every command sent since the last fetch, oldest first (each is returned once)."""
        messages = await self.pop_all(self.execution_id)
        if in_use(self.redis):  # commands queued in-process during an outage
            messages = [*await self.local.pop_all(self.execution_id), *messages]
        return [json.loads(m) for m in messages]

    async def pause(self) -> None:
        await self.send_command("pause")

    async def resume(self) -> None:
        await self.send_command("resume")

    async def abort(self) -> None:
        await self.send_command("abort")
