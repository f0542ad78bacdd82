"""Fallback-chain health shared by replicas: two chains built apart (each replica's own objects,
own breakers) that share only Redis see one set of counts.

With failures on one replica, the other replica's ``least_errors`` chain tries the healthy
model first and never calls the failing one; round-robin turns are taken in turn by both. The
same tests run on the in-process backend, where both "replicas" are the one process.
"""

from __future__ import annotations

import uuid

import pytest

from liteagent.llm import ModelFallbackChain, SelectionStrategy
from liteagent.llm.fallback_policy import ModelConfig
from liteagent.runtime import CircuitBreakerConfig, CircuitBreakerRegistry, RetryConfig
from liteagent.runtime.services import RuntimeServices
from tests.integration.runtime.conftest import ServicesFactory
from tests.unit.test_fallback import Upstreams, unavailable

pytestmark = pytest.mark.integration


def _chain(
    services: RuntimeServices, name: str, strategy: SelectionStrategy, *models: str
) -> ModelFallbackChain:
    """One replica's chain: its own breakers (thresholds no test reaches), shared health."""
    never_opens = CircuitBreakerConfig(failure_threshold=1000)
    return ModelFallbackChain(
        [ModelConfig(m, breaker_config=never_opens) for m in models],
        strategy,
        name=name,
        retry=RetryConfig(max_retries=0),
        breakers=CircuitBreakerRegistry(),
        health=services.chain_health,
    )


async def test_failures_seen_on_one_replica_steer_the_other_away(
    replicas: ServicesFactory,
) -> None:
    a, b = replicas(), replicas()
    name = f"chain-{uuid.uuid4().hex[:8]}"
    on_a = _chain(a, name, SelectionStrategy.LEAST_ERRORS, "bad/1", "good/2")
    on_b = _chain(b, name, SelectionStrategy.LEAST_ERRORS, "bad/1", "good/2")
    failing = Upstreams(**{"bad/1": unavailable("bad/1")})
    for _ in range(2):
        assert (await on_a.execute(failing)).model_used == "good/2"
    assert failing.calls == ["bad/1", "good/2", "good/2"]  # replica A learnt it itself

    upstreams_b = Upstreams(**{"bad/1": unavailable("bad/1")})
    result = await on_b.execute(upstreams_b)
    assert result.model_used == "good/2" and not result.fallback_used
    assert upstreams_b.calls == ["good/2"]  # replica B never called the failing model
    status = on_b.get_status("bad/1")
    assert (status.failures, status.requests, status.consecutive_failures) == (1, 1, 1)
    assert status.last_error is not None and "503" in status.last_error
    assert on_b.get_status("good/2").successes == 3  # two on A, one on B


async def test_round_robin_turns_are_taken_in_turn_by_every_replica(
    replicas: ServicesFactory,
) -> None:
    a, b = replicas(), replicas()
    name = f"chain-{uuid.uuid4().hex[:8]}"
    on_a = _chain(a, name, SelectionStrategy.ROUND_ROBIN, "x/1", "y/2")
    on_b = _chain(b, name, SelectionStrategy.ROUND_ROBIN, "x/1", "y/2")
    up = Upstreams()
    used = [(await c.execute(up)).model_used for c in (on_a, on_a, on_b, on_a, on_b, on_b)]
    assert used == ["x/1", "y/2", "x/1", "y/2", "x/1", "y/2"]
