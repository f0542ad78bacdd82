"""Overhead of the resilience layer: direct provider vs ResilientLLM, measured side by side.

Run: ``uv run python benchmarks/bench_fallback.py``. The model is an in-process function model
marked as a network provider, so the numbers are the wrapper's own cost (retry, breaker,
provenance), not HTTP.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write

from liteagent.llm import FunctionModel, ModelFallbackChain, ResilientLLM
from liteagent.llm.base import BaseLLMProvider
from liteagent.runtime import CircuitBreakerConfig, CircuitBreakerRegistry

N = 3000
MSGS = [{"role": "user", "content": "hello there"}]


class NetworkFunctionModel(FunctionModel):
    network = True


def model(fail: bool = False) -> BaseLLMProvider:
    def answer(messages, options):  # type: ignore[no-untyped-def]
        if fail:
            return {"error": "down"}
        return "hi"

    return NetworkFunctionModel(answer)


async def timed(label: str, call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(100):
        await call()
    start = time.perf_counter()
    for _ in range(N):
        await call()
    per_call = (time.perf_counter() - start) / N * 1e6
    print(f"{label:<44} {per_call:8.1f} µs/call")
    return per_call


async def main() -> None:
    direct = model()
    one = ResilientLLM(
        ModelFallbackChain(["fn/ok"], breakers=CircuitBreakerRegistry()), lambda _: model()
    )
    registry = CircuitBreakerRegistry()
    open_first = ModelFallbackChain(["fn/down", "fn/ok"], breakers=registry)
    open_first.models[0].breaker_config = CircuitBreakerConfig(
        failure_threshold=1, recovery_timeout=3600
    )
    two = ResilientLLM(open_first, lambda mid: model(fail=mid == "fn/down"))
    await two.chat(MSGS)  # opens fn/down's circuit

    base = await timed("direct provider", lambda: direct.chat(MSGS))
    wrapped = await timed("ResilientLLM, one model", lambda: one.chat(MSGS))
    skipped = await timed("ResilientLLM, first model's circuit open", lambda: two.chat(MSGS))
    stream_base = await timed("direct provider, stream", lambda: _drain(direct))
    stream_wrapped = await timed("ResilientLLM, one model, stream", lambda: _drain(one))
    rows = [
        ["chat, one model", f"{wrapped:.1f}", f"{base:.1f}", f"{wrapped / base:.2f}"],
        ["chat, first model's circuit open", f"{skipped:.1f}", f"{base:.1f}",
         f"{skipped / base:.2f}"],
        ["stream, one model", f"{stream_wrapped:.1f}", f"{stream_base:.1f}",
         f"{stream_wrapped / stream_base:.2f}"],
    ]  # fmt: skip
    notes = f"""
{N} calls each to an in-process model (no HTTP), so the figures are the wrapper's own cost per
call: retry, circuit breaker, rate limits and provenance.
"""
    write("fallback", "The resilience layer vs a direct provider call",
          ["call", "ResilientLLM (µs)", "direct (µs)", "ratio"], rows, notes)  # fmt: skip


async def _drain(llm: BaseLLMProvider) -> None:
    async for _ in llm.stream(MSGS):
        pass


if __name__ == "__main__":
    asyncio.run(main())
