"""One turn at a time per conversation: concurrent requests of one chat queue instead of racing.

Two requests of the same chat (a double-clicked "approve", a client retry racing the original,
24 simultaneous proposals) would otherwise load the same stored run and race on its row. The
handler holds ``SessionLocks.hold(key)`` around everything a turn does with the chat's stored
state, so the second request starts when the first has saved, and sees what it saved.

The in-process backend serialises the turns of one process; ``RedisLockBackend``
(``liteagent.runtime.redis_backends``) queues them across replicas. The run store's
compare-and-set writes keep runs consistent even if both fail (a stale write is refused).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

__all__ = [
    "InProcessLockBackend",
    "LockBackend",
    "ReplicaLockBackend",
    "SessionLocks",
    "finish_turn_with",
    "release_after_turn",
    "take_pending_work",
    "turn_key",
]


class LockBackend(Protocol):
    """Where the locks live."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """An async context manager that holds ``key`` while it is entered."""
        ...


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


_deferred: dict[str, set[asyncio.Future[Any]]] = {}


def turn_key(entry: str, session_key: str) -> str:
    """The lock key of one catalog entry's conversation."""
    return f"{entry}|{session_key}"


def finish_turn_with(key: str, task: asyncio.Future[Any]) -> None:
    """Keep the lock of the turn holding ``key`` until ``task`` is done.

    A turn cancelled by its client (Open WebUI's Stop) cannot await anything any more — its
    cancellation is delivered again at every await — so the work that must still happen (a tool
    call already running, saving the run's state) goes on in a task of its own; the chat's next
    turn waits for that task, not only for the cancelled one.
    """
    _deferred.setdefault(key, set()).add(task)


def take_pending_work(key: str) -> list[asyncio.Future[Any]]:
    """The unfinished work registered with ``finish_turn_with(key, …)`` (and forget it): a
    backend releases ``key`` only once it is done."""
    return [t for t in _deferred.pop(key, ()) if not t.done()]


_background: set[asyncio.Future[None]] = set()


async def release_after_turn(key: str, release: Callable[[], Awaitable[None]]) -> None:
    """Release a turn's lock on ``key``: now, or once the work registered with
    ``finish_turn_with(key, …)`` is done (then in the background, so the request returns)."""
    pending = take_pending_work(key)
    if not pending:
        await release()
        return

    async def when_done() -> None:
        try:
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await release()

    task = asyncio.ensure_future(when_done())
    _background.add(task)
    task.add_done_callback(_background.discard)


class InProcessLockBackend:
    """``asyncio.Lock`` per key, dropped when nobody holds or waits for it (bounded memory)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            await entry.lock.acquire()
        except BaseException:
            self._leave(key, entry)
            raise
        try:
            yield
        finally:
            await release_after_turn(key, functools.partial(self._release, key, entry))

    async def _release(self, key: str, entry: _Entry) -> None:
        entry.lock.release()
        self._leave(key, entry)

    def _leave(self, key: str, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            self._entries.pop(key, None)

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._hold(key)


class SessionLocks:
    """Per-conversation locks (``RequestContext.session_key`` plus the model).

    Args:
        backend: Where the locks live (default: this process).
    """

    def __init__(self, backend: LockBackend | None = None) -> None:
        self.backend: LockBackend = backend or InProcessLockBackend()

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the conversation ``key`` for one turn: ``async with locks.hold(key): …``."""
        return self.backend.hold(key)


class ReplicaLockBackend:
    """This process's queue in front of a lock shared by replicas (``shared``: PostgreSQL
    advisory locks when there is no Redis, ``liteagent.storage.locks.AdvisoryLocks``).

    The turns of one chat queue in this process first, so each process holds at most one
    shared lock (one database connection) per chat. Work a cancelled turn leaves running
    (``finish_turn_with``) keeps both locks until it is done, so another replica's turn sees
    what it saved.
    """

    def __init__(self, shared: LockBackend) -> None:
        self.shared = shared
        self.local = InProcessLockBackend()

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        async with self.local.hold(key):
            held = self.shared.hold(key)
            await held.__aenter__()
            try:
                yield
            finally:
                pending = take_pending_work(key)
                if pending:  # the shared lock goes once the work is done; the local one after
                    release = asyncio.ensure_future(_exit_after(held, pending))
                    finish_turn_with(key, release)
                else:
                    await held.__aexit__(None, None, None)

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._hold(key)


async def _exit_after(
    held: AbstractAsyncContextManager[None], pending: list[asyncio.Future[Any]]
) -> None:
    try:
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await held.__aexit__(None, None, None)
