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

The pieces: ``fallback_policy`` (models, strategies, how failures are judged),
``ModelFallbackChain`` and ``ChainCall`` here (order, bookkeeping, one call's attempts), and
``fallback_stream`` (a stream that falls back until its first item).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from liteagent.errors import LiteAgentError, LLMUnavailableError
from liteagent.llm.fallback_policy import (
    FallbackResult,
    ModelConfig,
    ModelStatus,
    SelectionStrategy,
    classify_failure,
    counts_against_upstream,
    exhausted_error,
    short_error,
)
from liteagent.llm.fallback_stream import FallbackStream
from liteagent.llm.provenance import FallbackAttempt, FallbackReason, Provenance
from liteagent.log import get_logger
from liteagent.runtime.chain_health import (
    ChainHealthBackend,
    InMemoryChainHealth,
    ModelHealth,
    apply,
    chain_health,
)
from liteagent.runtime.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerRegistry,
    CircuitOpenError,
    circuit_breakers,
)
from liteagent.runtime.instances import SharedInstances
from liteagent.runtime.metrics import metrics
from liteagent.runtime.rate_limiter import RateLimitedError
from liteagent.runtime.retry import RetryConfig, is_retryable, retry_with_backoff

__all__ = [
    "ChainCall",
    "FallbackChainRegistry",
    "FallbackReason",
    "FallbackResult",
    "FallbackStream",
    "ModelConfig",
    "ModelFallbackChain",
    "ModelStatus",
    "SelectionStrategy",
    "classify_failure",
    "counts_against_upstream",
    "fallback_chains",
]

T = TypeVar("T")
logger = get_logger(__name__)


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
        health: Where the models' calls, failures and round-robin turns are counted (default:
            the process-wide backend when it is shared through Redis, else this chain alone;
            see ``liteagent.runtime.chain_health``).
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
        health: ChainHealthBackend | None = None,
    ) -> None:
        self._models: list[ModelConfig] = []
        # the last known health of each model (refreshed from the backend at each call)
        self._counters: dict[str, ModelHealth] = {}
        self._health = health
        self._own_health = InMemoryChainHealth()
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
        self._counters.setdefault(config.name, ModelHealth())

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
            last_reason=FallbackReason(c.last_reason) if c.last_reason else None,
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
        if not order:
            raise LLMUnavailableError(
                "every model of the chain is disabled", provider=f"fallback:{self.name}"
            )
        return order

    # ----------------------------------------------------------------- bookkeeping
    @property
    def health(self) -> ChainHealthBackend:
        """Where this chain's counts live."""
        if self._health is not None:
            return self._health
        installed = chain_health.backend
        return self._own_health if isinstance(installed, InMemoryChainHealth) else installed

    async def refresh(self) -> None:
        """Read what the order depends on from the backend — the models' failures for
        ``least_errors``, the next turn for ``round_robin`` — so what other replicas' chains
        counted steers this one's order."""
        if sum(m.enabled for m in self._models) < 2:
            return  # one model: nothing to order (its counts are still recorded)
        health = self.health
        if self.strategy is SelectionStrategy.LEAST_ERRORS:
            names = [m.name for m in self._models]
            self._counters.update(await health.snapshot(self.name, names))
        elif self.strategy is SelectionStrategy.ROUND_ROBIN:
            self._turn = await health.next_turn(self.name)

    async def _record(self, model: ModelConfig, exc: BaseException | None) -> FallbackReason | None:
        reason = None if exc is None else classify_failure(exc)
        error = None if exc is None else short_error(exc)
        counted = reason is not FallbackReason.CIRCUIT_OPEN  # skips are not requests
        value = None if reason is None else reason.value
        await self.health.record(self.name, model.name, value, error, counted=counted)
        h = self._counters.setdefault(model.name, ModelHealth())
        apply(h, value, error, counted=counted)
        return reason

    # ----------------------------------------------------------------- execution
    async def start_call(self) -> ChainCall:
        """One call's way through the chain, in the order the strategy gives now."""
        await self.refresh()
        return ChainCall(self)

    async def execute(
        self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> FallbackResult[T]:
        """Call ``func(model, *args, **kwargs)`` for each model in turn until one succeeds.

        Raises:
            LLMProviderError: every model failed (the last model's error class, with every
                attempt summarised), or the error of a single-model chain as it was.
        """
        walk = await self.start_call()
        for model in walk.order:

            def call(m: ModelConfig = model) -> Awaitable[T]:
                return walk.call_once(m, lambda: func(m, *args, **kwargs))

            try:
                result = await walk.retrying(model, call)
            except Exception as exc:  # noqa: BLE001 - classified; non-LiteAgent errors re-raised
                await walk.failed(model, exc)
                continue
            await walk.record_success(model)
            return FallbackResult(result, walk.answered_by(model))
        raise walk.exhausted()

    def execute_stream(
        self, func: Callable[..., AsyncIterator[T]], *args: Any, **kwargs: Any
    ) -> FallbackStream[T]:
        """Stream ``func(model, *args, **kwargs)``, falling back until the first item arrives."""
        return FallbackStream(self.start_call, func, args, kwargs)


class ChainCall:
    """One call's way through a chain: the models in order, the attempts and errors so far.

    ``ModelFallbackChain.execute`` and ``FallbackStream`` each drive one: for every model of
    ``order`` they call it through ``retrying`` (``call_once``, or ``admit``/``release`` around
    a stream), then report ``failed`` (which re-raises what must not fall back),
    ``record_success``, or ``broke`` for a stream that failed after its first item.
    ``exhausted`` is the error to raise when no model answered.
    """

    def __init__(self, chain: ModelFallbackChain) -> None:
        self.chain = chain
        self.order = chain._next_order()
        self.attempts: list[FallbackAttempt] = []
        self.errors: list[BaseException] = []

    async def admit(self, model: ModelConfig) -> tuple[CircuitBreaker, str]:
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
        breaker = self.chain.breaker(model)
        try:
            await breaker.before_call()
        except BaseException as exc:
            if limiter is not None:
                await limiter.exit_request(model.breaker_name, request_id)
            if isinstance(exc, CircuitOpenError):  # name the model, not the endpoint
                raise CircuitOpenError(model.name, exc.retry_in) from None
            raise
        return breaker, request_id

    async def release(self, model: ModelConfig, request_id: str) -> None:
        if model.rate_limiter is not None:
            await model.rate_limiter.exit_request(model.breaker_name, request_id)

    async def call_once(self, model: ModelConfig, call: Callable[[], Awaitable[T]]) -> T:
        """One call of one model: admitted, then settled with its breaker and limiter."""
        breaker, request_id = await self.admit(model)
        try:
            result = await call()
        except Exception as exc:
            await breaker.record_failure(exc)
            raise
        except BaseException:
            await breaker.release()
            raise
        finally:
            await self.release(model, request_id)
        await breaker.record_success()
        return result

    async def retrying(self, model: ModelConfig, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` retried with the chain's backoff while its errors may go away by themselves."""

        def log(attempt: int, exc: BaseException) -> None:
            logger.info(
                "llm_retry",
                chain=self.chain.name,
                model=model.name,
                attempt=attempt,
                reason=classify_failure(exc).value,
                error=short_error(exc),
            )

        return await retry_with_backoff(
            call,
            self.chain.retry,
            on_retry=log,
            retry_on=_retry_on,
            sleep=self.chain._sleep,
            reraise=True,
        )

    async def failed(self, model: ModelConfig, exc: BaseException) -> None:
        """Count a model's failure and move on; re-raise ``exc`` when it must not fall back."""
        chain = self.chain
        reason = await chain._record(model, exc) or FallbackReason.ERROR
        metrics.llm_call(model.provider, reason.value)
        if not _falls_back(chain, exc, reason):
            raise exc
        self.attempts.append(FallbackAttempt(model.name, reason, short_error(exc)))
        self.errors.append(exc)
        # A skip because of an open circuit repeats on every call during an outage: info only
        # (the opening itself was logged as a warning).
        log = logger.info if reason is FallbackReason.CIRCUIT_OPEN else logger.warning
        log(
            "llm_fallback",
            chain=chain.name,
            model=model.name,
            reason=reason.value,
            error=short_error(exc),
            error_type=type(exc).__name__,
        )

    async def broke(self, model: ModelConfig, exc: BaseException) -> None:
        """Count a failure after the model had started answering (no fallback any more)."""
        await self.chain._record(model, exc)
        logger.warning(
            "llm_stream_broken",
            chain=self.chain.name,
            model=model.name,
            reason=classify_failure(exc).value,
            error=short_error(exc),
        )

    async def record_success(self, model: ModelConfig) -> None:
        await self.chain._record(model, None)

    def answered_by(self, model: ModelConfig) -> Provenance:
        """The provenance of an answer from ``model`` after the attempts so far."""
        metrics.llm_call(model.provider, "ok")
        if self.attempts:
            metrics.llm_fallback(self.order[0].provider, model.provider)
        return Provenance(
            requested_model=self.order[0].name,
            model=model.name,
            attempts=tuple(self.attempts),
            chain=self.chain.name,
        )

    def exhausted(self) -> BaseException:
        """The error to raise when every model failed."""
        return exhausted_error(self.chain.name, self.attempts, self.errors)


def _retry_on(exc: BaseException) -> bool:
    return is_retryable(exc) and not isinstance(exc, CircuitOpenError | RateLimitedError)


def _falls_back(chain: ModelFallbackChain, exc: BaseException, reason: FallbackReason) -> bool:
    if not isinstance(exc, LiteAgentError):
        return False
    return reason is not FallbackReason.CONTEXT_WINDOW or chain.fallback_on_context_window


class FallbackChainRegistry:
    """Chains shared by everything built from the same chain settings.

    Agents are built per user; their LLMs share one chain object per chain configuration, so
    that round-robin turns, error counts and run-time changes (``disable_model``…) apply to all
    of them. ``get(name)`` finds a chain by its name for operators.
    """

    def __init__(self) -> None:
        self._chains: SharedInstances[ModelFallbackChain] = SharedInstances()
        self._by_name: dict[str, ModelFallbackChain] = {}

    def get_or_create(
        self, key: str, factory: Callable[[], ModelFallbackChain]
    ) -> ModelFallbackChain:
        chain = self._chains.get_or_create(key, factory)
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
