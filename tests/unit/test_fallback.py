"""ModelFallbackChain: strategies, run-time changes, classification, breakers, provenance."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from liteagent.errors import (
    ConfigurationError,
    ContextWindowExceededError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from liteagent.llm import (
    FallbackReason,
    ModelConfig,
    ModelFallbackChain,
    ScriptedModel,
    SelectionStrategy,
    classify_failure,
)
from liteagent.runtime import (
    CircuitBreakerConfig,
    CircuitBreakerRegistry,
    CircuitOpenError,
    CircuitState,
    CombinedRateLimiter,
    RateLimitedError,
    RateLimitInfo,
    RetryConfig,
)

NO_RETRY = RetryConfig(max_retries=0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def unavailable(model: str) -> LLMUnavailableError:
    return LLMUnavailableError("server error (HTTP 503)", provider="p", model=model)


class Upstreams:
    """Scripted behaviour per model name; records the order of calls."""

    def __init__(self, **behaviour: object) -> None:
        self.behaviour = behaviour
        self.calls: list[str] = []

    async def __call__(self, model: ModelConfig, prompt: str = "") -> str:
        self.calls.append(model.name)
        outcome = self.behaviour.get(model.name, "ok")
        if isinstance(outcome, BaseException):
            raise outcome
        return f"{model.name}:{prompt}"


def chain(*names: str, **kw: object) -> ModelFallbackChain:
    kw.setdefault("retry", NO_RETRY)
    kw.setdefault("breakers", CircuitBreakerRegistry())
    return ModelFallbackChain(list(names), **kw)  # type: ignore[arg-type]


async def test_first_healthy_model_answers_with_provenance() -> None:
    up = Upstreams(**{"a/1": unavailable("1"), "b/2": LLMTimeoutError("slow", provider="b")})
    c = chain("a/1", "b/2", "c/3")
    result = await c.execute(up, prompt="hi")
    assert result.result == "c/3:hi" and result.model_used == "c/3"
    assert result.fallback_used and result.provenance.requested_model == "a/1"
    assert [(a.model, a.reason) for a in result.attempts] == [
        ("a/1", FallbackReason.UNAVAILABLE),
        ("b/2", FallbackReason.TIMEOUT),
    ]
    status = c.get_status("a/1")
    assert (status.requests, status.failures, status.last_reason) == (
        1,
        1,
        FallbackReason.UNAVAILABLE,
    )
    assert c.get_status("c/3").successes == 1


async def test_priority_strategy_orders_by_priority_then_list_order() -> None:
    c = chain(
        ModelConfig("a/1", priority=2),
        ModelConfig("b/2", priority=1),
        ModelConfig("c/3", priority=1),
    )
    assert [m.name for m in c.get_ordered_models()] == ["b/2", "c/3", "a/1"]


async def test_round_robin_rotates_the_first_model() -> None:
    up = Upstreams()
    c = chain("a/1", "b/2", "c/3", strategy="round_robin")
    for _ in range(4):
        await c.execute(up)
    assert up.calls == ["a/1", "b/2", "c/3", "a/1"]


async def test_round_robin_still_falls_back() -> None:
    up = Upstreams(**{"b/2": unavailable("2")})
    c = chain("a/1", "b/2", strategy=SelectionStrategy.ROUND_ROBIN)
    await c.execute(up)
    second = await c.execute(up)
    assert second.model_used == "a/1" and second.provenance.requested_model == "b/2"


async def test_random_strategy_is_a_permutation_of_enabled_models() -> None:
    c = chain("a/1", "b/2", "c/3", strategy="random", rng=random.Random(7))
    orders = {tuple(m.name for m in c.get_ordered_models()) for _ in range(50)}
    assert all(sorted(o) == ["a/1", "b/2", "c/3"] for o in orders)
    assert len(orders) > 3  # genuinely shuffled


async def test_weighted_strategy_follows_weights() -> None:
    c = chain(
        ModelConfig("a/1", weight=8),
        ModelConfig("b/2", weight=2),
        ModelConfig("z/0", weight=0),
        strategy="weighted",
        rng=random.Random(42),
    )
    firsts = Counter(c.get_ordered_models()[0].name for _ in range(2000))
    assert firsts["z/0"] == 0
    assert 0.74 < firsts["a/1"] / 2000 < 0.86  # 8:2 → 80 %
    assert all(c.get_ordered_models()[-1].name == "z/0" for _ in range(20))


async def test_least_errors_prefers_the_model_that_failed_least() -> None:
    up = Upstreams(**{"a/1": unavailable("1")})
    c = chain("a/1", "b/2", strategy="least_errors")
    first = await c.execute(up)
    assert first.model_used == "b/2"
    up.calls.clear()
    second = await c.execute(up)
    assert up.calls == ["b/2"] and second.provenance.requested_model == "b/2"


async def test_enable_disable_add_remove_at_run_time() -> None:
    up = Upstreams()
    c = chain("a/1", "b/2")
    c.disable_model("a/1")
    assert (await c.execute(up)).model_used == "b/2"
    c.enable_model("a/1")
    assert (await c.execute(up)).model_used == "a/1"
    c.add_model(ModelConfig("c/3", priority=-1))
    assert (await c.execute(up)).model_used == "c/3"
    c.remove_model("c/3")
    assert [m.name for m in c.models] == ["a/1", "b/2"]
    with pytest.raises(KeyError, match="not in chain"):
        c.disable_model("zzz/9")
    c.disable_model("a/1")
    c.disable_model("b/2")
    with pytest.raises(LLMUnavailableError, match="every model of the chain is disabled"):
        await c.execute(up)


async def test_context_window_overflow_is_not_retried_on_another_model() -> None:
    overflow = ContextWindowExceededError("too long", provider="p", model="small")
    up = Upstreams(**{"a/1": overflow})
    with pytest.raises(ContextWindowExceededError):
        await chain("a/1", "b/2").execute(up)
    assert up.calls == ["a/1"]
    configured = chain("a/1", "b/2", fallback_on_context_window=True)
    result = await configured.execute(up)
    assert result.model_used == "b/2"
    assert result.attempts[0].reason is FallbackReason.CONTEXT_WINDOW


async def test_programming_errors_propagate() -> None:
    up = Upstreams(**{"a/1": TypeError("bug")})
    with pytest.raises(TypeError):
        await chain("a/1", "b/2").execute(up)
    assert up.calls == ["a/1"]


async def test_all_failing_raises_one_error_naming_every_attempt() -> None:
    up = Upstreams(
        **{
            "a/1": LLMRateLimitError("rate limited", provider="a", retry_after=9),
            "b/2": LLMRateLimitError("rate limited", provider="b", retry_after=3),
        }
    )
    with pytest.raises(LLMRateLimitError) as err:
        await chain("a/1", "b/2").execute(up)
    assert "all 2 models failed" in err.value.message
    assert "a/1: rate_limit" in err.value.message and "b/2: rate_limit" in err.value.message
    assert err.value.retry_after == 3 and err.value.status_code == 429
    assert isinstance(err.value.__cause__, ExceptionGroup)


async def test_single_model_chain_raises_the_error_as_it_was() -> None:
    error = unavailable("1")
    with pytest.raises(LLMUnavailableError) as err:
        await chain("a/1").execute(Upstreams(**{"a/1": error}))
    assert err.value is error


async def test_retries_a_retryable_error_before_falling_back() -> None:
    flaky = [unavailable("1")]

    async def call(model: ModelConfig) -> str:
        if flaky:
            raise flaky.pop()
        return model.name

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    c = chain("a/1", "b/2", retry=RetryConfig(max_retries=1, initial_delay=0.25), sleep=sleep)
    result = await c.execute(call)
    assert result.model_used == "a/1" and not result.fallback_used
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5


async def test_circuit_opens_after_threshold_then_half_opens_after_recovery() -> None:
    clock = Clock()
    breakers = CircuitBreakerRegistry(clock=clock)
    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30)
    up = Upstreams(**{"a/1": unavailable("1")})
    c = chain(ModelConfig("a/1", breaker_config=config), "b/2", breakers=breakers)
    for _ in range(2):
        assert (await c.execute(up)).model_used == "b/2"
    assert up.calls.count("a/1") == 2
    assert c.get_status("a/1").circuit_state is CircuitState.OPEN

    # Open: a/1 is skipped without being called, and the reason says so.
    result = await c.execute(up)
    assert up.calls.count("a/1") == 2
    assert result.attempts[0].reason is FallbackReason.CIRCUIT_OPEN
    assert c.get_status("a/1").requests == 2  # skips are not requests

    # After the recovery timeout one trial call goes through; a success closes the circuit.
    clock.now += 30
    assert c.get_status("a/1").circuit_state is CircuitState.HALF_OPEN
    up.behaviour["a/1"] = "ok"
    result = await c.execute(up)
    assert result.model_used == "a/1" and up.calls.count("a/1") == 3
    assert c.get_status("a/1").circuit_state is CircuitState.CLOSED


async def test_callers_mistakes_do_not_open_the_circuit() -> None:
    breakers = CircuitBreakerRegistry()
    bad_request = LLMProviderError("HTTP 400: bad tool schema", provider="p", upstream_status=400)
    up = Upstreams(**{"a/1": bad_request})
    c = chain(
        ModelConfig("a/1", breaker_config=CircuitBreakerConfig(failure_threshold=1)),
        "b/2",
        breakers=breakers,
    )
    for _ in range(3):
        assert (await c.execute(up)).model_used == "b/2"
    assert c.get_status("a/1").circuit_state is CircuitState.CLOSED


async def test_local_rate_limit_falls_back_as_rate_limit_or_capacity() -> None:
    limiter = CombinedRateLimiter(max_requests=1, window_seconds=60)
    c = chain(ModelConfig("a/1", rate_limiter=limiter), "b/2")
    up = Upstreams()
    assert (await c.execute(up)).model_used == "a/1"
    result = await c.execute(up)
    assert result.model_used == "b/2"
    assert result.attempts[0].reason is FallbackReason.RATE_LIMIT


def test_classification() -> None:
    assert classify_failure(CircuitOpenError("x", 3)) is FallbackReason.CIRCUIT_OPEN
    overloaded = LLMUnavailableError("overloaded (HTTP 529)", provider="p", upstream_status=529)
    assert classify_failure(overloaded) is FallbackReason.CAPACITY
    assert classify_failure(unavailable("m")) is FallbackReason.UNAVAILABLE
    assert classify_failure(LLMRateLimitError("x", provider="p")) is FallbackReason.RATE_LIMIT
    assert classify_failure(LLMTimeoutError("x", provider="p")) is FallbackReason.TIMEOUT
    assert classify_failure(LLMProviderError("x", provider="p")) is FallbackReason.ERROR
    assert classify_failure(ConfigurationError("no key")) is FallbackReason.ERROR
    full = RateLimitInfo(0, datetime.now(UTC), concurrent_active=4, concurrent_limit=4)
    info_error = RateLimitedError("busy", full, concurrency=True)
    assert classify_failure(info_error) is FallbackReason.CAPACITY


async def test_scripted_models_behind_a_chain() -> None:
    models = {"s/a": ScriptedModel([{"error": "boom"}]), "s/b": ScriptedModel(["hello"])}

    async def call(model: ModelConfig) -> str:
        return (await models[model.name].chat([{"role": "user", "content": "hi"}])).content

    result = await chain("s/a", "s/b").execute(call)
    assert result.result == "hello" and result.attempts[0].reason is FallbackReason.ERROR


async def test_llm_calls_and_fallbacks_are_counted_by_provider() -> None:
    from liteagent.runtime.metrics import metrics

    def count(name: str, **labels: str) -> int:
        return metrics.get_counter(name, labels)

    before = (
        count("llm_calls", provider="down", outcome="unavailable"),
        count("llm_calls", provider="up", outcome="ok"),
        count("llm_fallbacks", from_provider="down", to_provider="up"),
    )
    up = Upstreams(**{"down/1": unavailable("1")})
    await chain("down/1", "up/2").execute(up, prompt="hi")
    after = (
        count("llm_calls", provider="down", outcome="unavailable"),
        count("llm_calls", provider="up", outcome="ok"),
        count("llm_fallbacks", from_provider="down", to_provider="up"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
