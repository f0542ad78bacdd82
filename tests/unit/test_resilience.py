"""Circuit breaker, retry and rate limiter: the run-time building blocks of LLM resilience."""

from __future__ import annotations

import asyncio

import pytest

from liteagent.errors import LLMProviderError, LLMRateLimitError, LLMUnavailableError
from liteagent.runtime import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerRegistry,
    CircuitOpenError,
    CircuitState,
    CombinedRateLimiter,
    ConcurrentRequestLimiter,
    RateLimitedError,
    RetryConfig,
    RetryError,
    SlidingWindowRateLimiter,
    circuit_breaker,
    rate_limit_headers,
    retry,
    retry_with_backoff,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def down() -> LLMUnavailableError:
    return LLMUnavailableError("server error (HTTP 503)", provider="p", model="m")


async def fail() -> None:
    raise down()


async def ok() -> str:
    return "ok"


# ----------------------------------------------------------------------------- circuit breaker
async def test_breaker_opens_after_threshold_and_refuses_without_calling() -> None:
    clock = Clock()
    breaker = CircuitBreaker("up", CircuitBreakerConfig(failure_threshold=3), clock=clock)
    for _ in range(2):
        with pytest.raises(LLMUnavailableError):
            await breaker.call(fail)
    assert breaker.state is CircuitState.CLOSED and breaker.failure_count == 2
    with pytest.raises(LLMUnavailableError):
        await breaker.call(fail)
    assert breaker.state is CircuitState.OPEN

    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with pytest.raises(CircuitOpenError, match="'up' is failing") as err:
        await breaker.call(counted)
    assert calls == 0 and err.value.status_code == 503
    assert err.value.retry_in == pytest.approx(30.0)
    stats = breaker.get_stats()
    assert stats["state"] == "open" and stats["rejected_calls"] == 1 and stats["times_opened"] == 1


async def test_breaker_half_opens_after_recovery_timeout_and_closes_on_success() -> None:
    clock = Clock()
    config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=10, half_open_max_calls=1)
    breaker = CircuitBreaker("up", config, clock=clock)
    with pytest.raises(LLMUnavailableError):
        await breaker.call(fail)
    clock.now += 9.9
    assert breaker.state is CircuitState.OPEN
    clock.now += 0.2
    assert breaker.state is CircuitState.HALF_OPEN

    # One trial call at a time: a second caller is refused while the trial is in flight.
    release = asyncio.Event()

    async def slow_trial() -> str:
        await release.wait()
        return "recovered"

    trial = asyncio.create_task(breaker.call(slow_trial))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await breaker.call(ok)
    release.set()
    assert await trial == "recovered"
    assert breaker.state is CircuitState.CLOSED and breaker.failure_count == 0
    assert await breaker.call(ok) == "ok"


async def test_failed_trial_reopens_for_another_timeout() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "up", CircuitBreakerConfig(failure_threshold=2, recovery_timeout=5), clock=clock
    )
    for _ in range(2):
        with pytest.raises(LLMUnavailableError):
            await breaker.call(fail)
    clock.now += 5
    assert breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(LLMUnavailableError):
        await breaker.call(fail)  # the trial fails: open again at once (not after 2 failures)
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_in() == pytest.approx(5)
    await breaker.areset()
    assert breaker.state is CircuitState.CLOSED and breaker.get_stats()["total_failures"] == 0


async def test_errors_that_do_not_count_leave_the_circuit_alone() -> None:
    def upstream_only(exc: BaseException) -> bool:
        return isinstance(exc, LLMUnavailableError)

    breaker = CircuitBreaker(
        "up", CircuitBreakerConfig(failure_threshold=1), counts_as_failure=upstream_only
    )

    async def bad_request() -> None:
        raise LLMProviderError("HTTP 400: bad", provider="p", upstream_status=400)

    for _ in range(3):
        with pytest.raises(LLMProviderError):
            await breaker.call(bad_request)
    assert breaker.state is CircuitState.CLOSED


async def test_cancelled_trial_gives_its_slot_back() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "up", CircuitBreakerConfig(failure_threshold=1, recovery_timeout=1), clock=clock
    )
    with pytest.raises(LLMUnavailableError):
        await breaker.call(fail)
    clock.now += 1
    task = asyncio.create_task(breaker.call(asyncio.sleep, 10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(ok) == "ok"  # not stuck refusing calls


async def test_registry_and_decorator_share_breakers() -> None:
    registry = CircuitBreakerRegistry()

    @circuit_breaker("svc", CircuitBreakerConfig(failure_threshold=1), registry=registry)
    async def flaky() -> None:
        raise down()

    with pytest.raises(LLMUnavailableError):
        await flaky()
    with pytest.raises(CircuitOpenError):
        await flaky()
    assert registry.get("svc") is registry.get_or_create("svc")
    assert registry.get_all_stats()["svc"]["state"] == "open"
    await registry.areset_all()
    assert registry.get_all_stats()["svc"]["state"] == "closed"

    # the seeds' synchronous calls: in-process state is cleared at once
    with pytest.raises(LLMUnavailableError):
        await flaky()
    assert registry.get_all_stats()["svc"]["state"] == "open"
    registry.reset_all()
    assert registry.get_all_stats()["svc"]["state"] == "closed"
    with pytest.raises(LLMUnavailableError):
        await flaky()
    registry.get_or_create("svc").reset()
    assert registry.get("svc") is not None and registry.get("svc").state is CircuitState.CLOSED


# ----------------------------------------------------------------------------- retry
class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_retry_backs_off_exponentially_for_retryable_errors() -> None:
    sleeps = Sleeps()
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 4:
            raise down()
        return "done"

    seen: list[int] = []
    config = RetryConfig(max_retries=3, initial_delay=1, max_delay=60, jitter=False)
    result = await retry_with_backoff(
        flaky, config, on_retry=lambda n, e: seen.append(n), sleep=sleeps
    )
    assert result == "done" and attempts == 4
    assert sleeps == [1, 2, 4] and seen == [1, 2, 3]


async def test_retry_jitter_stays_within_bounds() -> None:
    sleeps = Sleeps()
    with pytest.raises(RetryError) as err:
        await retry_with_backoff(
            fail, RetryConfig(max_retries=3, initial_delay=1, max_delay=3), sleep=sleeps
        )
    assert err.value.attempts == 4 and isinstance(err.value.last_error, LLMUnavailableError)
    assert 1 <= sleeps[0] <= 2 and 2 <= sleeps[1] <= 3 and sleeps[2] == 3  # capped at max_delay
    assert len(set(sleeps[:2])) == 2


async def test_non_retryable_errors_are_not_retried() -> None:
    sleeps = Sleeps()
    calls = 0

    async def bad() -> None:
        nonlocal calls
        calls += 1
        raise LLMProviderError("authentication failed", provider="p")

    with pytest.raises(LLMProviderError, match="authentication"):
        await retry_with_backoff(bad, RetryConfig(max_retries=5), sleep=sleeps)
    assert calls == 1 and sleeps == []


async def test_retry_after_is_honoured_and_long_ones_are_not_waited_for() -> None:
    sleeps = Sleeps()
    limited = [LLMRateLimitError("429", provider="p", retry_after=4.0)]

    async def rate_limited() -> str:
        if limited:
            raise limited.pop()
        return "ok"

    config = RetryConfig(max_retries=2, initial_delay=0.1, max_delay=10, jitter=False)
    assert await retry_with_backoff(rate_limited, config, sleep=sleeps) == "ok"
    assert sleeps == [4.0]

    calls = 0

    async def long_wait() -> None:
        nonlocal calls
        calls += 1
        raise LLMRateLimitError("429", provider="p", retry_after=120.0)

    with pytest.raises(LLMRateLimitError):
        await retry_with_backoff(long_wait, config, sleep=sleeps, reraise=True)
    assert calls == 1  # a fallback model is the better choice than a two-minute wait


async def test_retry_decorator() -> None:
    attempts = 0

    @retry(RetryConfig(max_retries=1, initial_delay=0, jitter=False))
    async def once_flaky(x: int) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise down()
        return x * 2

    assert await once_flaky(21) == 42 and attempts == 2


# ----------------------------------------------------------------------------- rate limits
async def test_sliding_window_refuses_with_headers() -> None:
    limiter = SlidingWindowRateLimiter(max_requests=2, window_seconds=60)
    first = await limiter.check("user-a")
    assert first.requests_remaining == 1 and first.requests_limit == 2
    await limiter.check("user-a")
    with pytest.raises(RateLimitedError) as err:
        await limiter.check("user-a")
    assert err.value.status_code == 429
    headers = err.value.headers
    assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert int(headers["X-RateLimit-Reset"]) > 0
    # Other keys have their own window.
    assert (await limiter.check("user-b")).requests_remaining == 1
    assert (await limiter.get_status("user-b")).requests_remaining == 1


async def test_concurrency_limit_and_release() -> None:
    limiter = ConcurrentRequestLimiter(max_concurrent=2)
    a = await limiter.enter("k")
    async with limiter.request_context("k"):
        assert await limiter.get_active_count("k") == 2
        with pytest.raises(RateLimitedError, match="Too many requests in flight") as err:
            await limiter.enter("k")
        assert err.value.concurrency
        assert err.value.headers["X-RateLimit-Concurrent-Limit"] == "2"
    await limiter.exit("k", a)
    assert await limiter.get_active_count("k") == 0


async def test_combined_limiter_reports_both() -> None:
    limiter = CombinedRateLimiter(max_requests=5, window_seconds=60, max_concurrent=1)
    async with limiter.request("key") as info:
        assert info.concurrent_active == 1 and info.concurrent_limit == 1
        assert info.requests_remaining == 4
        headers = rate_limit_headers(info)
        assert headers["X-RateLimit-Remaining"] == "4"
        assert headers["X-RateLimit-Concurrent-Active"] == "1"
        assert "Retry-After" not in headers
        with pytest.raises(RateLimitedError):
            async with limiter.request("key"):
                pass
    status = await limiter.get_status("key")
    assert status.concurrent_active == 0 and status.requests_remaining == 4
