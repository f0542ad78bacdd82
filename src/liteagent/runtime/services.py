"""Every runtime service of one process, built from Settings: Redis-backed or in-process.

    services = RuntimeServices.from_settings(settings)   # opens nothing
    services.install()          # process-wide breakers, rate limiters, fallback-chain health,
                                # run aborts use the backends
    await services.start()      # subscribes to invalidations (idempotent)
    ...
    await services.aclose()

With ``REDIS_URL`` unset every backend is in-process (the zero-setup default); with it set,
each uses Redis and falls back to its in-process twin while Redis is unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from limits.aio.storage import MemoryStorage

from liteagent.config import Settings
from liteagent.runtime.cache_manager import InvalidationBus
from liteagent.runtime.chain_health import ChainHealthBackend, InMemoryChainHealth, chain_health
from liteagent.runtime.circuit_breaker import (
    CircuitBreakerBackend,
    CircuitBreakerRegistry,
    InMemoryCircuitBackend,
    circuit_breakers,
)
from liteagent.runtime.distributed_lock import DistributedLock
from liteagent.runtime.health import (
    DatabaseHealthCheck,
    DiskSpaceHealthCheck,
    HealthCheckRegistry,
    MemoryHealthCheck,
    RedisHealthCheck,
)
from liteagent.runtime.metrics import MetricsCollector, metrics
from liteagent.runtime.pubsub import CommandChannel, Topic
from liteagent.runtime.rate_limiter import (
    CombinedRateLimiter,
    ConcurrencyBackend,
    InMemoryConcurrencyBackend,
    RateLimiterRegistry,
    rate_limiters,
)
from liteagent.runtime.redis_backends import (
    RedisChainHealth,
    RedisCircuitBackend,
    RedisConcurrencyBackend,
    RedisLockBackend,
)
from liteagent.runtime.redis_client import RedisClientWrapper
from liteagent.runtime.run_control import run_control
from liteagent.runtime.session_lock import InProcessLockBackend, LockBackend
from liteagent.runtime.session_manager import SessionManager
from liteagent.runtime.task_tracker import TaskTracker

__all__ = ["RuntimeServices", "restore_process_defaults"]


class RuntimeServices:
    """The backends of one process.

    Args:
        settings: ``REDIS_*`` decide between Redis and in-process.
        redis: A wrapper to use (default: a new one from ``settings``).
        database_ping: A coroutine function that checks the database (``SELECT 1``), for
            health; without it health has no database check.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        redis: RedisClientWrapper | None = None,
        database_ping: Callable[[], Awaitable[object]] | None = None,
        metrics_collector: MetricsCollector | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis or RedisClientWrapper(settings)
        shared = self.redis.configured
        wrapper = self.redis if shared else None
        self.shared = shared
        self.circuit_backend: CircuitBreakerBackend = (
            RedisCircuitBackend(self.redis) if shared else InMemoryCircuitBackend()
        )
        self.concurrency_backend: ConcurrencyBackend = (
            RedisConcurrencyBackend(self.redis) if shared else InMemoryConcurrencyBackend()
        )
        self.chain_health: ChainHealthBackend = (
            RedisChainHealth(self.redis) if shared else InMemoryChainHealth()
        )
        self.window_storage = MemoryStorage()  # in-process windows, shared by its limiters
        self.limiters = RateLimiterRegistry()
        self.limiters.use(
            redis=self.redis if shared else None,
            concurrency=self.concurrency_backend,
            storage=None if shared else self.window_storage,
        )
        self.lock_backend: LockBackend = (
            RedisLockBackend(self.redis) if shared else InProcessLockBackend()
        )
        self.tasks = TaskTracker(wrapper, poll_interval=settings.abort_poll_interval)
        self.sessions = SessionManager(wrapper)
        self.events = Topic("agent-events", redis=wrapper)
        self.invalidation = InvalidationBus(wrapper)
        self.metrics = metrics_collector or metrics
        self.health = HealthCheckRegistry()
        self.health.register(RedisHealthCheck(self.redis))
        self.health.register(DiskSpaceHealthCheck(_data_folder(settings)))
        self.health.register(MemoryHealthCheck())
        if database_ping is not None:
            self.health.register(DatabaseHealthCheck(database_ping))
        self._started = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        database_ping: Callable[[], Awaitable[object]] | None = None,
    ) -> RuntimeServices:
        """Build from ``settings`` (default: the process settings). Opens no connection."""
        if settings is None:
            from liteagent.config import get_settings

            settings = get_settings()
        return cls(settings, database_ping=database_ping)

    # ----------------------------------------------------------------- factories
    def breakers(self) -> CircuitBreakerRegistry:
        """A breaker registry on these backends (shared breakers need a wall clock)."""
        return CircuitBreakerRegistry(self.circuit_backend, clock=self._clock())

    def rate_limiter(
        self, max_requests: int | None, window_seconds: int = 60, max_concurrent: int | None = None
    ) -> CombinedRateLimiter:
        """A limiter whose window and concurrency count across every replica (with Redis)."""
        return self.limiters.create(max_requests, window_seconds, max_concurrent)

    def command_channel(self, execution_id: str) -> CommandChannel:
        return CommandChannel(execution_id, redis=self.redis if self.shared else None)

    def lock(self, name: str, timeout: float = 30) -> DistributedLock:
        return DistributedLock(name, timeout, redis=self.redis if self.shared else None)

    def _clock(self) -> Callable[[], float]:
        return time.time if self.shared else time.monotonic

    # ----------------------------------------------------------------- lifecycle
    def install(
        self,
        breakers: CircuitBreakerRegistry | None = None,
        limiters: RateLimiterRegistry | None = None,
    ) -> None:
        """Point the process-wide breaker and rate-limiter registries at these backends."""
        registry = breakers or circuit_breakers
        registry.backend = self.circuit_backend
        registry.clock = self._clock()
        for name in list(registry.get_all_stats()):
            breaker = registry.get(name)
            if breaker is not None:
                breaker.backend, breaker.clock = registry.backend, registry.clock
        (limiters or rate_limiters).use(
            redis=self.redis if self.shared else None, concurrency=self.concurrency_backend
        )
        run_control.use(self.tasks, self.command_channel)  # aborts reach every replica
        chain_health.backend = self.chain_health  # fallback chains count on every replica

    async def start(self) -> None:
        """Start listening for invalidations from other replicas (idempotent; nothing to do
        without Redis)."""
        if self._started or not self.shared:
            return
        self._started = True
        await self.invalidation.start()

    async def aclose(self) -> None:
        await self.invalidation.close()
        await self.redis.close()
        self._started = False


def restore_process_defaults() -> None:
    """Point the process-wide registries back at in-process backends (what ``install`` set up
    is forgotten): the state of a process that never installed any services. For tests, and
    for embedding applications that build and discard several handlers in one process."""
    circuit_breakers.clear()
    circuit_breakers.backend = InMemoryCircuitBackend()
    circuit_breakers.clock = time.monotonic
    rate_limiters.use(redis=None, concurrency=None)
    run_control.use(TaskTracker(), CommandChannel)
    chain_health.backend = InMemoryChainHealth()


def _data_folder(settings: Settings) -> Path:
    url = settings.database_url
    if url.startswith("sqlite") and ":///" in url:
        return Path(url.split(":///", 1)[1] or ".").expanduser().resolve().parent
    return Path.cwd()
