"""Locks shared by replicas on a real PostgreSQL: queueing, independence, dead holders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from liteagent.errors import ConfigurationError
from liteagent.storage import Database
from liteagent.storage.locks import AdvisoryLocks
from tests.servers.pgvector_server import embedded_postgres
from tests.servers.postgres_db import replicas, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    with embedded_postgres() as uri:
        yield uri


@pytest.fixture
async def setup(postgres_uri: str) -> AsyncIterator[tuple[Database, list[AdvisoryLocks]]]:
    """An observer database plus three replicas' lock managers."""
    with scratch_database(postgres_uri) as url:
        async with replicas(url, 1) as (observer,):
            locks = [AdvisoryLocks(observer) for _ in range(3)]
            try:
                yield observer, locks
            finally:
                for lock in locks:
                    await lock.dispose()


async def _advisory(observer: Database, *, granted: bool) -> int:
    async with observer.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = :g"),
            {"g": granted},
        )
        return int(result.scalar_one())


async def _waiting(observer: Database) -> int:
    return await _advisory(observer, granted=False)


async def _until_waiting(observer: Database, count: int) -> None:
    """Wait for the condition "``count`` lock requests are queued" in PostgreSQL."""
    while await _waiting(observer) != count:  # noqa: ASYNC110 - polls the server's state
        await asyncio.sleep(0.02)


async def test_replicas_take_turns_on_one_key(
    setup: tuple[Database, list[AdvisoryLocks]],
) -> None:
    observer, (first, second, _) = setup
    order: list[str] = []
    release, entered = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with first.hold("chat-1"):
            order.append("first in")
            entered.set()
            await release.wait()
            order.append("first out")

    async def waiter() -> None:
        async with second.hold("chat-1"):
            order.append("second in")

    held = asyncio.create_task(holder())
    await entered.wait()
    queued = asyncio.create_task(waiter())
    await _until_waiting(observer, 1)
    assert order == ["first in"]  # the second replica is queued in PostgreSQL, not inside
    release.set()
    await asyncio.gather(held, queued)
    assert order == ["first in", "first out", "second in"]
    assert await _waiting(observer) == 0


async def test_other_keys_are_independent(setup: tuple[Database, list[AdvisoryLocks]]) -> None:
    observer, (first, second, _) = setup
    async with first.hold("chat-1"), second.hold("chat-2"):
        assert await _advisory(observer, granted=True) == 2
        assert await _waiting(observer) == 0
    assert await _advisory(observer, granted=True) == 0  # released on leaving the block


async def test_a_dead_holder_releases_and_a_cancelled_waiter_leaves_the_queue(
    setup: tuple[Database, list[AdvisoryLocks]],
) -> None:
    observer, (first, second, third) = setup
    entered = asyncio.Event()

    async def crashing_holder() -> None:
        async with first.hold("chat-1"):
            entered.set()
            await asyncio.Event().wait()  # holds until its replica dies

    held = asyncio.create_task(crashing_holder())
    await entered.wait()
    cancelled = asyncio.create_task(second.hold("chat-1").__aenter__())
    await _until_waiting(observer, 1)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await _until_waiting(observer, 0)
    # the holder's replica dies: its database session ends, and the lock with it
    async with observer.engine.connect() as conn:
        await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted"
            )
        )
    async with third.hold("chat-1"):
        pass
        assert await _advisory(observer, granted=True) == 1
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)  # its connection was killed under it


def test_sqlite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="need PostgreSQL"):
        AdvisoryLocks(Database(f"sqlite+aiosqlite:///{tmp_path}/x.db"))


async def test_replica_turn_locks_wait_for_the_work_a_stopped_turn_left_running(
    setup: tuple[Database, list[AdvisoryLocks]],
) -> None:
    """Two replicas without Redis (``ReplicaLockBackend`` over advisory locks): a turn stopped
    by its client leaves its tool running; the other replica's turn on the same chat waits for
    that work, not only for the stopped turn."""
    from liteagent.runtime.session_lock import ReplicaLockBackend, finish_turn_with

    observer, (first, second, _) = setup
    one, two = ReplicaLockBackend(first), ReplicaLockBackend(second)
    tool_done = asyncio.Event()
    order: list[str] = []

    async def stopped_turn() -> None:
        async with one.hold("chat"):

            async def tool() -> None:
                await tool_done.wait()
                order.append("tool finished")

            finish_turn_with("chat", asyncio.ensure_future(tool()))
        order.append("stopped turn left")

    async def next_turn() -> None:
        async with two.hold("chat"):
            order.append("next turn ran")

    await stopped_turn()
    waiting = asyncio.create_task(next_turn())
    await _until_waiting(observer, 1)  # queued in PostgreSQL behind the running tool
    assert order == ["stopped turn left"]
    tool_done.set()
    await asyncio.wait_for(waiting, 30)
    assert order == ["stopped turn left", "tool finished", "next turn ran"]
    assert await _advisory(observer, granted=True) == 0
