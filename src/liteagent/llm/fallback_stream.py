"""A model stream that falls back to the next model of a chain until its first item arrives.

After the first item the client already has part of the answer: a later failure is counted
against the model (``ChainCall.broke``) and raised, never retried elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from liteagent.errors import LLMUnavailableError
from liteagent.llm.fallback_policy import ModelConfig
from liteagent.llm.provenance import Provenance
from liteagent.llm.streams import aclose_stream
from liteagent.runtime.circuit_breaker import CircuitBreaker

if TYPE_CHECKING:
    from liteagent.llm.fallback import ChainCall

__all__ = ["FallbackStream"]

T = TypeVar("T")


class FallbackStream(Generic[T]):
    """An async iterator over the first model's stream that got going.

    ``provenance`` is set once the first item arrived. Errors before that fall back to the next
    model; an error after it is recorded against the model and raised.
    """

    def __init__(
        self,
        start: Callable[[], Awaitable[ChainCall]],
        func: Callable[..., AsyncIterator[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self._start = start
        self._func = func
        self._args = args
        self._kwargs = kwargs
        self.provenance: Provenance | None = None

    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._run()

    async def _open(
        self, walk: ChainCall, model: ModelConfig
    ) -> tuple[AsyncIterator[T], T, CircuitBreaker, str]:
        breaker, request_id = await walk.admit(model)
        stream = self._func(model, *self._args, **self._kwargs)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            await breaker.record_failure(
                err := LLMUnavailableError(
                    "the stream ended before any answer", provider=model.provider, model=model.name
                )
            )
            await walk.release(model, request_id)
            raise err from None
        except Exception as exc:
            await breaker.record_failure(exc)
            await walk.release(model, request_id)
            await aclose_stream(stream)
            raise
        except BaseException:
            await breaker.release()
            await walk.release(model, request_id)
            await aclose_stream(stream)
            raise
        return stream, first, breaker, request_id

    async def _run(self) -> AsyncGenerator[T, None]:
        walk = await self._start()
        for model in walk.order:

            def open_stream(
                m: ModelConfig = model,
            ) -> Awaitable[tuple[AsyncIterator[T], T, CircuitBreaker, str]]:
                return self._open(walk, m)

            try:
                stream, first, breaker, request_id = await walk.retrying(model, open_stream)
            except Exception as exc:  # noqa: BLE001 - classified; non-LiteAgent errors re-raised
                await walk.failed(model, exc)
                continue
            self.provenance = walk.answered_by(model)
            async with aclosing(_drive(walk, model, stream, first, breaker, request_id)) as items:
                async for item in items:
                    yield item
            return
        raise walk.exhausted()


async def _drive(
    walk: ChainCall,
    model: ModelConfig,
    stream: AsyncIterator[T],
    first: T,
    breaker: CircuitBreaker,
    request_id: str,
) -> AsyncGenerator[T, None]:
    """Yield an opened stream to its end, settling the breaker and the rate-limit slot."""
    settled = False
    try:
        yield first
        async for item in stream:
            yield item
    except Exception as exc:
        settled = True
        await breaker.record_failure(exc)
        await walk.broke(model, exc)
        raise
    finally:
        if not settled:
            # Finished, or the consumer went away after the upstream had answered: either way
            # the upstream worked.
            await breaker.record_success()
            await walk.record_success(model)
        await walk.release(model, request_id)
        await aclose_stream(stream)
