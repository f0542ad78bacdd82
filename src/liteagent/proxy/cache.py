"""A bounded LRU of built runners, keyed by (model name, temperature, max_tokens, user).

A runner that holds no state of its user (an agent without tools, a RAG entry) is cached once
under the ``SHARED`` user, so a thousand users of it cost one build, not a thousand evictions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from cachetools import LRUCache

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
    def __init__(self, maxsize: int, on_evict: Callable[[AgentCacheKey, T], None]) -> None:
        super().__init__(maxsize=maxsize)
        self._on_evict = on_evict

    def popitem(self) -> tuple[AgentCacheKey, T]:
        key, value = super().popitem()
        self._on_evict(key, value)
        return key, value


class AgentCache(Generic[T]):
    """Per-user cache of built agents. Thread-safe (sync callers use a worker thread)."""

    def __init__(
        self, maxsize: int = 256, on_evict: Callable[[AgentCacheKey, T], None] | None = None
    ) -> None:
        self.stats = CacheStats()
        self._user_evict = on_evict
        self._lru: _EvictingLRU[T] = _EvictingLRU(maxsize, self._evicted)
        self._lock = threading.RLock()

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
        with self._lock:
            keys = [k for k in self._lru if k.user == user]
            for k in keys:
                value = self._lru.pop(k)
                self._evicted(k, value)
            return len(keys)

    def invalidate_model(self, name: str) -> int:
        """Drop every cached runner of the entry ``name`` (after its definition changed)."""
        with self._lock:
            keys = [k for k in self._lru if k.name == name]
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
