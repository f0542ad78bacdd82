"""``liteagent.llm.streams``: a context variable set for a stream's steps only, and closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from contextvars import ContextVar

from liteagent.llm.streams import aclose_stream, iterate_in_context

_var: ContextVar[str] = ContextVar("test_llm_streams", default="outside")


async def _seen(log: list[str], n: int) -> AsyncGenerator[int, None]:
    """Yields ``n`` items, logging the variable at each step and while it is closed."""
    try:
        for i in range(n):
            log.append(f"step:{_var.get()}")
            yield i
    finally:
        log.append(f"close:{_var.get()}")


async def test_the_variable_is_set_during_steps_and_closing_never_between() -> None:
    log: list[str] = []
    between: list[str] = []
    async for _ in iterate_in_context(_seen(log, 2), _var, "inside"):
        between.append(_var.get())
    assert log == ["step:inside", "step:inside", "close:inside"]
    assert between == ["outside", "outside"]
    assert _var.get() == "outside"


async def test_a_consumer_leaving_early_closes_the_stream_under_the_variable() -> None:
    log: list[str] = []
    async with aclosing(iterate_in_context(_seen(log, 5), _var, "inside")) as items:
        assert await anext(items) == 0
    assert log == ["step:inside", "close:inside"]
    assert _var.get() == "outside"


async def test_steps_driven_from_different_tasks_each_see_the_variable() -> None:
    log: list[str] = []
    items = iterate_in_context(_seen(log, 2), _var, "inside")
    first = await asyncio.create_task(anext(items))
    second = await asyncio.create_task(anext(items))
    await items.aclose()
    assert (first, second) == (0, 1)
    assert log == ["step:inside", "step:inside", "close:inside"]


class _PlainIterator:
    """An async iterator without ``aclose``."""

    def __aiter__(self) -> AsyncIterator[int]:
        return self

    async def __anext__(self) -> int:
        raise StopAsyncIteration


async def test_aclose_stream_closes_generators_and_leaves_plain_iterators() -> None:
    log: list[str] = []
    gen = _seen(log, 3)
    await anext(gen)
    await aclose_stream(gen)
    assert log == ["step:outside", "close:outside"]
    await aclose_stream(_PlainIterator())  # nothing to close: no error
