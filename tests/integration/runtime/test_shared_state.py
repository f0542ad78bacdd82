"""Two replicas (two ``RuntimeServices``) sharing one Valkey see one state; the same tests run
against the in-process backends, where both "replicas" are the one process."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from liteagent.runtime.circuit_breaker import CircuitBreakerConfig, CircuitOpenError, CircuitState
from liteagent.runtime.distributed_lock import DistributedLock
from liteagent.runtime.pubsub import AgentEvent, AgentEventPublisher, EventType
from liteagent.runtime.rate_limiter import RateLimitedError
from liteagent.runtime.redis_backends import RedisCircuitBackend
from tests.integration.runtime.conftest import ServicesFactory

pytestmark = pytest.mark.integration


def _name() -> str:
    return uuid.uuid4().hex[:12]


async def test_circuit_opened_by_failures_on_one_is_open_on_the_other(
    replicas: ServicesFactory,
) -> None:
    a, b = replicas(), replicas()
    name, config = f"upstream-{_name()}", CircuitBreakerConfig(failure_threshold=3)
    on_a, on_b = a.breakers().get_or_create(name, config), b.breakers().get_or_create(name, config)
    for _ in range(2):
        await on_a.before_call()
        await on_a.record_failure(ConnectionError("upstream down"))
    await on_b.before_call()  # two failures: still closed everywhere
    await on_b.record_failure(ConnectionError("upstream down"))  # the third, seen by b
    with pytest.raises(CircuitOpenError):
        await on_a.before_call()
    with pytest.raises(CircuitOpenError):
        await on_b.before_call()
    if isinstance(a.circuit_backend, RedisCircuitBackend):
        await a.circuit_backend.refresh(name)
    assert on_a.state is CircuitState.OPEN


async def test_a_rate_limit_of_n_admits_n_in_total(replicas: ServicesFactory) -> None:
    a, b = replicas(), replicas()
    key = f"user-{_name()}"
    limiters = [a.rate_limiter(5, 60), b.rate_limiter(5, 60)]

    async def attempt(i: int) -> bool:
        try:
            await limiters[i % 2].check_rate_limit(key)
        except RateLimitedError:
            return False
        return True

    admitted = await asyncio.gather(*(attempt(i) for i in range(12)))
    assert sum(admitted) == 5
    status = await limiters[1].get_status(key)
    assert status.requests_remaining == 0 and status.retry_after > 0


async def test_concurrency_limit_counts_requests_in_flight_on_every_replica(
    replicas: ServicesFactory,
) -> None:
    a, b = replicas(), replicas()
    key = f"upstream-{_name()}"
    on_a, on_b = a.rate_limiter(None, max_concurrent=2), b.rate_limiter(None, max_concurrent=2)
    first = await on_a.enter_request(key)
    await on_b.enter_request(key)
    with pytest.raises(RateLimitedError) as refused:
        await on_a.enter_request(key)
    assert refused.value.info.concurrent_active == 2
    await on_a.exit_request(key, first)
    assert (await on_b.get_status(key)).concurrent_active == 1
    await on_b.enter_request(key)


async def test_turn_lock_is_exclusive_across_replicas(replicas: ServicesFactory) -> None:
    a, b = replicas(), replicas()
    key = f"entry|chat-{_name()}"
    inside = 0
    most_inside = 0
    order: list[int] = []
    ledger = [0]

    async def turn(i: int) -> None:
        nonlocal inside, most_inside
        backend = (a if i % 2 else b).lock_backend
        async with backend.hold(key):
            inside += 1
            most_inside = max(most_inside, inside)
            seen = ledger[0]
            await asyncio.sleep(0)  # a racing turn would read the same value here
            await asyncio.sleep(0)
            ledger[0] = seen + 1
            order.append(i)
            inside -= 1

    await asyncio.wait_for(asyncio.gather(*(turn(i) for i in range(8))), 60)
    assert most_inside == 1
    assert ledger[0] == 8 and sorted(order) == list(range(8))


async def test_distributed_lock_is_exclusive_and_released(replicas: ServicesFactory) -> None:
    a, b = replicas(), replicas()
    name = f"ingest-{_name()}"
    first, second = a.lock(name, timeout=30), b.lock(name, timeout=30)
    assert await first.acquire()
    assert not await second.acquire(blocking=False)
    assert not await second.acquire(blocking=True, timeout=0.2)
    assert await first.extend(10)
    assert await first.release()
    assert await second.acquire(blocking=False)
    assert not await first.release()  # not held any more
    assert await second.release()


async def test_stop_flag_raised_on_one_replica_is_seen_on_the_other(
    replicas: ServicesFactory,
) -> None:
    a, b = replicas(), replicas()
    task_id = f"run-{_name()}"
    await a.tasks.start_task(task_id, "liteagent/helper", owner_id="alice")
    assert not await a.tasks.is_stopped(task_id)
    watcher = asyncio.create_task(a.tasks.wait_for_stop(task_id, interval=0.02))
    assert not await b.tasks.set_stop_flag(task_id, owner_id="mallory")  # not the owner
    assert not await b.tasks.set_stop_flag(f"unknown-{task_id}", owner_id="alice")
    assert await b.tasks.set_stop_flag(task_id, owner_id="alice")
    await asyncio.wait_for(watcher, 10)
    assert await a.tasks.is_stopped(task_id)
    await b.tasks.complete_task(task_id, {"answer": 42})
    info = await a.tasks.get_task(task_id)
    assert info is not None and info.status.value == "completed"
    assert info.metadata["result"] == {"answer": 42}
    await a.tasks.clear_task(task_id)
    assert await b.tasks.get_task(task_id) is None and not await b.tasks.is_stopped(task_id)


async def test_commands_sent_through_one_replica_are_fetched_once_on_the_other(
    replicas: ServicesFactory,
) -> None:
    a, b = replicas(), replicas()
    run = f"run-{_name()}"
    await a.command_channel(run).pause()
    await a.command_channel(run).abort()
    fetched = await b.command_channel(run).fetch_commands()
    assert [c["type"] for c in fetched] == ["pause", "abort"]
    assert await b.command_channel(run).fetch_commands() == []


async def test_sessions_are_shared(replicas: ServicesFactory) -> None:
    a, b = replicas(), replicas()
    tenant, agent = f"team-{_name()}", "liteagent/helper"
    session = await a.sessions.create(tenant, agent, {"channel": "web"})
    await b.sessions.add_message(session.session_id, {"role": "user", "content": "hi"})
    await a.sessions.add_message(session.session_id, {"role": "assistant", "content": "hello"})
    assert [m["content"] for m in await b.sessions.get_messages(session.session_id)] == [
        "hi",
        "hello",
    ]
    assert await b.sessions.get_messages(session.session_id, limit=1) == [
        {"role": "assistant", "content": "hello"}
    ]
    loaded = await b.sessions.get(session.session_id)
    assert loaded is not None and loaded.metadata == {"channel": "web"}
    assert await a.sessions.list_sessions(tenant, agent) == [session.session_id]
    assert await b.sessions.delete(session.session_id)
    assert await a.sessions.get(session.session_id) is None
    assert not await a.sessions.delete(session.session_id)


async def test_agent_events_reach_subscribers_of_every_replica(
    replicas: ServicesFactory,
) -> None:
    a, b = replicas(), replicas()
    execution = f"run-{_name()}"
    async with await b.events.subscribe() as subscription:
        publisher = AgentEventPublisher(a.events, execution, "liteagent/helper")
        await publisher.started()
        await publisher.stream_chunk("Hel")
        seen: list[AgentEvent] = []
        while len(seen) < 2:
            event = await subscription.receive(timeout=10)
            assert event is not None, "event not delivered"
            if event.execution_id == execution:
                seen.append(event)
    assert [e.event_type for e in seen] == [EventType.AGENT_STARTED, EventType.STREAM_CHUNK]
    assert seen[1].data == {"chunk": "Hel"}


async def test_invalidation_reaches_the_other_replicas_not_the_sender(
    redis_replicas: ServicesFactory,
) -> None:
    a, b = redis_replicas(), redis_replicas()
    got_a: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    got_b: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    a.invalidation.on(lambda kind, key: got_a.put_nowait((kind, key)))
    b.invalidation.on(lambda kind, key: got_b.put_nowait((kind, key)))
    await a.start()
    await b.start()
    await a.invalidation.publish("user_agents", "alice")
    assert await asyncio.wait_for(got_b.get(), 10) == ("user_agents", "alice")
    await b.invalidation.publish("user_agents", "bob")
    # a's own message would have arrived before b's: a sees only b's
    assert await asyncio.wait_for(got_a.get(), 10) == ("user_agents", "bob")
    assert got_a.empty() and got_b.empty()


async def test_an_expired_lease_is_never_released_by_its_old_holder(
    redis_replicas: ServicesFactory,
) -> None:
    a, b = redis_replicas(), redis_replicas()
    name = f"job-{_name()}"
    old = DistributedLock(name, timeout=0.3, redis=a.redis)
    assert await old.acquire()
    client = a.redis.client
    deadline = asyncio.get_running_loop().time() + 10
    while await client.exists(old.key):  # the lease runs out (the holder "hung")
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    new = DistributedLock(name, timeout=30, redis=b.redis)
    assert await new.acquire(blocking=False)
    assert not await old.release()  # token-checked: the new holder keeps it
    assert await client.exists(new.key)
    assert not await DistributedLock(name, redis=a.redis).acquire(blocking=False)
    assert await new.release()


async def test_a_held_turn_lock_is_renewed_beyond_its_lease(
    redis_replicas: ServicesFactory,
) -> None:
    from liteagent.runtime.redis_backends import RedisLockBackend

    a, b = redis_replicas(), redis_replicas()
    holder = RedisLockBackend(a.redis, lease=2.0)
    key = f"entry|chat-{_name()}"
    loop = asyncio.get_running_loop()
    async with holder.hold(key):
        started, renewals, last = loop.time(), 0, 2000
        # held past its first lease, the lease renewed again and again
        while renewals < 4 or loop.time() - started < 2.5:
            assert loop.time() - started < 60, "the lease was not renewed"
            left = await a.redis.client.pttl(holder.key(key))
            assert left > 0, "the lock expired while held"
            renewals += left > last
            last = left
            await asyncio.sleep(0.05)
        taken = b.redis.client.lock(holder.key(key), timeout=5)  # still held: b cannot take it
        assert not await taken.acquire(blocking=False)
    assert not await a.redis.client.exists(holder.key(key))  # released at the end


async def test_one_wrapper_serves_two_event_loops(redis_replicas: ServicesFactory) -> None:
    """LiteLLM's sync entry points run the handler on a private loop beside the proxy's."""
    services = redis_replicas()
    task_id = f"run-{_name()}"
    await services.tasks.start_task(task_id, "liteagent/helper", "alice")

    async def from_another_loop() -> bool:
        try:
            return await services.tasks.set_stop_flag(task_id, "alice")
        finally:
            await services.redis.close()  # this loop's connections

    assert await asyncio.to_thread(asyncio.run, from_another_loop())
    assert await services.tasks.is_stopped(task_id)


async def test_a_turns_remaining_work_keeps_the_chat_locked_on_every_replica(
    replicas: ServicesFactory,
) -> None:
    """A turn cancelled by its client hands its unfinished work (saving the run) to a task:
    the chat stays locked, for every replica, until that task is done."""
    from liteagent.runtime.redis_backends import RedisLockBackend
    from liteagent.runtime.session_lock import InProcessLockBackend, finish_turn_with

    a, b = replicas(), replicas()
    key = f"entry|chat-{_name()}"
    saved = asyncio.Event()
    order: list[str] = []

    async def save_run() -> None:
        await saved.wait()
        order.append("saved")

    async with a.lock_backend.hold(key):
        finish_turn_with(key, asyncio.create_task(save_run()))
    backend = a.lock_backend
    if isinstance(backend, RedisLockBackend):
        assert await a.redis.client.exists(backend.key(key))  # still held
    else:
        assert isinstance(backend, InProcessLockBackend) and len(backend) == 1

    async def next_turn() -> None:
        async with b.lock_backend.hold(key):
            order.append("next turn")

    waiting = asyncio.create_task(next_turn())
    saved.set()
    await asyncio.wait_for(waiting, 30)
    assert order == ["saved", "next turn"]
