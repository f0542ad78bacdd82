"""Every model call is recorded once, whichever provider answers it.

``BaseLLMProvider.__init_subclass__`` passes each provider class through ``meter_provider``,
which wraps the class's own ``chat`` and ``stream``. A wrapped call, when it is the outermost
provider call in progress, adds one ``LLMCall`` (its ``Provenance`` and token usage) to the
innermost ``record_llm_calls`` block (see ``liteagent.llm.provenance``):

- a ``ResilientLLM`` records the model of its chain that answered; the providers it calls
  inside (one per attempt) are not recorded again;
- an in-process provider used directly (the bundled local model, the scripted test models)
  records itself;
- a provider whose ``stream`` calls its own ``chat`` (or a subclass calling ``super()``) counts
  once.

``chat`` is recorded when it returns. A stream is recorded when it ends or is closed, once it
produced a first chunk, with the usage of its chunks and the provenance of its last chunk
(a failed call that produced nothing is not a call the provider charges for).

"Outermost" is tracked with a context variable that is set only while the wrapped method
runs: for a stream, around each step of the inner generator, never across a ``yield``, so the
consumer's own code between two chunks is outside the call.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeGuard

from liteagent.llm.provenance import LLMCall, Provenance, note_llm_call
from liteagent.llm.streams import aclose_stream, iterate_in_context

if TYPE_CHECKING:
    from liteagent.llm.base import (
        BaseLLMProvider,
        ChatOptions,
        LLMChunk,
        LLMResponse,
        MessageLike,
    )

__all__ = ["meter_provider"]

ChatMethod = Callable[
    ["BaseLLMProvider", "Sequence[MessageLike]", "ChatOptions | None"], Awaitable["LLMResponse"]
]
StreamMethod = Callable[
    ["BaseLLMProvider", "Sequence[MessageLike]", "ChatOptions | None"], AsyncIterator["LLMChunk"]
]

_in_call: ContextVar[bool] = ContextVar("liteagent_llm_in_call", default=False)
_METERED = "__liteagent_metered__"


def meter_provider(cls: type[BaseLLMProvider]) -> None:
    """Wrap the ``chat`` and ``stream`` that ``cls`` itself defines (abstract ones excepted)."""
    own = vars(cls)
    chat = own.get("chat")
    if _meterable(chat):
        setattr(cls, "chat", _metered_chat(chat))  # noqa: B010 - replaces the method in place
    stream = own.get("stream")
    if _meterable(stream):
        setattr(cls, "stream", _metered_stream(stream))  # noqa: B010


def _meterable(method: Any) -> TypeGuard[Callable[..., Any]]:
    return (
        callable(method)
        and not getattr(method, "__isabstractmethod__", False)
        and not getattr(method, _METERED, False)
    )


def _own_call(provider: BaseLLMProvider, provenance: Provenance | None) -> Provenance:
    return provenance or Provenance(requested_model=provider.model_id, model=provider.model_id)


def _metered_chat(method: ChatMethod) -> ChatMethod:
    @functools.wraps(method)
    async def chat(
        self: BaseLLMProvider,
        messages: Sequence[MessageLike],
        options: ChatOptions | None = None,
    ) -> LLMResponse:
        if _in_call.get():
            return await method(self, messages, options)
        token = _in_call.set(True)
        try:
            response = await method(self, messages, options)
        finally:
            _in_call.reset(token)
        note_llm_call(
            LLMCall(
                _own_call(self, response.provenance),
                prompt_tokens=response.usage.prompt_tokens,
                completion_tokens=response.usage.completion_tokens,
            )
        )
        return response

    setattr(chat, _METERED, True)
    return chat


def _metered_stream(method: StreamMethod) -> StreamMethod:
    @functools.wraps(method)
    async def stream(
        self: BaseLLMProvider,
        messages: Sequence[MessageLike],
        options: ChatOptions | None = None,
    ) -> AsyncIterator[LLMChunk]:
        chunks = method(self, messages, options)
        if _in_call.get():
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                await aclose_stream(chunks)
            return
        provenance: Provenance | None = None
        prompt_tokens = completion_tokens = 0
        started = False
        steps = iterate_in_context(chunks, _in_call, True)
        try:
            async for chunk in steps:
                started = True
                if chunk.usage is not None:
                    prompt_tokens += chunk.usage.prompt_tokens
                    completion_tokens += chunk.usage.completion_tokens
                if chunk.provenance is not None:
                    provenance = chunk.provenance
                yield chunk
        finally:
            try:
                await steps.aclose()
            finally:
                if started:
                    note_llm_call(
                        LLMCall(
                            _own_call(self, provenance),
                            prompt_tokens=prompt_tokens,
                            completion_tokens=completion_tokens,
                        )
                    )

    setattr(stream, _METERED, True)
    return stream
