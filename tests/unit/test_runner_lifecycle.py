"""Runners evicted from the agent cache are closed only when no request uses them any more, a
failing close is logged (not lost), and ``aclose`` closes everything at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import structlog

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from liteagent.proxy import custom_llm as handler_module
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import RunEvent, RunFinished, TextDelta
from tests.unit.test_handler import call_kwargs


class Built(dict[str, "GatedRunner"]):
    """Runners built so far, by model name; ``wait(name)`` until one is."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, asyncio.Event] = {}

    def add(self, runner: GatedRunner) -> None:
        self[runner.name] = runner
        self.events.setdefault(runner.name, asyncio.Event()).set()

    async def wait(self, name: str) -> GatedRunner:
        await asyncio.wait_for(self.events.setdefault(name, asyncio.Event()).wait(), 30)
        return self[name]


class GatedRunner:
    """A runner whose answer waits for ``gate``; records whether it was closed."""

    def __init__(self, name: str, *, fail_close: bool = False) -> None:
        self.name = name
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.closed = False
        self.fail_close = fail_close

    async def run(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        self.started.set()
        await self.gate.wait()
        yield TextDelta(f"answer of {self.name}")
        yield RunFinished()

    async def aclose(self) -> None:
        self.closed = True
        if self.fail_close:
            raise RuntimeError("close failed with glpat-abcdefghijklmnopqrst in it")


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> Built:
    built = Built()

    def build(spec: Any, ctx: RequestContext, settings: Settings) -> GatedRunner:
        runner = GatedRunner(spec.name, fail_close=spec.name == "fragile")
        built.add(runner)
        return runner

    monkeypatch.setattr(handler_module, "build_runner", build)
    return built


def one_slot_handler() -> LiteAgentLLM:
    models = {
        name: {"system_prompt": "You help.", "model": "scripted/none"}
        for name in ("first", "second", "fragile")
    }
    return LiteAgentLLM(
        settings=Settings(agent_cache_size=1), catalog=parse_catalog({"models": models})
    )


async def ask(handler: LiteAgentLLM, model: str) -> str:
    response = await handler.acompletion(
        model, [{"role": "user", "content": "hi"}], **call_kwargs(user="ann")
    )
    return str(response.choices[0].message.content)


async def test_an_evicted_runner_in_use_is_closed_only_after_its_request(
    runners: Built,
) -> None:
    handler = one_slot_handler()
    first_answer = asyncio.create_task(ask(handler, "first"))
    await runners.wait("first")
    await runners["first"].started.wait()

    # Another model takes the only cache slot: "first" is evicted while its request runs.
    runners_second = asyncio.create_task(ask(handler, "second"))
    await runners.wait("second")
    await runners["second"].started.wait()
    assert "first" not in [k.name for k in handler.cache._lru]
    assert not runners["first"].closed  # still answering: not closed under its request

    runners["first"].gate.set()
    assert await first_answer == "answer of first"
    assert runners["first"].closed  # closed as its request finished
    runners["second"].gate.set()
    assert await runners_second == "answer of second"
    assert not runners["second"].closed  # still cached

    await handler.aclose()
    assert runners["second"].closed


async def test_a_failing_close_is_logged_without_the_secret(
    runners: Built,
) -> None:
    handler = one_slot_handler()
    answer = asyncio.create_task(ask(handler, "fragile"))
    await runners.wait("fragile")
    runners["fragile"].gate.set()
    assert await answer == "answer of fragile"
    with structlog.testing.capture_logs() as logs:
        await handler.aclose()
    assert runners["fragile"].closed
    [failed] = [e for e in logs if e["event"] == "runner_close_failed"]
    assert "close failed" in failed["error"] and "glpat-" not in failed["error"]
