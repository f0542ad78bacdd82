"""One turn at a time per conversation: concurrent requests of one chat queue instead of racing.

Two requests of the same chat (a double-clicked "approve", a client retry racing the original,
24 simultaneous proposals) would otherwise load the same stored run and race on its row. The
handler holds ``SessionLocks.hold(key)`` around everything a turn does with the chat's stored
state, so the second request starts when the first has saved, and sees what it saved.

The in-process backend serialises the turns of one process; runs on several replicas are kept
consistent by the run store's compare-and-set writes (a stale write is refused, never applied),
and a shared backend (Redis) can implement ``LockBackend`` to queue them across replicas too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

__all__ = ["InProcessLockBackend", "LockBackend", "SessionLocks"]


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
            async with entry.lock:
                yield
        finally:
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
