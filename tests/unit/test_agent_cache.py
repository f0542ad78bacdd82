"""The agent cache is bounded by count and by the memory its runners hold of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from liteagent.config import Settings
from liteagent.proxy.cache import AgentCache, AgentCacheKey
from liteagent.proxy.footprint import owned_bytes


def _key(user: str) -> AgentCacheKey:
    return AgentCacheKey("bot", None, None, user)


def _cache(**kwargs: Any) -> tuple[AgentCache[bytes], list[str]]:
    evicted: list[str] = []
    cache: AgentCache[bytes] = AgentCache(
        on_evict=lambda key, _: evicted.append(key.user), sizeof=len, **kwargs
    )
    return cache, evicted


def test_the_least_recently_used_runners_leave_when_the_byte_budget_is_passed() -> None:
    cache, evicted = _cache(maxsize=100, max_bytes=1000)
    for user in "abc":
        cache.get_or_build(_key(user), lambda: b"x" * 400)
    assert evicted == ["a"] and cache.cached_bytes == 800
    cache.get_or_build(_key("b"), lambda: b"")  # a hit makes b the most recently used
    cache.get_or_build(_key("d"), lambda: b"y" * 300)
    assert evicted == ["a", "c"] and len(cache) == 2 and cache.cached_bytes == 700
    assert cache.stats.evictions == 2


def test_the_count_bound_holds_within_the_budget() -> None:
    cache, evicted = _cache(maxsize=2, max_bytes=10_000)
    for user in "abcd":
        cache.get_or_build(_key(user), lambda: b"x")
    assert evicted == ["a", "b"] and len(cache) == 2


def test_a_runner_larger_than_the_budget_is_kept_alone() -> None:
    cache, evicted = _cache(maxsize=10, max_bytes=100)
    cache.get_or_build(_key("a"), lambda: b"x" * 10)
    value, hit = cache.get_or_build(_key("big"), lambda: b"x" * 500)
    assert not hit and len(value) == 500
    assert evicted == ["a"] and list(k.user for k in cache._lru) == ["big"]
    assert cache.get_or_build(_key("big"), lambda: b"")[1]  # and served from the cache


def test_without_a_budget_only_the_count_bounds_it() -> None:
    cache, evicted = _cache(maxsize=3)
    for user in "abcd":
        cache.get_or_build(_key(user), lambda: b"x" * 10**6)
    assert evicted == ["a"] and cache.cached_bytes == 3


def test_the_budget_is_a_setting_in_megabytes() -> None:
    assert Settings().agent_cache_mb == 64
    assert Settings(LITEAGENT_AGENT_CACHE_MB="0.5").agent_cache_mb == 0.5


@dataclass
class _Runner:
    settings: Settings
    own: list[bytes] = field(default_factory=list)
    greet: Any = None


def test_owned_bytes_counts_what_is_the_runners_own_not_what_it_shares() -> None:
    shared = Settings()
    blob = b"z" * 1_000_000

    def tool() -> bytes:  # a closure over the user's data counts; its module does not
        return blob

    bare = owned_bytes(_Runner(shared))
    assert bare < 10_000
    assert owned_bytes(_Runner(shared, own=[b"x" * 500_000])) > bare + 500_000
    assert owned_bytes(_Runner(shared, greet=tool)) > bare + 1_000_000
    # two runners sharing settings, a provider and the process's modules each count alone
    object.__setattr__(shared, "default_model", "openai/" + "m" * 1_000_000)
    assert owned_bytes(_Runner(shared)) == bare
