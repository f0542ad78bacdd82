"""Named locks held across replicas (Redis) or within this process (the default).

``DistributedLock`` is redis-py's token-checked lock with a lease: ``release`` never frees a
lock another holder took after this one's lease ran out, and ``extend`` lengthens the lease of
a long job. Without Redis, or while it is unreachable, the lock is an ``asyncio.Lock`` per name
in this process (exclusive within the process only).

    async with distributed_lock("ingest:kb-docs", timeout=60):
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from types import TracebackType

from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from liteagent.runtime.redis_backends import KEY_PREFIX
from liteagent.runtime.redis_client import REDIS_ERRORS, RedisClientWrapper, in_use

__all__ = ["DistributedLock", "LockNotAcquiredError", "distributed_lock"]

_local_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


class LockNotAcquiredError(TimeoutError):
    """``distributed_lock`` gave up waiting for the lock."""


def _local_lock(name: str) -> asyncio.Lock:
    lock = _local_locks.get(name)
    if lock is None:
        lock = asyncio.Lock()
        _local_locks[name] = lock
    return lock


class DistributedLock:
    """One named lock.

    Args:
        name: The lock's name (shared by everyone who must exclude each other).
        timeout: Lease in seconds: a holder that dies frees the lock after this long.
        redis: The shared Redis (default: this process only).
        sleep: Seconds between attempts while someone else holds the lock.
    """

    def __init__(
        self,
        name: str,
        timeout: float = 30,
        *,
        redis: RedisClientWrapper | None = None,
        sleep: float = 0.05,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.redis = redis
        self.sleep = sleep
        self._redis_lock: Lock | None = None
        self._local: asyncio.Lock | None = None

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}lock:{self.name}"

    @property
    def held(self) -> bool:
        return self._redis_lock is not None or self._local is not None

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Take the lock; with ``blocking`` wait up to ``timeout`` seconds (``None``: forever).

        Returns:
            Whether the lock is now held by this object.
        """
        if in_use(self.redis):
            assert self.redis is not None
            if self.redis.should_try():
                lock = Lock(
                    self.redis.client,
                    self.key,
                    timeout=self.timeout,
                    sleep=self.sleep,
                    thread_local=False,
                    raise_on_release_error=False,
                )
                try:
                    got = await lock.acquire(blocking=blocking, blocking_timeout=timeout)
                except REDIS_ERRORS as exc:
                    self.redis.mark_failed(exc)
                else:
                    self.redis.mark_ok()
                    if got:
                        self._redis_lock = lock
                    return bool(got)
        local = _local_lock(self.name)
        if not blocking:
            if local.locked():
                return False
            await local.acquire()
        else:
            try:
                await asyncio.wait_for(local.acquire(), timeout)
            except TimeoutError:
                return False
        self._local = local
        return True

    async def release(self) -> bool:
        """Free the lock. False when it was not held (or its lease had already run out)."""
        if self._local is not None:
            self._local.release()
            self._local = None
            return True
        lock, self._redis_lock = self._redis_lock, None
        if lock is None:
            return False
        return await self._on_redis(lock.release())

    async def extend(self, additional_time: float) -> bool:
        """Add ``additional_time`` seconds to the lease. False if the lock is not held."""
        if self._local is not None:
            return True
        if self._redis_lock is None:
            return False
        return await self._on_redis(self._redis_lock.extend(additional_time))

    async def _on_redis(self, operation: Awaitable[object]) -> bool:
        """Run a Redis lock operation: False when the lease is gone or Redis failed."""
        try:
            await operation
        except LockError:
            return False
        except REDIS_ERRORS as exc:
            assert self.redis is not None
            self.redis.mark_failed(exc)
            return False
        return True

    async def __aenter__(self) -> DistributedLock:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


@asynccontextmanager
async def distributed_lock(
    name: str,
    timeout: float = 30,  # noqa: ASYNC109 (the lease, the seeds' name)
    *,
    redis: RedisClientWrapper | None = None,
    wait: float | None = None,
) -> AsyncIterator[DistributedLock]:
    """Hold the lock ``name`` for the block.

    Raises:
        LockNotAcquiredError: Not acquired within ``wait`` seconds.
    """
    lock = DistributedLock(name, timeout, redis=redis)
    if not await lock.acquire(blocking=True, timeout=wait):
        raise LockNotAcquiredError(f"lock '{name}' is held elsewhere")
    try:
        yield lock
    finally:
        with contextlib.suppress(*REDIS_ERRORS):
            await lock.release()
