"""Async iterators the LLM layer passes around (model streams): closing them, and driving them
with a context variable set.

``aclose_stream`` closes a stream that can be closed (an async generator), so that a model
stream stops upstream work the moment its consumer is done with it. ``iterate_in_context``
drives a stream with a ``ContextVar`` set for the duration of each of its steps (and of its
closing) only, never across a ``yield``: what the stream does sees the value, the consumer's own
code between two items does not — even when the consumer drives each step from another task.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["aclose_stream", "iterate_in_context"]

T = TypeVar("T")
V = TypeVar("V")


async def aclose_stream(stream: AsyncIterator[Any]) -> None:
    """Close ``stream`` if it has an ``aclose`` (a plain async iterator is left as it is)."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def iterate_in_context(
    stream: AsyncIterator[T], var: ContextVar[V], value: V
) -> AsyncGenerator[T, None]:
    """Iterate ``stream`` with ``var`` set to ``value`` during each step and while closing it.

    The variable is set in the context of whoever drives the step and reset before the item is
    yielded, so a consumer may drive every step from a different task.
    """
    items = aiter(stream)
    try:
        while True:
            token = var.set(value)
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
            finally:
                var.reset(token)
            yield item
    finally:
        token = var.set(value)
        try:
            await aclose_stream(items)
        finally:
            var.reset(token)
