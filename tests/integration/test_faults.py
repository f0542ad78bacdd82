"""Fault injection against every provider's wire format.

Each fault must give a clear error from the provider alone, and the documented fallback inside
a chain: the second model answers and the response says which model answered and why the
first did not (docs/providers.md, "What happens when a model fails").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from liteagent.config import Settings
from liteagent.errors import (
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from liteagent.llm import FallbackReason, create_llm, create_provider
from liteagent.llm.provider_specs import ModelChainSpec, ProviderSpec, RetrySpec
from tests.servers.anthropic_wire import AnthropicWireServer
from tests.servers.http import free_port, serve_app
from tests.servers.ollama_wire import OllamaWireServer
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = pytest.mark.integration

SECRET = "sk-fault-test-secret-0123456789"
SETTINGS = Settings(_env_file=None)
MSGS = [{"role": "user", "content": "hello"}]


@dataclass
class Upstream:
    """One provider type's server, configured as the catalog provider ``bad``."""

    kind: str
    server: Any
    url: str

    def spec(self, *, timeout: float = 5.0, url: str | None = None) -> ProviderSpec:
        base = url or self.url
        if self.kind == "openai":
            base = f"{base}/v1"
        return ProviderSpec(type=self.kind, base_url=base, api_key=SECRET, timeout=timeout)

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        if self.kind == "anthropic":
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            self.server.reply_error(status, kind, message, headers=headers)
        elif self.kind == "openai":
            self.server.reply_error(status, message, headers=headers or {})
        else:
            self.server.reply_error(status, message, headers=headers)

    def fault(self, **faults: Any) -> None:
        self.server.reply_fault(**faults)


@pytest.fixture(params=["openai", "anthropic", "ollama"])
def upstream(request: pytest.FixtureRequest) -> Iterator[Upstream]:
    server: Any = {
        "openai": OpenAIWireServer,
        "anthropic": AnthropicWireServer,
        "ollama": OllamaWireServer,
    }[request.param]()
    with serve_app(server.app) as url:
        yield Upstream(request.param, server, url)


FAULTS = ["429", "500", "503", "timeout", "malformed", "refused"]
EXPECTED: dict[str, tuple[type[LLMProviderError], FallbackReason]] = {
    "429": (LLMRateLimitError, FallbackReason.RATE_LIMIT),
    "500": (LLMUnavailableError, FallbackReason.UNAVAILABLE),
    "503": (LLMUnavailableError, FallbackReason.UNAVAILABLE),
    "timeout": (LLMTimeoutError, FallbackReason.TIMEOUT),
    "malformed": (LLMProviderError, FallbackReason.ERROR),
    "refused": (LLMUnavailableError, FallbackReason.UNAVAILABLE),
}


def inject(up: Upstream, fault: str) -> ProviderSpec:
    """Arrange ``fault`` for the next request; return the provider settings to use."""
    if fault == "429":
        up.error(429, "slow down", {"retry-after": "7"})
    elif fault in ("500", "503"):
        up.error(int(fault), "backend exploded")
    elif fault == "timeout":
        up.fault(delay=1.5)
        return up.spec(timeout=0.3)
    elif fault == "malformed":
        up.fault(raw_body='{"id": "x", "choices": [ {oops')
    elif fault == "refused":
        return up.spec(url=f"http://127.0.0.1:{free_port()}")
    return up.spec()


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_alone_is_a_clear_error(upstream: Upstream, fault: str) -> None:
    spec = inject(upstream, fault)
    llm = create_provider("bad/model-x", settings=SETTINGS, providers={"bad": spec})
    error_type, _ = EXPECTED[fault]
    with pytest.raises(error_type) as err:
        await llm.chat(MSGS)
    message = err.value.message
    assert upstream.kind in message and "model-x" in message
    assert SECRET not in message and "Traceback" not in message
    if fault == "429":
        assert err.value.retry_after == 7.0
    if fault == "malformed":
        assert "malformed" in message
    await llm.aclose()


def chain(primary: ProviderSpec, good_url: str) -> tuple[ModelChainSpec, dict[str, ProviderSpec]]:
    providers = {
        "bad": primary,
        "good": ProviderSpec(type="openai", base_url=good_url, api_key="sk-good-0123456789"),
    }
    spec = ModelChainSpec(
        fallbacks=["bad/model-x", "good/gpt-good"],
        retry=RetrySpec(max_retries=0),
        providers=providers,
    )
    return spec, providers


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_falls_back(
    upstream: Upstream, openai_server, fault: str, stream: bool
) -> None:
    good, good_url = openai_server
    good.reply_text("answer from the fallback")
    spec, _ = chain(inject(upstream, fault), good_url)
    llm = create_llm(spec, settings=SETTINGS)
    if stream:
        chunks = [c async for c in llm.stream(MSGS)]
        text = "".join(c.content for c in chunks).strip()
        provenance = chunks[-1].provenance
    else:
        response = await llm.chat(MSGS)
        text, provenance = response.content, response.provenance
    assert text == "answer from the fallback"
    assert provenance is not None
    assert (provenance.requested_model, provenance.model) == ("bad/model-x", "good/gpt-good")
    assert [a.model for a in provenance.attempts] == ["bad/model-x"]
    assert provenance.attempts[0].reason is EXPECTED[fault][1]
    assert SECRET not in provenance.attempts[0].error
    await llm.aclose()


@pytest.mark.parametrize("mode", ["abort", "close"])
async def test_stream_cut_before_any_answer_falls_back(
    upstream: Upstream, openai_server, mode: str
) -> None:
    good, good_url = openai_server
    good.reply_text("fallback")
    upstream.fault(cut_after=0, cut_mode=mode)
    spec, _ = chain(upstream.spec(), good_url)
    llm = create_llm(spec, settings=SETTINGS)
    chunks = [c async for c in llm.stream(MSGS)]
    assert "".join(c.content for c in chunks).strip() == "fallback"
    assert chunks[-1].provenance is not None
    assert chunks[-1].provenance.attempts[0].reason is FallbackReason.UNAVAILABLE


@pytest.mark.parametrize("mode", ["abort", "close"])
async def test_stream_cut_midway_is_a_clear_error(
    upstream: Upstream, openai_server, mode: str
) -> None:
    good, good_url = openai_server
    upstream.fault(content="one two three four five", cut_after=2, cut_mode=mode)
    spec, _ = chain(upstream.spec(), good_url)
    llm = create_llm(spec, settings=SETTINGS)
    received: list[str] = []
    with pytest.raises(LLMUnavailableError, match="ended before the answer was complete"):
        async for chunk in llm.stream(MSGS):
            received.append(chunk.content)
    # The client already has part of the answer: no second model starts over behind its back.
    assert "".join(received).split() == ["one", "two"]
    assert good.requests == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_opens_then_half_opens_against_a_real_server(openai_server) -> None:
    from liteagent.runtime import CircuitBreakerRegistry, CircuitState

    server, url = openai_server
    backup = OpenAIWireServer()
    with serve_app(backup.app) as backup_url:
        clock = FakeClock()
        providers = {
            "primary": ProviderSpec.model_validate(
                {
                    "type": "openai",
                    "base_url": url,
                    "api_key": SECRET,
                    "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 60},
                }
            ),
            "backup": ProviderSpec(
                type="openai", base_url=f"{backup_url}/v1", api_key="k-12345678"
            ),
        }
        spec = ModelChainSpec(
            fallbacks=["primary/gpt-a", "backup/gpt-b"],
            retry=RetrySpec(max_retries=0),
            providers=providers,
        )
        llm = create_llm(spec, settings=SETTINGS, breakers=CircuitBreakerRegistry(clock=clock))
        server.reply_error(503, "down", sticky=True)
        for _ in range(2):
            backup.reply_text("backup")
            assert (await llm.chat(MSGS)).provenance.model == "backup/gpt-b"  # type: ignore[union-attr]
        assert len(server.requests) == 2
        breaker_state = llm.chain.get_status("primary/gpt-a").circuit_state  # type: ignore[attr-defined]
        assert breaker_state is CircuitState.OPEN

        backup.reply_text("backup")
        skipped = await llm.chat(MSGS)
        assert len(server.requests) == 2  # open: no request reached the failing server
        assert skipped.provenance is not None
        assert skipped.provenance.attempts[0].reason is FallbackReason.CIRCUIT_OPEN

        # The server recovers; after the recovery timeout one trial request goes through.
        server.replies.clear()
        server.reply_text("primary is back")
        clock.now += 60
        recovered = await llm.chat(MSGS)
        assert recovered.content.strip() == "primary is back" and len(server.requests) == 3
        assert recovered.provenance is not None and not recovered.provenance.fallback_used
        assert llm.chain.get_status("primary/gpt-a").circuit_state is CircuitState.CLOSED  # type: ignore[attr-defined]


async def test_retry_after_is_waited_for_on_the_same_model(upstream: Upstream) -> None:
    from liteagent.llm import ModelFallbackChain, ResilientLLM
    from liteagent.runtime import CircuitBreakerRegistry, RetryConfig

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    upstream.error(429, "slow down", {"retry-after": "2"})
    upstream.server.reply_text("after waiting")
    providers = {"bad": upstream.spec()}
    chain_ = ModelFallbackChain(
        ["bad/model-x"],
        retry=RetryConfig(max_retries=2, initial_delay=0.1, max_delay=10),
        breakers=CircuitBreakerRegistry(),
        sleep=sleep,
    )
    llm = ResilientLLM(
        chain_, lambda mid: create_provider(mid, settings=SETTINGS, providers=providers)
    )
    answer = await llm.chat(MSGS)
    assert answer.content.strip() == "after waiting"
    assert len(waits) == 1 and 2.0 <= waits[0] <= 10
    assert answer.provenance is not None and not answer.provenance.fallback_used
    await llm.aclose()
