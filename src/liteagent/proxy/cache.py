"""A bounded LRU of built runners, keyed by (model name, temperature, max_tokens, user).

A runner that holds no state of its user (an agent without tools, a RAG entry) is cached once
under the ``SHARED`` user, so a thousand users of it cost one build, not a thousand evictions.

The cache is bounded twice: by count (``LITEAGENT_AGENT_CACHE_SIZE``) and by the memory its
runners hold of their own (``LITEAGENT_AGENT_CACHE_MB``), measured once when a runner is built
(``liteagent.proxy.footprint``: what it shares with every other runner is not counted). The
least recently used runners leave first when either bound is passed; the newest runner is kept
even when it alone is larger than the budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from cachetools import LRUCache

from liteagent.proxy.footprint import owned_bytes

T = TypeVar("T")

SHARED = "\x00shared"
"""The user of a cache key whose runner every user shares (no user key looks like it)."""


class AgentCacheKey(NamedTuple):
    name: str
    temperature: float | None
    max_tokens: int | None
    user: str


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0


class _EvictingLRU(LRUCache[AgentCacheKey, T]):
    """cachetools' LRU over a byte budget, with a count bound and an eviction callback."""

    def __init__(
        self,
        max_bytes: int,
        max_count: int,
        sizeof: Callable[[T], int],
        on_evict: Callable[[AgentCacheKey, T], None],
    ) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=lambda v: min(sizeof(v), max_bytes))
        self._max_count = max_count
        self._on_evict = on_evict

    def __setitem__(self, key: AgentCacheKey, value: T) -> None:
        super().__setitem__(key, value)
        while len(self) > self._max_count:
            self.popitem()

    def popitem(self) -> tuple[AgentCacheKey, T]:
        key, value = super().popitem()
        self._on_evict(key, value)
        return key, value


class AgentCache(Generic[T]):
    """Per-user cache of built agents. Thread-safe (sync callers use a worker thread).

    Args:
        maxsize: The most runners kept.
        on_evict: Called with each runner that leaves the cache (to close it).
        max_bytes: The most memory the runners may hold of their own (``None``: no bound).
        sizeof: How a runner's own memory is measured (default: ``owned_bytes``).
    """

    def __init__(
        self,
        maxsize: int = 256,
        on_evict: Callable[[AgentCacheKey, T], None] | None = None,
        *,
        max_bytes: int | None = None,
        sizeof: Callable[[T], int] = owned_bytes,
    ) -> None:
        self.stats = CacheStats()
        self._user_evict = on_evict
        if max_bytes is None:  # count only: every runner weighs 1 within a budget of maxsize
            max_bytes, sizeof = maxsize, lambda _: 1
        self._lru: _EvictingLRU[T] = _EvictingLRU(max_bytes, maxsize, sizeof, self._evicted)
        self._lock = threading.RLock()

    @property
    def cached_bytes(self) -> int:
        """The memory the cached runners hold of their own, as measured when each was built
        (the number of runners when the cache has no byte budget)."""
        return int(self._lru.currsize)

    def _evicted(self, key: AgentCacheKey, value: T) -> None:
        self.stats.evictions += 1
        if self._user_evict is not None:
            self._user_evict(key, value)

    def get_or_build(self, key: AgentCacheKey, build: Callable[[], T]) -> tuple[T, bool]:
        """Return ``(value, hit)``; builds and stores the value on a miss."""
        with self._lock:
            value = self._lru.get(key)
            if value is not None:
                self.stats.hits += 1
                return value, True
            self.stats.misses += 1
            value = build()
            self._lru[key] = value
            return value, False

    def invalidate_user(self, user: str) -> int:
        """Drop every cached agent of ``user`` (after their credentials change)."""
        return self._drop(lambda key: key.user == user)

    def invalidate_model(self, name: str) -> int:
        """Drop every cached runner of the entry ``name`` (after its definition changed)."""
        return self._drop(lambda key: key.name == name)

    def _drop(self, matches: Callable[[AgentCacheKey], bool]) -> int:
        with self._lock:
            keys = [k for k in self._lru if matches(k)]
            for k in keys:
                value = self._lru.pop(k)
                self._evicted(k, value)
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            while self._lru:
                self._lru.popitem()

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, key: object) -> bool:
        return key in self._lru
