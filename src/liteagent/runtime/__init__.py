"""Run-time services: circuit breakers, retry, rate limits.

Each service has an in-process backend here; shared (Redis) backends implement the same
protocols (``CircuitBreakerBackend``, ``ConcurrencyBackend``, a ``limits`` storage URI).
"""

from liteagent.runtime.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerBackend,
    CircuitBreakerConfig,
    CircuitBreakerRegistry,
    CircuitOpenError,
    CircuitState,
    InMemoryCircuitBackend,
    circuit_breaker,
    circuit_breakers,
)
from liteagent.runtime.rate_limiter import (
    CombinedRateLimiter,
    ConcurrencyBackend,
    ConcurrentRequestLimiter,
    InMemoryConcurrencyBackend,
    RateLimitedError,
    RateLimiterRegistry,
    RateLimitInfo,
    SlidingWindowRateLimiter,
    rate_limit_headers,
    rate_limiters,
)
from liteagent.runtime.retry import RetryConfig, RetryError, is_retryable, retry, retry_with_backoff

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerBackend",
    "CircuitBreakerConfig",
    "CircuitBreakerRegistry",
    "CircuitOpenError",
    "CircuitState",
    "CombinedRateLimiter",
    "ConcurrencyBackend",
    "ConcurrentRequestLimiter",
    "InMemoryCircuitBackend",
    "InMemoryConcurrencyBackend",
    "RateLimitInfo",
    "RateLimitedError",
    "RateLimiterRegistry",
    "RetryConfig",
    "RetryError",
    "SlidingWindowRateLimiter",
    "circuit_breaker",
    "circuit_breakers",
    "is_retryable",
    "rate_limit_headers",
    "rate_limiters",
    "retry",
    "retry_with_backoff",
]
