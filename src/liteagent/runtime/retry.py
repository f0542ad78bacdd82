"""Retry with exponential backoff and jitter, on tenacity.

Only errors that may go away by themselves are retried (by default: exceptions whose
``retryable`` attribute is true, i.e. ``LLMTimeoutError``, ``LLMRateLimitError`` and
``LLMUnavailableError``). A server's ``Retry-After`` is honoured: the wait is at least that long,
and when it is longer than ``max_delay`` the error is not retried at all (a fallback model is
the better choice). Waiting goes through an injectable ``sleep`` so tests never really sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from liteagent.errors import LiteAgentError

__all__ = [
    "RetryConfig",
    "RetryError",
    "is_retryable",
    "retry",
    "retry_after_of",
    "retry_with_backoff",
]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryConfig:
    """How often and how patiently to retry.

    Attributes:
        max_retries: Retries after the first attempt (0 = try once).
        initial_delay: Seconds before the first retry.
        max_delay: Upper bound of one wait; a longer ``Retry-After`` is not waited for.
        exponential_base: Growth factor of the wait per retry.
        jitter: Add up to ``initial_delay`` random seconds so clients do not retry in step.
    """

    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 60.0
    exponential_base: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("retry settings must not be negative")


class RetryError(LiteAgentError):
    """Raised by ``retry_with_backoff(reraise=False)`` when every attempt failed."""

    def __init__(self, attempts: int, last_error: BaseException) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"gave up after {attempts} attempts: {last_error}")


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` says it may succeed on a second try (``retryable`` attribute)."""
    return bool(getattr(exc, "retryable", False))


def retry_after_of(exc: BaseException) -> float | None:
    """The ``Retry-After`` seconds an error carries, if any."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) and value >= 0 else None


def _waiter(config: RetryConfig) -> Callable[[RetryCallState], float]:
    base: Any = wait_exponential(
        multiplier=config.initial_delay, max=config.max_delay, exp_base=config.exponential_base
    )
    if config.jitter:
        base = base + wait_random(0, config.initial_delay)

    def wait(state: RetryCallState) -> float:
        delay = float(base(state))
        exc = state.outcome.exception() if state.outcome else None
        after = retry_after_of(exc) if exc is not None else None
        if after is not None:
            delay = max(delay, after)
        return min(delay, config.max_delay)

    return wait


async def retry_with_backoff(
    func: Callable[[], Awaitable[T]],
    config: RetryConfig | None = None,
    on_retry: Callable[[int, BaseException], None] | None = None,
    *,
    retry_on: Callable[[BaseException], bool] = is_retryable,
    sleep: Sleep = asyncio.sleep,
    reraise: bool = False,
) -> T:
    """Call ``func`` until it succeeds, it fails with a non-retryable error, or retries run out.

    Args:
        func: The zero-argument coroutine function to call.
        config: Backoff settings (default ``RetryConfig()``).
        on_retry: Called with (attempt number, error) before each wait.
        retry_on: Which errors to retry (default: ``is_retryable``).
        sleep: The wait function (inject a recorder in tests).
        reraise: Raise the last error itself instead of ``RetryError`` when retries run out.

    Raises:
        RetryError: every attempt failed with a retryable error (unless ``reraise``).
    """
    cfg = config or RetryConfig()

    def should_retry(exc: BaseException) -> bool:
        if not retry_on(exc):
            return False
        after = retry_after_of(exc)
        return after is None or after <= cfg.max_delay

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(state.attempt_number, exc)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(cfg.max_retries + 1),
        wait=_waiter(cfg),
        retry=retry_if_exception(should_retry),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                return await func()
    except Exception as exc:
        if reraise or attempts <= 1 or not should_retry(exc):
            raise
        raise RetryError(attempts, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover - tenacity always returns or raises


def retry(
    config: RetryConfig | None = None,
    *,
    retry_on: Callable[[BaseException], bool] = is_retryable,
) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
    """Decorator form of ``retry_with_backoff``."""

    def decorator(func: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            return await retry_with_backoff(
                lambda: func(*args, **kwargs), config, retry_on=retry_on
            )

        wrapper.__name__ = getattr(func, "__name__", "wrapper")
        wrapper.__doc__ = func.__doc__
        return wrapper

    return decorator
