"""Providers that call a model server: one way to guard a call, a stream and their failures.

``RemoteLLMProvider`` implements ``chat`` and ``stream`` once for the providers that talk to a
server (OpenAI and compatible servers, Anthropic, Ollama). A subclass says how to build its
request, how to send it and read the answer (``_complete``, ``_stream``) and, when its client
library has exceptions of its own, how they read (``_map_error``). The base turns every failure
into the ``LLMProviderError`` family and classifies a failed stream by what had happened (see
``http_errors.stream_failure``): a stream the server had started answering that then stops,
by an exception or by ending before its last event, is a broken stream, never "could not
connect".
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx

from liteagent.errors import LLMProviderError
from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMMessage,
    LLMResponse,
    MessageLike,
    as_messages,
)
from liteagent.llm.http_errors import broken_stream_error, map_upstream_error, stream_failure

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = ["RemoteLLMProvider", "StreamProgress"]


class StreamProgress:
    """How far a stream got: whether the server started answering, and its closing chunk.

    A provider's ``_stream`` sets ``opened`` once the server's answer arrives and calls
    ``finish`` with the chunk that carries the tool calls, usage and finish reason when the
    server said the answer was complete.
    """

    __slots__ = ("last", "opened")

    def __init__(self) -> None:
        self.opened = False
        self.last: LLMChunk | None = None

    def finish(self, chunk: LLMChunk) -> None:
        """Record the stream's closing chunk (the base yields it last)."""
        self.last = chunk


class RemoteLLMProvider(BaseLLMProvider):
    """A provider behind a network call: subclasses translate, the base guards.

    A client library's own exceptions are named in class attributes (httpx's are always
    recognised) and its error statuses read by ``_status_error``. ``from_settings`` reads the
    ``Settings`` fields named by ``api_key_setting`` and ``base_url_setting``.
    """

    api_key_setting: ClassVar[str | None] = None
    base_url_setting: ClassVar[str | None] = None

    timeout_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    transport_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    broken_stream_errors: ClassVar[tuple[type[BaseException], ...]] = (httpx.RemoteProtocolError,)

    @classmethod
    def from_settings(cls, model_name: str, settings: Settings, **params: Any) -> Self:
        """The provider for ``model_name``; ``params`` (a catalog's) win over ``settings``."""
        key = getattr(settings, cls.api_key_setting) if cls.api_key_setting else None
        base_url = getattr(settings, cls.base_url_setting) if cls.base_url_setting else None
        params["api_key"] = params.get("api_key") or (
            key.get_secret_value() if key is not None else None
        )
        params["base_url"] = params.get("base_url") or base_url
        params["timeout"] = params.get("timeout") or settings.llm_timeout
        return cls(model_name=model_name, **params)

    @abstractmethod
    def _request(
        self, messages: list[LLMMessage], options: ChatOptions, *, stream: bool = False
    ) -> dict[str, Any]:
        """The server's request for these messages (built before any failure is mapped)."""

    @abstractmethod
    async def _complete(self, request: dict[str, Any]) -> LLMResponse:
        """Send ``request`` and read the whole answer."""

    @abstractmethod
    def _stream(self, request: dict[str, Any], progress: StreamProgress) -> AsyncIterator[LLMChunk]:
        """Send ``request`` and yield the answer's pieces, reporting to ``progress``."""

    def _status_error(self, exc: Exception) -> LLMProviderError | None:
        """The error for the client library's error-status exception (``None``: not one)."""
        return None

    def _map_error(self, exc: Exception) -> LLMProviderError:
        """The LiteAgent error for any failure of a call to the server."""
        return map_upstream_error(
            exc,
            provider=self.provider_name,
            model=self.model_name,
            timeouts=self.timeout_errors,
            transport_errors=self.transport_errors,
            broken=self.broken_stream_errors,
            status_error=self._status_error,
        )

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        request = self._request(as_messages(messages), options or ChatOptions(), stream=False)
        try:
            return await self._complete(request)
        except Exception as exc:  # noqa: BLE001 - mapped to the LiteAgent error family
            raise self._map_error(exc) from None

    async def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        request = self._request(as_messages(messages), options or ChatOptions(), stream=True)
        progress = StreamProgress()
        try:
            async for chunk in self._stream(request, progress):
                yield chunk
        except Exception as exc:  # noqa: BLE001 - mapped to the LiteAgent error family
            raise stream_failure(self._map_error(exc), opened=progress.opened) from None
        if progress.last is None:
            raise broken_stream_error(self.provider_name, self.model_name)
        yield progress.last
