"""Redis implementations of the runtime seams: breakers, concurrency, per-chat locks, windows.

Each class keeps an in-process twin as ``local``; while Redis is unreachable the twin answers
(``redis_fallback``), so a replica keeps serving with its own state until Redis is back.

- ``RedisCircuitBackend`` (``CircuitBreakerBackend``): one JSON snapshot per breaker, each
  transition applied in a ``WATCH``/``MULTI`` transaction, so failures seen by any replica open
  the circuit for all. Use it with a wall clock (``time.time``): monotonic clocks of two
  machines do not agree.
- ``RedisConcurrencyBackend`` (``ConcurrencyBackend``): a sorted set of in-flight request ids
  per key, entered by a Lua script; each entry is a lease, so a crashed replica's slots expire.
- ``RedisLockBackend`` (``LockBackend``): redis-py's token-checked ``Lock`` per chat, with its
  lease renewed while held and released only once the turn's pending work is done.
- ``RedisChainHealth`` (``ChainHealthBackend``): one hash per fallback chain, changed by a Lua
  script, so failures counted by any replica steer every replica's chain.
- ``limits_storage_uri`` (from ``redis_client``): the ``limits`` storage URI for the same
  Redis (sliding windows).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from redis.asyncio.client import Pipeline
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from liteagent.log import get_logger
from liteagent.runtime.background import cancel_and_wait
from liteagent.runtime.chain_health import InMemoryChainHealth, ModelHealth
from liteagent.runtime.circuit_breaker import (
    Change,
    CircuitSnapshot,
    InMemoryCircuitBackend,
)
from liteagent.runtime.rate_limiter import InMemoryConcurrencyBackend
from liteagent.runtime.redis_client import (
    KEY_PREFIX,
    REDIS_ERRORS,
    RedisBacked,
    RedisClientWrapper,
    limits_storage_options,
    limits_storage_uri,
    redis_fallback,
)
from liteagent.runtime.session_lock import InProcessLockBackend, release_after_turn

__all__ = [
    "KEY_PREFIX",
    "RedisChainHealth",
    "RedisCircuitBackend",
    "RedisConcurrencyBackend",
    "RedisLockBackend",
    "limits_storage_options",
    "limits_storage_uri",
]

logger = get_logger(__name__)


# ----------------------------------------------------------------------------- breakers
def _load(raw: bytes | str | None) -> CircuitSnapshot:
    return CircuitSnapshot.from_json(raw) if raw else CircuitSnapshot()


class RedisCircuitBackend(RedisBacked[InMemoryCircuitBackend]):
    """Breaker snapshots in Redis, shared by every replica.

    Args:
        redis: The connection wrapper.
        ttl: Seconds an untouched breaker's state is kept.
    """

    kind = "circuit"
    redis: RedisClientWrapper

    def __init__(self, redis: RedisClientWrapper, *, ttl: int = 86_400) -> None:
        super().__init__(redis, InMemoryCircuitBackend())
        self.ttl = ttl
        self._known: dict[str, CircuitSnapshot] = {}

    @redis_fallback()
    async def apply(self, name: str, change: Change) -> tuple[CircuitSnapshot, bool]:
        key = self.key(name)
        outcome: list[tuple[CircuitSnapshot, bool]] = []

        async def step(pipe: Pipeline) -> None:
            outcome.clear()
            current = _load(await pipe.get(key))
            snapshot, verdict = change(current)
            outcome.append((snapshot, verdict))
            pipe.multi()  # type: ignore[no-untyped-call]
            if snapshot != current:
                pipe.set(key, snapshot.to_json(), ex=self.ttl)
            else:
                pipe.expire(key, self.ttl)

        await self.client.transaction(step, key)  # type: ignore[arg-type]
        snapshot, verdict = outcome[0]
        self._known[name] = snapshot
        return snapshot, verdict

    @redis_fallback()
    async def reset(self, name: str) -> None:
        await self.client.delete(self.key(name))
        self._known.pop(name, None)
        await self.local.reset(name)

    @redis_fallback()
    async def refresh(self, name: str) -> CircuitSnapshot | None:
        """Read the shared snapshot (so ``peek`` and ``CircuitBreaker.state`` show it)."""
        raw = await self.client.get(self.key(name))
        if raw is None:
            self._known.pop(name, None)
            return None
        self._known[name] = _load(raw)
        return self._known[name]

    def peek(self, name: str) -> CircuitSnapshot | None:
        if not self.redis.available:
            return self.local.peek(name)
        return self._known.get(name)


# ----------------------------------------------------------------------------- concurrency
_ENTER = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
local active = redis.call('ZCARD', KEYS[1])
if active >= tonumber(ARGV[2]) then return {0, active} end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return {1, active + 1}
"""

_ACTIVE = """
local now = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(now[1]) + tonumber(now[2]) / 1000000)
return redis.call('ZCARD', KEYS[1])
"""


class RedisConcurrencyBackend(RedisBacked[InMemoryConcurrencyBackend]):
    """In-flight requests per key across replicas.

    Args:
        redis: The connection wrapper.
        lease: Seconds after which a slot whose request never exited is freed (a crash).
    """

    kind = "inflight"

    def __init__(self, redis: RedisClientWrapper, *, lease: float = 3600.0) -> None:
        super().__init__(redis, InMemoryConcurrencyBackend())
        self.lease = lease

    @redis_fallback()
    async def try_enter(self, key: str, request_id: str, limit: int) -> tuple[bool, int]:
        entered, active = await self.client.eval(
            _ENTER, 1, self.key(key), request_id, limit, self.lease
        )
        return bool(entered), int(active)

    @redis_fallback()
    async def exit(self, key: str, request_id: str) -> None:
        await self.client.zrem(self.key(key), request_id)
        await self.local.exit(key, request_id)  # it may have entered during an outage

    @redis_fallback()
    async def active(self, key: str) -> int:
        return int(await self.client.eval(_ACTIVE, 1, self.key(key)))


# ----------------------------------------------------------------------------- chat locks
class RedisLockBackend:
    """Per-chat turn locks shared by every replica (``LockBackend``).

    Args:
        redis: The connection wrapper.
        lease: Seconds a lock lives without renewal (a crashed holder frees it after this).
        poll: Seconds between attempts while another holder has the lock.
        namespace: What the locks are for (part of the Redis key).
    """

    def __init__(
        self,
        redis: RedisClientWrapper,
        *,
        lease: float = 30.0,
        poll: float = 0.05,
        namespace: str = "turn",
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.local = InProcessLockBackend()
        self.lease = lease
        self.poll = poll
        self._gates: dict[str, list[Any]] = {}

    def key(self, key: str) -> str:
        return f"{KEY_PREFIX}{self.namespace}:{key}"

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._hold(key)

    async def _acquire(self, key: str) -> Lock | None:
        """The held Redis lock, or ``None`` when Redis is unreachable (use ``local``)."""
        if not self.redis.should_try():
            return None
        lock = Lock(
            self.redis.client,
            self.key(key),
            timeout=self.lease,
            sleep=self.poll,
            thread_local=False,
            raise_on_release_error=False,
        )
        try:
            await lock.acquire()
        except REDIS_ERRORS as exc:
            self.redis.mark_failed(exc)
            return None
        self.redis.mark_ok()
        return lock

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        # turns of this process queue here first, so only one of them polls Redis at a time
        async with self._gate(key):
            lock = await self._acquire(key)
            if lock is None:
                async with self.local.hold(key):
                    yield
                return
            async with self._held(key, lock):
                yield

    @asynccontextmanager
    async def _gate(self, key: str) -> AsyncIterator[None]:
        entry = self._gates.get(key)
        if entry is None:
            entry = self._gates[key] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._gates.pop(key, None)

    @asynccontextmanager
    async def _held(self, key: str, lock: Lock) -> AsyncIterator[None]:
        renewer = asyncio.create_task(self._renew(lock))
        try:
            yield
        finally:
            await release_after_turn(key, functools.partial(self._release, lock, renewer))

    async def _renew(self, lock: Lock) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await lock.reacquire()
            except REDIS_ERRORS as exc:
                self.redis.mark_failed(exc)
            except LockError as exc:  # the lease was lost (expired during an outage)
                logger.warning("turn_lock_lost", lock=lock.name, error=type(exc).__name__)
                return

    async def _release(self, lock: Lock, renewer: asyncio.Task[None]) -> None:
        await cancel_and_wait(renewer)
        try:
            await lock.release()  # token-checked: never frees another holder's lock
        except REDIS_ERRORS as exc:
            self.redis.mark_failed(exc)  # the lease frees it once Redis is back


# ----------------------------------------------------------------------------- chain health
# One hash per chain (one key: atomic, and one Cluster slot): "<model>|<field>" → value.
_RECORD = """
local key, model, reason, err, counted, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if reason == '' then
  redis.call('HINCRBY', key, model .. '|requests', 1)
  redis.call('HSET', key, model .. '|consecutive', 0)
else
  if counted == '1' then
    redis.call('HINCRBY', key, model .. '|requests', 1)
    redis.call('HINCRBY', key, model .. '|failures', 1)
    redis.call('HINCRBY', key, model .. '|consecutive', 1)
  end
  redis.call('HSET', key, model .. '|last_reason', reason, model .. '|last_error', err)
end
redis.call('EXPIRE', key, ttl)
return 1
"""


class RedisChainHealth(RedisBacked[InMemoryChainHealth]):
    """Chain health shared by every replica through Redis.

    Args:
        redis: The shared Redis.
        ttl: Seconds a chain's counts are kept after its last call.
    """

    kind = "chain"
    slot_tag = True

    def __init__(self, redis: RedisClientWrapper, *, ttl: int = 86_400) -> None:
        super().__init__(redis, InMemoryChainHealth())
        self.ttl = ttl

    @redis_fallback()
    async def record(
        self, chain: str, model: str, reason: str | None, error: str | None, *, counted: bool
    ) -> None:
        args = (model, reason or "", error or "", "1" if counted else "0", str(self.ttl))
        await self.client.eval(_RECORD, 1, self.key(chain), *args)

    @redis_fallback()
    async def snapshot(self, chain: str, models: Sequence[str]) -> dict[str, ModelHealth]:
        raw = await self.client.hgetall(self.key(chain))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        result: dict[str, ModelHealth] = {}
        for m in models:
            result[m] = ModelHealth(
                requests=int(fields.get(f"{m}|requests", 0)),
                failures=int(fields.get(f"{m}|failures", 0)),
                consecutive_failures=int(fields.get(f"{m}|consecutive", 0)),
                last_reason=fields.get(f"{m}|last_reason") or None,
                last_error=fields.get(f"{m}|last_error") or None,
            )
        return result

    @redis_fallback()
    async def next_turn(self, chain: str) -> int:
        key = self.key(chain)
        turn = int(await self.client.hincrby(key, "turn", 1)) - 1
        await self.client.expire(key, self.ttl)
        return turn


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
