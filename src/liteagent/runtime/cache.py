"""In-process caches: an LRU with a time-to-live per entry, and an LLM response cache on it.

``InMemoryCache`` is ``cachetools.TLRUCache`` (least recently used out first, each entry
expiring after its own TTL) behind the seeds' small API, with hit/miss counts. It is the
in-process twin of the Redis caches in ``cache_manager``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache

__all__ = ["CacheConfig", "InMemoryCache", "LLMResponseCache"]


@dataclass(frozen=True)
class CacheConfig:
    """Size and default lifetime of an in-process cache."""

    max_size: int = 1000
    default_ttl: int = 300


def _expires(_key: str, value: tuple[Any, float], now: float) -> float:
    return now + value[1]


class InMemoryCache:
    """LRU with per-entry TTL (thread-safe)."""

    def __init__(self, config: CacheConfig | None = None) -> None:
        self.config = config or CacheConfig()
        self._data: TLRUCache[str, tuple[Any, float]] = TLRUCache(
            maxsize=self.config.max_size, ttu=_expires, timer=time.monotonic
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            return entry[0]

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        with self._lock:
            self._data[key] = (value, float(ttl if ttl is not None else self.config.default_ttl))

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            keys = [k for k in self._data if k.startswith(prefix)]
            for k in keys:
                self._data.pop(k, None)
            return len(keys)

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._data

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def get_stats(self) -> dict[str, Any]:
        with self._lock:
            total = self.hits + self.misses
            return {
                "size": len(self._data),
                "max_size": self.config.max_size,
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": round(self.hits / total, 4) if total else 0.0,
            }


class LLMResponseCache:
    """Responses by (model, messages), for deterministic calls (temperature 0)."""

    def __init__(self, cache: InMemoryCache | None = None, ttl: int = 600) -> None:
        self.cache = cache or InMemoryCache()
        self.ttl = ttl

    @staticmethod
    def _key(messages: list[dict[str, Any]], model: str) -> str:
        blob = json.dumps([model, messages], sort_keys=True, default=str)
        return "llm:" + hashlib.sha256(blob.encode()).hexdigest()

    def get_cached_response(self, messages: list[dict[str, Any]], model: str) -> Any | None:
        return self.cache.get(self._key(messages, model))

    def cache_response(
        self, messages: list[dict[str, Any]], model: str, response: dict[str, Any]
    ) -> None:
        self.cache.set(self._key(messages, model), response, self.ttl)

    def invalidate(self, messages: list[dict[str, Any]], model: str) -> bool:
        return self.cache.delete(self._key(messages, model))

    def get_stats(self) -> dict[str, Any]:
        return self.cache.get_stats()
