"""Model fallback chains: try models in a strategy's order until one answers.

Each model of a chain is called through its circuit breaker (shared by everything in the
process that calls the same upstream) and, when configured, its rate limiter; errors that may go
away by themselves are retried with exponential backoff and jitter first. A failure is
classified as a ``FallbackReason`` and the next model is tried; the result records which model
was asked first and which one answered (``Provenance``).

What falls back:

- every upstream failure (``LLMProviderError``), a circuit that is open, a LiteAgent rate limit
  that is full, and a model that cannot be built (missing key);
- *not* a context-window overflow unless ``fallback_on_context_window`` (a smaller model would
  fail too, and a bigger one changes cost: the operator decides);
- *not* programming errors (anything that is not a ``LiteAgentError``): they propagate.

A stream falls back only until its first chunk arrived; a stream that breaks off after that
raises its error (the client already has part of the answer).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from liteagent.errors import (
    ContextWindowExceededError,
    LiteAgentError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from liteagent.llm.provenance import FallbackAttempt, FallbackReason, Provenance
from liteagent.log import get_logger
from liteagent.runtime.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitBreakerRegistry,
    CircuitOpenError,
    CircuitState,
    circuit_breakers,
)
from liteagent.runtime.metrics import metrics
from liteagent.runtime.rate_limiter import CombinedRateLimiter, RateLimitedError
from liteagent.runtime.retry import RetryConfig, is_retryable, retry_with_backoff

__all__ = [
    "FallbackReason",
    "FallbackResult",
    "FallbackStream",
    "ModelConfig",
    "ModelFallbackChain",
    "ModelStatus",
    "SelectionStrategy",
    "classify_failure",
    "counts_against_upstream",
]

T = TypeVar("T")
logger = get_logger(__name__)


class SelectionStrategy(StrEnum):
    """In which order a chain tries its models."""

    PRIORITY = "priority"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    WEIGHTED = "weighted"
    LEAST_ERRORS = "least_errors"


@dataclass
class ModelConfig:
    """One model of a chain.

    Attributes:
        name: The model id, ``<provider>/<model>``.
        provider: The provider part of ``name`` (derived when empty).
        priority: Lower numbers are tried first by the ``priority`` strategy (ties: list order).
        weight: Relative share of first attempts under the ``weighted`` strategy.
        enabled: Disabled models are skipped.
        breaker_name: The circuit breaker to use (default ``name``; give two endpoints serving
            the same model name different breakers).
        breaker_config: Thresholds of that breaker (the first chain to create it wins).
        rate_limiter: A LiteAgent limit on calls to this model (shared between chains).
    """

    name: str
    provider: str = ""
    priority: int = 0
    weight: float = 1.0
    enabled: bool = True
    breaker_name: str = ""
    breaker_config: CircuitBreakerConfig | None = None
    rate_limiter: CombinedRateLimiter | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.provider:
            self.provider = self.name.partition("/")[0]
        if not self.breaker_name:
            self.breaker_name = self.name
        if self.weight < 0:
            raise ValueError("weight must not be negative")


@dataclass(frozen=True)
class ModelStatus:
    """Counters of one model within a chain."""

    name: str
    enabled: bool
    requests: int = 0
    successes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_reason: FallbackReason | None = None
    last_error: str | None = None
    circuit_state: CircuitState = CircuitState.CLOSED


@dataclass(frozen=True)
class FallbackResult(Generic[T]):
    """What ``execute`` returns: the result and its provenance."""

    result: T
    provenance: Provenance

    @property
    def model_used(self) -> str:
        return self.provenance.model

    @property
    def attempts(self) -> tuple[FallbackAttempt, ...]:
        return self.provenance.attempts

    @property
    def fallback_used(self) -> bool:
        return self.provenance.fallback_used


def classify_failure(exc: BaseException) -> FallbackReason:
    """Why a call failed, in the chain's terms."""
    if isinstance(exc, CircuitOpenError):
        return FallbackReason.CIRCUIT_OPEN
    if isinstance(exc, ContextWindowExceededError):
        return FallbackReason.CONTEXT_WINDOW
    if isinstance(exc, LLMTimeoutError):
        return FallbackReason.TIMEOUT
    if isinstance(exc, RateLimitedError):
        return FallbackReason.CAPACITY if exc.concurrency else FallbackReason.RATE_LIMIT
    if isinstance(exc, LLMRateLimitError):
        return FallbackReason.RATE_LIMIT
    if isinstance(exc, LLMProviderError):
        if exc.upstream_status == 529 or "overloaded" in exc.message.lower():
            return FallbackReason.CAPACITY
        if isinstance(exc, LLMUnavailableError):
            return FallbackReason.UNAVAILABLE
    return FallbackReason.ERROR


def counts_against_upstream(exc: BaseException) -> bool:
    """Whether a failure says the upstream is unhealthy (and so counts for its breaker).

    A caller's own mistake — a context-window overflow, a 4xx other than 408/429 — does not.
    """
    if not isinstance(exc, LLMProviderError) or isinstance(exc, ContextWindowExceededError):
        return False
    status = exc.upstream_status
    return status is None or not (400 <= status < 500) or status in (408, 429)


def _short(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, LiteAgentError) else str(exc)
    return text if len(text) <= 300 else text[:297] + "..."


class _Counters:
    __slots__ = ("consecutive_failures", "failures", "last_error", "last_reason", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_reason: FallbackReason | None = None
        self.last_error: str | None = None


class ModelFallbackChain:
    """Models tried in order until one answers.

    Args:
        models: The models (``ModelConfig`` or ``"<provider>/<model>"`` strings).
        strategy: The order in which they are tried.
        name: A label for logs and provenance (default: the model names joined).
        retry: Backoff for retryable errors on one model before moving on (default: one retry).
        breakers: Registry of circuit breakers (default: the process-wide one).
        fallback_on_context_window: Try the next model when the conversation does not fit.
        rng: Random source for the ``random`` and ``weighted`` strategies.
        sleep: Wait function for retries (inject a recorder in tests).
    """

    def __init__(
        self,
        models: Sequence[ModelConfig | str],
        strategy: SelectionStrategy | str = SelectionStrategy.PRIORITY,
        *,
        name: str | None = None,
        retry: RetryConfig | None = None,
        breakers: CircuitBreakerRegistry | None = None,
        fallback_on_context_window: bool = False,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._models: list[ModelConfig] = []
        self._counters: dict[str, _Counters] = {}
        for model in models:
            self.add_model(model if isinstance(model, ModelConfig) else ModelConfig(model))
        self.strategy = SelectionStrategy(strategy)
        self.name = name or ",".join(m.name for m in self._models)
        self.retry = retry if retry is not None else RetryConfig(max_retries=1, initial_delay=0.5)
        self.breakers = breakers or circuit_breakers
        self.fallback_on_context_window = fallback_on_context_window
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not cryptography
        self._sleep = sleep
        self._turn = 0

    # ----------------------------------------------------------------- membership
    @property
    def models(self) -> list[ModelConfig]:
        """All models, enabled or not, in configured order."""
        return list(self._models)

    def _find(self, model_name: str) -> ModelConfig:
        for model in self._models:
            if model.name == model_name:
                return model
        known = ", ".join(m.name for m in self._models) or "none"
        raise KeyError(f"'{model_name}' is not in chain '{self.name}' (models: {known})")

    def add_model(self, config: ModelConfig) -> None:
        """Add a model at the end (replacing one with the same name)."""
        self._models = [m for m in self._models if m.name != config.name] + [config]
        self._counters.setdefault(config.name, _Counters())

    def remove_model(self, model_name: str) -> None:
        self._models.remove(self._find(model_name))

    def enable_model(self, model_name: str) -> None:
        self._find(model_name).enabled = True

    def disable_model(self, model_name: str) -> None:
        self._find(model_name).enabled = False

    def breaker(self, model: ModelConfig) -> CircuitBreaker:
        """The circuit breaker guarding ``model``."""
        return self.breakers.get_or_create(
            model.breaker_name, model.breaker_config, counts_as_failure=counts_against_upstream
        )

    def get_status(self, model_name: str) -> ModelStatus:
        model = self._find(model_name)
        c = self._counters[model_name]
        return ModelStatus(
            name=model.name,
            enabled=model.enabled,
            requests=c.requests,
            successes=c.requests - c.failures,
            failures=c.failures,
            consecutive_failures=c.consecutive_failures,
            last_reason=c.last_reason,
            last_error=c.last_error,
            circuit_state=self.breaker(model).state,
        )

    # ----------------------------------------------------------------- ordering
    def get_ordered_models(self) -> list[ModelConfig]:
        """Enabled models in the order the next call will try them."""
        enabled = [m for m in self._models if m.enabled]
        if len(enabled) < 2:
            return enabled
        if self.strategy is SelectionStrategy.PRIORITY:
            return sorted(enabled, key=lambda m: m.priority)
        if self.strategy is SelectionStrategy.ROUND_ROBIN:
            start = self._turn % len(enabled)
            return enabled[start:] + enabled[:start]
        if self.strategy is SelectionStrategy.RANDOM:
            return self._rng.sample(enabled, len(enabled))
        if self.strategy is SelectionStrategy.WEIGHTED:
            # Weighted order without replacement (Efraimidis-Spirakis keys); weight 0 goes last.
            keys = {
                m.name: self._rng.random() ** (1.0 / m.weight) if m.weight > 0 else -1.0
                for m in enabled
            }
            return sorted(enabled, key=lambda m: keys[m.name], reverse=True)
        return sorted(enabled, key=lambda m: self._counters[m.name].failures)

    def _next_order(self) -> list[ModelConfig]:
        order = self.get_ordered_models()
        self._turn += 1
        if not order:
            raise LLMUnavailableError(
                "every model of the chain is disabled", provider=f"fallback:{self.name}"
            )
        return order

    # ----------------------------------------------------------------- bookkeeping
    def _record(self, model: ModelConfig, exc: BaseException | None) -> FallbackReason | None:
        c = self._counters.setdefault(model.name, _Counters())
        if exc is None:
            c.requests += 1
            c.consecutive_failures = 0
            return None
        reason = classify_failure(exc)
        if reason is not FallbackReason.CIRCUIT_OPEN:
            c.requests += 1
            c.failures += 1
            c.consecutive_failures += 1
        c.last_reason = reason
        c.last_error = _short(exc)
        return reason

    def _falls_back(self, exc: BaseException, reason: FallbackReason) -> bool:
        if not isinstance(exc, LiteAgentError):
            return False
        return reason is not FallbackReason.CONTEXT_WINDOW or self.fallback_on_context_window

    def _retry_on(self, exc: BaseException) -> bool:
        return is_retryable(exc) and not isinstance(exc, CircuitOpenError | RateLimitedError)

    def _note_failure(
        self, model: ModelConfig, exc: BaseException, attempts: list[FallbackAttempt]
    ) -> None:
        reason = self._record(model, exc) or FallbackReason.ERROR
        metrics.llm_call(model.provider, reason.value)
        if not self._falls_back(exc, reason):
            raise exc
        attempts.append(FallbackAttempt(model.name, reason, _short(exc)))
        # A skip because of an open circuit repeats on every call during an outage: info only
        # (the opening itself was logged as a warning).
        log = logger.info if reason is FallbackReason.CIRCUIT_OPEN else logger.warning
        log(
            "llm_fallback",
            chain=self.name,
            model=model.name,
            reason=reason.value,
            error=_short(exc),
            error_type=type(exc).__name__,
        )

    def _exhausted(
        self, attempts: list[FallbackAttempt], errors: list[BaseException]
    ) -> BaseException:
        last = errors[-1]
        if len(errors) == 1:
            return last
        summary = "; ".join(f"{a.model}: {a.reason.value} ({a.error})" for a in attempts)
        cls: type[LLMProviderError]
        if isinstance(last, LLMProviderError):
            cls = type(last)
        elif all(isinstance(e, RateLimitedError | LLMRateLimitError) for e in errors):
            cls = LLMRateLimitError
        else:
            cls = LLMUnavailableError
        waits = [
            float(w)
            for e in errors
            if isinstance((w := getattr(e, "retry_after", None)), int | float)
        ]
        error = cls(
            f"all {len(attempts)} models failed: {summary}",
            provider=f"fallback:{self.name}",
            retry_after=min(waits) if waits else None,
        )
        causes = [e for e in errors if isinstance(e, Exception)]
        error.__cause__ = ExceptionGroup("fallback attempts", causes)
        return error

    async def _admit(self, model: ModelConfig) -> tuple[CircuitBreaker, str]:
        """Take the model's rate-limit slot, then ask its breaker; undo the slot on refusal."""
        limiter = model.rate_limiter
        request_id = ""
        if limiter is not None:
            request_id = await limiter.enter_request(model.breaker_name)
            try:
                await limiter.check_rate_limit(model.breaker_name)
            except BaseException:
                await limiter.exit_request(model.breaker_name, request_id)
                raise
        breaker = self.breaker(model)
        try:
            await breaker.before_call()
        except BaseException as exc:
            if limiter is not None:
                await limiter.exit_request(model.breaker_name, request_id)
            if isinstance(exc, CircuitOpenError):  # name the model, not the endpoint
                raise CircuitOpenError(model.name, exc.retry_in) from None
            raise
        return breaker, request_id

    async def _release(self, model: ModelConfig, request_id: str) -> None:
        if model.rate_limiter is not None:
            await model.rate_limiter.exit_request(model.breaker_name, request_id)

    # ----------------------------------------------------------------- execution
    async def _call_once(self, model: ModelConfig, call: Callable[[], Awaitable[T]]) -> T:
        breaker, request_id = await self._admit(model)
        try:
            result = await call()
        except Exception as exc:
            await breaker.record_failure(exc)
            raise
        except BaseException:
            await breaker.release()
            raise
        finally:
            await self._release(model, request_id)
        await breaker.record_success()
        return result

    async def execute(
        self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> FallbackResult[T]:
        """Call ``func(model, *args, **kwargs)`` for each model in turn until one succeeds.

        Raises:
            LLMProviderError: every model failed (the last model's error class, with every
                attempt summarised), or the error of a single-model chain as it was.
        """
        order = self._next_order()
        attempts: list[FallbackAttempt] = []
        errors: list[BaseException] = []
        for model in order:

            def call(m: ModelConfig = model) -> Awaitable[T]:
                return self._call_once(m, lambda: func(m, *args, **kwargs))

            try:
                result = await retry_with_backoff(
                    call,
                    self.retry,
                    on_retry=self._on_retry(model),
                    retry_on=self._retry_on,
                    sleep=self._sleep,
                    reraise=True,
                )
            except Exception as exc:  # noqa: BLE001 - classified; non-LiteAgent errors re-raised
                self._note_failure(model, exc, attempts)
                errors.append(exc)
                continue
            self._record(model, None)
            return FallbackResult(result, self._provenance(order[0], model, attempts))
        raise self._exhausted(attempts, errors)

    def execute_stream(
        self, func: Callable[..., AsyncIterator[T]], *args: Any, **kwargs: Any
    ) -> FallbackStream[T]:
        """Stream ``func(model, *args, **kwargs)``, falling back until the first item arrives."""
        return FallbackStream(self, func, args, kwargs)

    def _on_retry(self, model: ModelConfig) -> Callable[[int, BaseException], None]:
        def log(attempt: int, exc: BaseException) -> None:
            logger.info(
                "llm_retry",
                chain=self.name,
                model=model.name,
                attempt=attempt,
                reason=classify_failure(exc).value,
                error=_short(exc),
            )

        return log

    def _provenance(
        self, first: ModelConfig, answered: ModelConfig, attempts: list[FallbackAttempt]
    ) -> Provenance:
        metrics.llm_call(answered.provider, "ok")
        if attempts:
            metrics.llm_fallback(first.provider, answered.provider)
        return Provenance(
            requested_model=first.name,
            model=answered.name,
            attempts=tuple(attempts),
            chain=self.name,
        )


class FallbackStream(Generic[T]):
    """An async iterator over the first model's stream that got going.

    ``provenance`` is set once the first item arrived. Errors before that fall back to the next
    model; an error after it is recorded against the model and raised.
    """

    def __init__(
        self,
        chain: ModelFallbackChain,
        func: Callable[..., AsyncIterator[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self._chain = chain
        self._func = func
        self._args = args
        self._kwargs = kwargs
        self.provenance: Provenance | None = None

    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._run()

    async def _open(self, model: ModelConfig) -> tuple[AsyncIterator[T], T, CircuitBreaker, str]:
        chain = self._chain
        breaker, request_id = await chain._admit(model)
        stream = self._func(model, *self._args, **self._kwargs)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            await breaker.record_failure(
                err := LLMUnavailableError(
                    "the stream ended before any answer", provider=model.provider, model=model.name
                )
            )
            await chain._release(model, request_id)
            raise err from None
        except Exception as exc:
            await breaker.record_failure(exc)
            await chain._release(model, request_id)
            await _aclose(stream)
            raise
        except BaseException:
            await breaker.release()
            await chain._release(model, request_id)
            await _aclose(stream)
            raise
        return stream, first, breaker, request_id

    async def _run(self) -> AsyncGenerator[T, None]:
        chain = self._chain
        order = chain._next_order()
        attempts: list[FallbackAttempt] = []
        errors: list[BaseException] = []
        for model in order:

            def open_stream(
                m: ModelConfig = model,
            ) -> Awaitable[tuple[AsyncIterator[T], T, CircuitBreaker, str]]:
                return self._open(m)

            try:
                stream, first, breaker, request_id = await retry_with_backoff(
                    open_stream,
                    chain.retry,
                    on_retry=chain._on_retry(model),
                    retry_on=chain._retry_on,
                    sleep=chain._sleep,
                    reraise=True,
                )
            except Exception as exc:  # noqa: BLE001 - classified; non-LiteAgent errors re-raised
                chain._note_failure(model, exc, attempts)
                errors.append(exc)
                continue
            self.provenance = chain._provenance(order[0], model, attempts)
            async with aclosing(_drive(chain, model, stream, first, breaker, request_id)) as items:
                async for item in items:
                    yield item
            return
        raise chain._exhausted(attempts, errors)


async def _drive(
    chain: ModelFallbackChain,
    model: ModelConfig,
    stream: AsyncIterator[T],
    first: T,
    breaker: CircuitBreaker,
    request_id: str,
) -> AsyncGenerator[T, None]:
    """Yield an opened stream to its end, settling the breaker and the rate-limit slot."""
    settled = False
    try:
        yield first
        async for item in stream:
            yield item
    except Exception as exc:
        settled = True
        await breaker.record_failure(exc)
        chain._record(model, exc)
        logger.warning(
            "llm_stream_broken",
            chain=chain.name,
            model=model.name,
            reason=classify_failure(exc).value,
            error=_short(exc),
        )
        raise
    finally:
        if not settled:
            # Finished, or the consumer went away after the upstream had answered: either way
            # the upstream worked.
            await breaker.record_success()
            chain._record(model, None)
        await chain._release(model, request_id)
        await _aclose(stream)


async def _aclose(stream: AsyncIterator[Any]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


class FallbackChainRegistry:
    """Chains shared by everything built from the same chain settings.

    Agents are built per user; their LLMs share one chain object per chain configuration, so
    that round-robin turns, error counts and run-time changes (``disable_model``…) apply to all
    of them. ``get(name)`` finds a chain by its name for operators.
    """

    def __init__(self) -> None:
        self._chains: dict[str, ModelFallbackChain] = {}
        self._by_name: dict[str, ModelFallbackChain] = {}

    def get_or_create(
        self, key: str, factory: Callable[[], ModelFallbackChain]
    ) -> ModelFallbackChain:
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = factory()
        self._by_name[chain.name] = chain
        return chain

    def get(self, name: str) -> ModelFallbackChain | None:
        """The chain called ``name`` (the latest built with that name)."""
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def clear(self) -> None:
        self._chains.clear()
        self._by_name.clear()


fallback_chains = FallbackChainRegistry()
"""The process-wide registry ``create_llm`` uses."""
