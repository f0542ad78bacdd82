"""Run-time services: circuit breakers, retry, rate limits, turn locks, tasks, sessions, pub/sub,
caches, health and metrics.

Each service has an in-process backend (the zero-setup default) and a Redis one behind the same
protocol (``CircuitBreakerBackend``, ``ConcurrencyBackend``, ``LockBackend``, a ``limits``
storage); ``liteagent.runtime.services.RuntimeServices`` builds the right set from Settings
(``REDIS_URL``). Modules: ``redis_client`` (``RedisClientWrapper``, ``redis_fallback``,
``RedisBacked``: the base of the services kept in Redis with an in-process twin),
``redis_backends``, ``records`` (``JsonRecord``: dataclasses stored or sent as JSON),
``background`` (``cancel_and_wait``), ``session_lock``, ``distributed_lock``, ``task_tracker``,
``session_manager``, ``pubsub``, ``run_control`` (aborting a run on whichever replica runs it),
``chain_health`` (fallback-chain counts), ``cache``, ``cache_manager``, ``health``, ``metrics``,
``endpoints`` (``/liteagent/health``, ``/liteagent/metrics``, ``/liteagent/runs/{id}/abort`` on
the proxy app).
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
