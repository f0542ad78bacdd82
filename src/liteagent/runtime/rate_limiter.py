"""Sliding-window request limits and concurrency limits, with ``X-RateLimit-*`` header info.

The sliding window is the ``limits`` library's moving-window strategy; its storage is chosen by
URI (``memory://`` here; ``async+redis://…`` shares the window between replicas, and
``redis=RedisClientWrapper`` derives that URI and counts in-process while Redis is down).
Concurrency limits go through ``ConcurrencyBackend``; ``InMemoryConcurrencyBackend`` counts in
this process and a shared backend implements the same protocol.

A refused request raises ``RateLimitedError`` (HTTP 429) carrying a ``RateLimitInfo`` and the
matching ``X-RateLimit-*`` / ``Retry-After`` headers. Nothing is queued: callers decide whether
to wait, fall back to another model, or answer 429.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from liteagent.errors import RateLimitExceededError
from liteagent.runtime.instances import SharedInstances

if TYPE_CHECKING:
    from limits.aio.strategies import RateLimiter
    from limits.util import WindowStats

    from liteagent.runtime.redis_client import RedisClientWrapper

__all__ = [
    "CombinedRateLimiter",
    "ConcurrencyBackend",
    "ConcurrentRequestLimiter",
    "InMemoryConcurrencyBackend",
    "RateLimitInfo",
    "RateLimitedError",
    "RateLimiterRegistry",
    "SlidingWindowRateLimiter",
    "rate_limit_headers",
    "rate_limiters",
]

T = TypeVar("T")


@dataclass(frozen=True)
class RateLimitInfo:
    """Where one key stands against its limits (0 limits mean "no such limit")."""

    requests_remaining: int
    reset_at: datetime
    concurrent_active: int = 0
    concurrent_limit: int = 0
    requests_limit: int = 0
    window_seconds: int = 0

    @property
    def retry_after(self) -> float:
        """Seconds until the window frees a request (0 when one is free now)."""
        if self.requests_remaining > 0 or not self.requests_limit:
            return 0.0
        return max(0.0, (self.reset_at - datetime.now(UTC)).total_seconds())


def rate_limit_headers(info: RateLimitInfo) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers describing ``info`` (plus ``Retry-After`` when refused)."""
    headers: dict[str, str] = {}
    if info.requests_limit:
        headers["X-RateLimit-Limit"] = str(info.requests_limit)
        headers["X-RateLimit-Remaining"] = str(max(0, info.requests_remaining))
        headers["X-RateLimit-Reset"] = str(math.ceil(info.reset_at.timestamp()))
    if info.concurrent_limit:
        headers["X-RateLimit-Concurrent-Limit"] = str(info.concurrent_limit)
        headers["X-RateLimit-Concurrent-Active"] = str(info.concurrent_active)
    if info.requests_limit and info.requests_remaining <= 0:
        headers["Retry-After"] = str(max(1, math.ceil(info.retry_after)))
    return headers


class RateLimitedError(RateLimitExceededError):
    """A request was refused by a LiteAgent limit (429), with the limit's state attached."""

    def __init__(self, message: str, info: RateLimitInfo, *, concurrency: bool = False) -> None:
        super().__init__(message)
        self.info = info
        self.concurrency = concurrency
        self.retry_after: float | None = info.retry_after if not concurrency else None
        self.headers = rate_limit_headers(info)


def _no_window() -> datetime:
    return datetime.now(UTC)


class SlidingWindowRateLimiter:
    """At most ``max_requests`` per key in any ``window_seconds`` interval.

    Args:
        max_requests: Requests allowed per window.
        window_seconds: Length of the sliding window.
        storage: A ``limits`` async storage, or a storage URI (default ``memory://``).
        redis: Share the window through this Redis (``storage`` defaults to it); while Redis is
            unreachable the window is counted in this process.
    """

    def __init__(
        self,
        max_requests: int,
        window_seconds: int = 60,
        *,
        storage: Storage | str | None = None,
        redis: RedisClientWrapper | None = None,
    ) -> None:
        if max_requests < 1 or window_seconds < 1:
            raise ValueError("max_requests and window_seconds must be at least 1")
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self._redis = redis
        options: dict[str, Any] = {}
        if redis is not None and storage is None:
            from liteagent.runtime.redis_client import limits_storage_options, limits_storage_uri

            storage = limits_storage_uri(redis)
            options = limits_storage_options(redis)
        if isinstance(storage, str):
            resolved = storage_from_string(storage, **options)
            if not isinstance(resolved, Storage):
                raise ValueError(f"rate limit storage '{storage}' is not an async storage")
            storage = resolved
        self._storage: Storage = storage or MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerSecond(max_requests, window_seconds)
        self._connected = redis is None
        self._connecting = asyncio.Lock()

    async def _connect(self) -> None:
        """Open the shared storage once, before any concurrent use: a Redis Cluster client
        that learns the slot map while several scripts are in flight may run one twice."""
        if self._connected:
            return
        async with self._connecting:
            if not self._connected:
                await self._storage.check()
                self._connected = True

    def _current(self) -> RateLimiter:
        """The shared limiter, or this process's while Redis is unreachable."""
        if self._redis is None or self._redis.should_try():
            return self._limiter
        return self._local

    async def _on_window(self, operation: Callable[[RateLimiter], Awaitable[T]]) -> T:
        """Run ``operation`` on the shared window, or on this process's while Redis is down."""
        limiter = self._current()
        if limiter is self._local:
            return await operation(limiter)
        try:
            await self._connect()
            result = await operation(limiter)
        except Exception as exc:  # noqa: BLE001 - Redis errors fall back, others are raised
            self._fell_back(exc)
            return await operation(self._local)
        self._shared_ok()
        return result

    async def _hit(self, key: str) -> bool:
        return await self._on_window(lambda limiter: limiter.hit(self._item, key))

    async def _stats(self, key: str) -> WindowStats:
        return await self._on_window(lambda limiter: limiter.get_window_stats(self._item, key))

    def _fell_back(self, exc: BaseException) -> None:
        """Count in-process while Redis is unreachable; any other failure is raised."""
        # imported here: the redis client is loaded only where Redis is configured
        from liteagent.runtime.redis_client import REDIS_ERRORS

        if self._redis is None or not isinstance(exc, REDIS_ERRORS):
            raise exc
        self._redis.mark_failed(exc)

    def _shared_ok(self) -> None:
        if self._redis is not None:
            self._redis.mark_ok()

    async def _info(self, key: str) -> RateLimitInfo:
        stats = await self._stats(key)
        return RateLimitInfo(
            requests_remaining=stats.remaining,
            reset_at=datetime.fromtimestamp(stats.reset_time, UTC),
            requests_limit=self.max_requests,
            window_seconds=self.window_seconds,
        )

    async def check(self, key: str) -> RateLimitInfo:
        """Count one request for ``key``; raise ``RateLimitedError`` if the window is full."""
        allowed = await self._hit(key)
        info = await self._info(key)
        if not allowed:
            raise RateLimitedError(
                f"Rate limit for '{key}' reached: at most {self.max_requests} requests per "
                f"{self.window_seconds}s; retry in {max(1, math.ceil(info.retry_after))}s.",
                info,
            )
        return info

    async def get_status(self, key: str) -> RateLimitInfo:
        """The window's state without counting a request."""
        return await self._info(key)


class ConcurrencyBackend(Protocol):
    """Tracks in-flight requests per key."""

    async def try_enter(self, key: str, request_id: str, limit: int) -> tuple[bool, int]:
        """Add ``request_id`` unless ``limit`` are active; return (entered, active count)."""
        ...

    async def exit(self, key: str, request_id: str) -> None:
        """Remove ``request_id`` (no error if it is not there)."""
        ...

    async def active(self, key: str) -> int:
        """How many requests are in flight for ``key``."""
        ...


class InMemoryConcurrencyBackend:
    """In-flight requests of this process."""

    def __init__(self) -> None:
        self._active: dict[str, set[str]] = {}

    async def try_enter(self, key: str, request_id: str, limit: int) -> tuple[bool, int]:
        ids = self._active.setdefault(key, set())
        if len(ids) >= limit:
            return False, len(ids)
        ids.add(request_id)
        return True, len(ids)

    async def exit(self, key: str, request_id: str) -> None:
        ids = self._active.get(key)
        if ids is not None:
            ids.discard(request_id)
            if not ids:
                del self._active[key]

    async def active(self, key: str) -> int:
        return len(self._active.get(key, ()))


class ConcurrentRequestLimiter:
    """At most ``max_concurrent`` requests in flight per key."""

    def __init__(self, max_concurrent: int, *, backend: ConcurrencyBackend | None = None) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self.backend: ConcurrencyBackend = backend or InMemoryConcurrencyBackend()

    async def enter(self, key: str) -> str:
        """Start a request; return its id. Raises ``RateLimitedError`` when ``key`` is full."""
        request_id = uuid.uuid4().hex
        entered, active = await self.backend.try_enter(key, request_id, self.max_concurrent)
        if not entered:
            info = RateLimitInfo(
                requests_remaining=0,
                reset_at=_no_window(),
                concurrent_active=active,
                concurrent_limit=self.max_concurrent,
            )
            raise RateLimitedError(
                f"Too many requests in flight for '{key}' (limit {self.max_concurrent}).",
                info,
                concurrency=True,
            )
        return request_id

    async def exit(self, key: str, request_id: str) -> None:
        await self.backend.exit(key, request_id)

    async def get_active_count(self, key: str) -> int:
        return await self.backend.active(key)

    @asynccontextmanager
    async def request_context(self, key: str) -> AsyncIterator[str]:
        """``async with limiter.request_context(key) as request_id: ...``"""
        request_id = await self.enter(key)
        try:
            yield request_id
        finally:
            await self.exit(key, request_id)


class CombinedRateLimiter:
    """A sliding window and a concurrency limit together; either may be omitted.

    Args:
        max_requests: Requests per window (``None``: no window limit).
        window_seconds: Window length.
        max_concurrent: In-flight requests (``None``: no concurrency limit).
        storage: ``limits`` storage or URI for the window.
        concurrency_backend: Backend for the concurrency counts.
        redis: Share the window through this Redis (see ``SlidingWindowRateLimiter``).
    """

    def __init__(
        self,
        max_requests: int | None = None,
        window_seconds: int = 60,
        max_concurrent: int | None = None,
        *,
        storage: Storage | str | None = None,
        concurrency_backend: ConcurrencyBackend | None = None,
        redis: RedisClientWrapper | None = None,
    ) -> None:
        self.window = (
            SlidingWindowRateLimiter(max_requests, window_seconds, storage=storage, redis=redis)
            if max_requests
            else None
        )
        self.concurrency = (
            ConcurrentRequestLimiter(max_concurrent, backend=concurrency_backend)
            if max_concurrent
            else None
        )

    async def _merge(self, key: str, window: RateLimitInfo | None) -> RateLimitInfo:
        active = await self.concurrency.get_active_count(key) if self.concurrency else 0
        return RateLimitInfo(
            requests_remaining=window.requests_remaining if window else 0,
            reset_at=window.reset_at if window else _no_window(),
            concurrent_active=active,
            concurrent_limit=self.concurrency.max_concurrent if self.concurrency else 0,
            requests_limit=window.requests_limit if window else 0,
            window_seconds=window.window_seconds if window else 0,
        )

    async def check_rate_limit(self, key: str) -> RateLimitInfo:
        """Count one request against the window (raises when it is full)."""
        return await self._merge(key, await self.window.check(key) if self.window else None)

    async def enter_request(self, key: str) -> str:
        """Take a concurrency slot (raises when none is free); returns the request id."""
        return await self.concurrency.enter(key) if self.concurrency else ""

    async def exit_request(self, key: str, request_id: str) -> None:
        if self.concurrency and request_id:
            await self.concurrency.exit(key, request_id)

    async def get_status(self, key: str) -> RateLimitInfo:
        return await self._merge(key, await self.window.get_status(key) if self.window else None)

    @asynccontextmanager
    async def request(self, key: str) -> AsyncIterator[RateLimitInfo]:
        """Count the request, hold a concurrency slot while the block runs, yield the info."""
        request_id = await self.enter_request(key)
        try:
            window = await self.window.check(key) if self.window else None
            yield await self._merge(key, window)
        finally:
            await self.exit_request(key, request_id)


class RateLimiterRegistry(SharedInstances[CombinedRateLimiter]):
    """Limiters by name, so that everything calling one upstream shares its limit
    (``get_or_create(name, factory)``, ``get(name)``, ``clear()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.redis: RedisClientWrapper | None = None
        self.concurrency: ConcurrencyBackend | None = None
        self.storage: Storage | None = None

    def use(
        self,
        *,
        redis: RedisClientWrapper | None,
        concurrency: ConcurrencyBackend | None,
        storage: Storage | None = None,
    ) -> None:
        """Back limiters created from now on with ``redis`` (windows) and ``concurrency``;
        without Redis, ``storage`` (when given) holds the windows of all of them."""
        self.redis = redis
        self.concurrency = concurrency
        self.storage = storage
        self.clear()

    def create(
        self, max_requests: int | None, window_seconds: int = 60, max_concurrent: int | None = None
    ) -> CombinedRateLimiter:
        """A limiter on this registry's backends (shared across replicas after ``use``)."""
        return CombinedRateLimiter(
            max_requests,
            window_seconds,
            max_concurrent,
            storage=self.storage,
            concurrency_backend=self.concurrency,
            redis=self.redis,
        )


rate_limiters = RateLimiterRegistry()
"""The process-wide registry the LLM layer uses for providers' ``rate_limit`` settings."""
