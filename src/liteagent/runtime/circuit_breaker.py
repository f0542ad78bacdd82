"""Per-upstream circuit breakers: stop calling a failing service, try it again after a pause.

A breaker is *closed* while calls succeed. ``failure_threshold`` consecutive failures open it:
calls are refused at once with ``CircuitOpenError`` (no network round trip) until
``recovery_timeout`` seconds have passed; then it is *half-open* and lets
``half_open_max_calls`` trial calls through. A trial success closes it, a trial failure opens it
again for another ``recovery_timeout``.

The state machine is a set of pure functions over ``CircuitSnapshot``; a backend stores the
snapshots and applies each transition atomically. ``InMemoryCircuitBackend`` keeps them in this
process; a shared backend (Redis) implements the same ``CircuitBreakerBackend`` protocol so that
every replica sees one breaker per upstream.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from liteagent.errors import LiteAgentError
from liteagent.log import get_logger
from liteagent.runtime.instances import SharedInstances
from liteagent.runtime.records import JsonRecord

__all__ = [
    "Change",
    "CircuitBreaker",
    "CircuitBreakerBackend",
    "CircuitBreakerConfig",
    "CircuitBreakerRegistry",
    "CircuitOpenError",
    "CircuitSnapshot",
    "CircuitState",
    "InMemoryCircuitBackend",
    "circuit_breaker",
    "circuit_breakers",
]

T = TypeVar("T")
Clock = Callable[[], float]
Operation = Literal["admit", "success", "failure", "release", "read"]

logger = get_logger(__name__)


class CircuitState(StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """When a breaker opens and how it recovers.

    Attributes:
        failure_threshold: Consecutive failures that open the circuit.
        recovery_timeout: Seconds the circuit stays open before trial calls are allowed.
        half_open_max_calls: Trial calls allowed at once while half-open.
    """

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    half_open_max_calls: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.half_open_max_calls < 1:
            raise ValueError("failure_threshold and half_open_max_calls must be at least 1")
        if self.recovery_timeout < 0:
            raise ValueError("recovery_timeout must not be negative")


@dataclass(frozen=True)
class CircuitSnapshot(JsonRecord):
    """The stored state of one breaker (plain data, so any backend can keep it)."""

    state: CircuitState = CircuitState.CLOSED
    failure_count: int = 0
    opened_at: float | None = None
    half_open_calls: int = 0
    total_calls: int = 0
    total_successes: int = 0
    total_failures: int = 0
    rejected_calls: int = 0
    times_opened: int = 0
    last_failure_at: float | None = None
    last_error: str | None = None


class CircuitOpenError(LiteAgentError):
    """A call was refused because the circuit of its upstream is open."""

    status_code: ClassVar[int] = 503
    error_code: ClassVar[str] = "circuit_open"

    def __init__(self, name: str, retry_in: float) -> None:
        self.name = name
        self.retry_in = max(0.0, retry_in)
        super().__init__(
            f"'{name}' is failing and is paused for another {self.retry_in:.0f}s "
            "(circuit breaker open)."
        )


# ----------------------------------------------------------------------------- transitions
def _settle(s: CircuitSnapshot, config: CircuitBreakerConfig, now: float) -> CircuitSnapshot:
    """Apply the passage of time: an open circuit becomes half-open after the timeout."""
    if (
        s.state is CircuitState.OPEN
        and s.opened_at is not None
        and now - s.opened_at >= config.recovery_timeout
    ):
        return replace(s, state=CircuitState.HALF_OPEN, half_open_calls=0)
    return s


def transition(
    s: CircuitSnapshot,
    op: Operation,
    config: CircuitBreakerConfig,
    now: float,
    error: str | None = None,
) -> tuple[CircuitSnapshot, bool]:
    """The whole state machine: the next snapshot and, for ``admit``, whether the call may run."""
    s = _settle(s, config, now)
    if op == "read":
        return s, s.state is not CircuitState.OPEN
    if op == "admit":
        if s.state is CircuitState.OPEN or (
            s.state is CircuitState.HALF_OPEN and s.half_open_calls >= config.half_open_max_calls
        ):
            return replace(s, rejected_calls=s.rejected_calls + 1), False
        calls = s.half_open_calls + 1 if s.state is CircuitState.HALF_OPEN else s.half_open_calls
        return replace(s, total_calls=s.total_calls + 1, half_open_calls=calls), True
    if op == "release":
        # A reserved call ended without saying anything about the upstream (cancelled, or a
        # caller's mistake): give its half-open trial slot back.
        return replace(s, half_open_calls=max(0, s.half_open_calls - 1)), True
    if op == "success":
        return (
            replace(
                s,
                state=CircuitState.CLOSED,
                failure_count=0,
                opened_at=None,
                half_open_calls=0,
                total_successes=s.total_successes + 1,
            ),
            True,
        )
    # failure
    failed = replace(
        s,
        failure_count=s.failure_count + 1,
        total_failures=s.total_failures + 1,
        last_failure_at=now,
        last_error=error,
    )
    if s.state is CircuitState.HALF_OPEN or failed.failure_count >= config.failure_threshold:
        if s.state is not CircuitState.OPEN:
            failed = replace(failed, times_opened=failed.times_opened + 1)
        failed = replace(failed, state=CircuitState.OPEN, opened_at=now, half_open_calls=0)
    return failed, False


# ----------------------------------------------------------------------------- backends
Change = Callable[[CircuitSnapshot], tuple[CircuitSnapshot, bool]]
"""One operation on a snapshot (``transition`` with its arguments bound): the new snapshot and
the verdict."""


class CircuitBreakerBackend(Protocol):
    """Stores breaker snapshots and applies a ``Change`` to one atomically."""

    async def apply(self, name: str, change: Change) -> tuple[CircuitSnapshot, bool]:
        """Apply ``change`` to breaker ``name``'s snapshot; return the new one and the verdict."""
        ...

    async def reset(self, name: str) -> None:
        """Forget everything about breaker ``name``."""
        ...

    def peek(self, name: str) -> CircuitSnapshot | None:
        """The last snapshot this process knows (no I/O); ``None`` if never used."""
        ...


class InMemoryCircuitBackend:
    """Breaker state in this process (one event loop: each operation is atomic)."""

    def __init__(self) -> None:
        self._states: dict[str, CircuitSnapshot] = {}

    async def apply(self, name: str, change: Change) -> tuple[CircuitSnapshot, bool]:
        snapshot, verdict = change(self._states.get(name, CircuitSnapshot()))
        self._states[name] = snapshot
        return snapshot, verdict

    async def reset(self, name: str) -> None:
        self.forget(name)

    def forget(self, name: str) -> None:
        """``reset`` without waiting (this backend holds nothing elsewhere)."""
        self._states.pop(name, None)

    def peek(self, name: str) -> CircuitSnapshot | None:
        return self._states.get(name)


# ----------------------------------------------------------------------------- the breaker
def _counts_everything(_: BaseException) -> bool:
    return True


class CircuitBreaker:
    """One breaker, named after the upstream it protects.

    Args:
        name: The upstream, e.g. ``openai/gpt-4o-mini``.
        config: Thresholds (defaults: 5 failures, 30 s pause, 1 trial call).
        backend: Where the state lives (default: this process).
        clock: Monotonic seconds; inject a fake one in tests.
        counts_as_failure: Which exceptions count against the upstream (default: all). Others
            (a caller's own mistake, such as a 400) neither open nor close the circuit.
    """

    def __init__(
        self,
        name: str,
        config: CircuitBreakerConfig | None = None,
        *,
        backend: CircuitBreakerBackend | None = None,
        clock: Clock = time.monotonic,
        counts_as_failure: Callable[[BaseException], bool] = _counts_everything,
    ) -> None:
        self.name = name
        self.config = config or CircuitBreakerConfig()
        self.backend: CircuitBreakerBackend = backend or InMemoryCircuitBackend()
        self.clock = clock
        self.counts_as_failure = counts_as_failure

    def _snapshot(self) -> CircuitSnapshot:
        known = self.backend.peek(self.name) or CircuitSnapshot()
        return _settle(known, self.config, self.clock())

    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit reads half-open once its timeout has passed)."""
        return self._snapshot().state

    @property
    def failure_count(self) -> int:
        """Consecutive failures since the last success."""
        return self._snapshot().failure_count

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a trial call through (0 when not open)."""
        s = self._snapshot()
        if s.state is not CircuitState.OPEN or s.opened_at is None:
            return 0.0
        return max(0.0, s.opened_at + self.config.recovery_timeout - self.clock())

    async def _apply(self, op: Operation, error: str | None = None) -> tuple[CircuitSnapshot, bool]:
        change = functools.partial(
            transition, op=op, config=self.config, now=self.clock(), error=error
        )
        return await self.backend.apply(self.name, change)

    async def before_call(self) -> None:
        """Reserve a call; raise ``CircuitOpenError`` if the circuit refuses it."""
        previous = self._snapshot().state
        snapshot, allowed = await self._apply("admit")
        if not allowed:
            raise CircuitOpenError(self.name, self.retry_in())
        if snapshot.state is CircuitState.HALF_OPEN and previous is not CircuitState.HALF_OPEN:
            logger.info("circuit_half_open", circuit=self.name)

    async def record_success(self) -> None:
        """Report that a reserved call succeeded."""
        before = self._snapshot().state
        await self._apply("success")
        if before is not CircuitState.CLOSED:
            logger.info("circuit_closed", circuit=self.name)

    async def record_failure(self, exc: BaseException) -> None:
        """Report that a reserved call failed (ignored unless ``counts_as_failure(exc)``)."""
        if not self.counts_as_failure(exc):
            await self.release()
            return
        before = self._snapshot().state
        snapshot, _ = await self._apply("failure", f"{type(exc).__name__}: {exc}"[:300])
        if snapshot.state is CircuitState.OPEN and before is not CircuitState.OPEN:
            logger.warning(
                "circuit_opened",
                circuit=self.name,
                failures=snapshot.failure_count,
                recovery_timeout=self.config.recovery_timeout,
            )

    async def release(self) -> None:
        """Report that a reserved call ended without a verdict on the upstream (cancelled)."""
        await self._apply("release")

    async def call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` through the breaker."""
        await self.before_call()
        try:
            result = await func(*args, **kwargs)
        except Exception as exc:
            await self.record_failure(exc)
            raise
        except BaseException:
            await self.release()
            raise
        await self.record_success()
        return result

    def get_stats(self) -> dict[str, Any]:
        """State and counters, for health endpoints and logs."""
        s = self._snapshot()
        return {
            "name": self.name,
            "state": s.state.value,
            "failure_count": s.failure_count,
            "total_calls": s.total_calls,
            "total_successes": s.total_successes,
            "total_failures": s.total_failures,
            "rejected_calls": s.rejected_calls,
            "times_opened": s.times_opened,
            "retry_in": round(self.retry_in(), 3),
            "last_error": s.last_error,
            "failure_threshold": self.config.failure_threshold,
            "recovery_timeout": self.config.recovery_timeout,
        }

    def reset(self) -> None:
        """Close the circuit and clear its counters (the seeds' call, not awaited).

        In-process state is cleared at once. A shared backend (Redis) is reset in the
        background when an event loop runs (``areset`` waits for it), else right here.
        """
        if isinstance(self.backend, InMemoryCircuitBackend):
            self.backend.forget(self.name)
            return
        _in_background(self.areset())

    async def areset(self) -> None:
        """Close the circuit and clear its counters, everywhere the backend shares them."""
        await self.backend.reset(self.name)


class CircuitBreakerRegistry:
    """Breakers by name, sharing one backend and clock (one per upstream, process-wide)."""

    def __init__(
        self, backend: CircuitBreakerBackend | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self.backend: CircuitBreakerBackend = backend or InMemoryCircuitBackend()
        self.clock = clock
        self._breakers: SharedInstances[CircuitBreaker] = SharedInstances()

    def get_or_create(
        self,
        name: str,
        config: CircuitBreakerConfig | None = None,
        *,
        counts_as_failure: Callable[[BaseException], bool] | None = None,
    ) -> CircuitBreaker:
        """The breaker called ``name``; the first caller's config wins."""
        return self._breakers.get_or_create(
            name,
            lambda: CircuitBreaker(
                name,
                config,
                backend=self.backend,
                clock=self.clock,
                counts_as_failure=counts_as_failure or _counts_everything,
            ),
        )

    def get(self, name: str) -> CircuitBreaker | None:
        return self._breakers.get(name)

    def get_all_stats(self) -> dict[str, dict[str, Any]]:
        return {name: b.get_stats() for name, b in self._breakers.items()}

    def reset_all(self) -> None:
        """Reset every breaker (the seeds' call, not awaited; see ``CircuitBreaker.reset``)."""
        for _, breaker in self._breakers.items():
            breaker.reset()

    async def areset_all(self) -> None:
        """Reset every breaker and wait until the backend has them reset."""
        for _, breaker in self._breakers.items():
            await breaker.areset()

    def clear(self) -> None:
        """Drop every breaker (tests; a fresh registry is usually simpler)."""
        self._breakers.clear()
        if isinstance(self.backend, InMemoryCircuitBackend):
            self.backend = InMemoryCircuitBackend()


circuit_breakers = CircuitBreakerRegistry()
"""The process-wide registry the LLM layer uses by default (no connections are opened)."""


def circuit_breaker(
    name: str,
    config: CircuitBreakerConfig | None = None,
    *,
    registry: CircuitBreakerRegistry | None = None,
) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
    """Decorator: run an async function through the breaker ``name``."""

    def decorator(func: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            breaker = (registry or circuit_breakers).get_or_create(name, config)
            return await breaker.call(func, *args, **kwargs)

        wrapper.__name__ = getattr(func, "__name__", "wrapper")
        wrapper.__doc__ = func.__doc__
        return wrapper

    return decorator


_background: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` in the running loop without waiting for it, else to its end right here."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(work)
        return
    task = loop.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)
