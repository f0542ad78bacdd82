"""What a fallback chain is made of, and how it judges failures.

``ModelConfig`` describes one model of a chain, ``SelectionStrategy`` the order in which they
are tried; ``classify_failure`` names why a call failed (``FallbackReason``) and
``counts_against_upstream`` whether a failure says the upstream is unhealthy (its breaker
counts it). ``exhausted_error`` summarises a call on which every model failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from liteagent.errors import (
    ContextWindowExceededError,
    LiteAgentError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from liteagent.llm.provenance import FallbackAttempt, FallbackReason, Provenance, ProvenanceView
from liteagent.runtime.circuit_breaker import CircuitBreakerConfig, CircuitOpenError, CircuitState
from liteagent.runtime.rate_limiter import CombinedRateLimiter, RateLimitedError

__all__ = [
    "FallbackResult",
    "ModelConfig",
    "ModelStatus",
    "SelectionStrategy",
    "classify_failure",
    "counts_against_upstream",
    "exhausted_error",
    "short_error",
]

T = TypeVar("T")


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
class FallbackResult(ProvenanceView, Generic[T]):
    """What ``execute`` returns: the result and its provenance."""

    result: T
    provenance: Provenance

    @property
    def model_used(self) -> str:
        return self.model


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


def short_error(exc: BaseException) -> str:
    """An error's message for logs and provenance, at most 300 characters."""
    text = exc.message if isinstance(exc, LiteAgentError) else str(exc)
    return text if len(text) <= 300 else text[:297] + "..."


def exhausted_error(
    chain: str, attempts: list[FallbackAttempt], errors: list[BaseException]
) -> BaseException:
    """The error of a call on which every model failed: the single model's own error, else one
    of the last model's class summarising every attempt (the attempts as its cause)."""
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
        float(w) for e in errors if isinstance((w := getattr(e, "retry_after", None)), int | float)
    ]
    error = cls(
        f"all {len(attempts)} models failed: {summary}",
        provider=f"fallback:{chain}",
        retry_after=min(waits) if waits else None,
    )
    causes = [e for e in errors if isinstance(e, Exception)]
    error.__cause__ = ExceptionGroup("fallback attempts", causes)
    return error
