"""OpenAI chat completions through the official ``openai`` SDK.

Honours ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``; any server that speaks OpenAI's wire format
works. SDK errors are mapped to LiteAgent's ``LLMProviderError`` family with the provider named
and credentials redacted.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import httpx
import openai

from liteagent.errors import LLMProviderError, LLMUnavailableError
from liteagent.llm.base import ChatOptions, LLMChunk, LLMMessage, LLMResponse, LLMToolCall, Usage
from liteagent.llm.http_clients import new_openai_http_client, shared_openai_http_client
from liteagent.llm.http_errors import error_for_status, map_upstream_error
from liteagent.llm.remote import RemoteLLMProvider, StreamProgress


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return exc.message or type(exc).__name__


def _transport_modules() -> tuple[Any, ...]:
    """``httpx``, and ``httpx2`` when installed: recent ``openai`` SDKs speak through the latter
    and let its exceptions out of a broken stream unwrapped."""
    try:
        import httpx2
    except ImportError:  # an SDK that still uses httpx
        return (httpx,)
    return (httpx, httpx2)


_TRANSPORTS = _transport_modules()
_TIMEOUT_ERRORS = (openai.APITimeoutError, *(m.TimeoutException for m in _TRANSPORTS))
_TRANSPORT_ERRORS = (openai.APIConnectionError, *(m.TransportError for m in _TRANSPORTS))
_PROTOCOL_ERRORS = tuple(m.RemoteProtocolError for m in _TRANSPORTS)


def _status_error(exc: Exception, provider: str, model: str) -> LLMProviderError | None:
    if isinstance(exc, openai.APIStatusError):
        return error_for_status(
            exc.status_code,
            _upstream_message(exc),
            provider=provider,
            model=model,
            headers=exc.response.headers if exc.response is not None else None,
            code=str(exc.code or ""),
        )
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return LLMUnavailableError(
            f"the server reported an error: {exc.message}", provider=provider, model=model
        )
    return None


def map_openai_error(exc: Exception, provider: str, model: str) -> LLMProviderError:
    """Translate an ``openai`` SDK (or transport) exception into LiteAgent's error family."""
    return map_upstream_error(
        exc,
        provider=provider,
        model=model,
        timeouts=_TIMEOUT_ERRORS,
        transport_errors=_TRANSPORT_ERRORS,
        broken=_PROTOCOL_ERRORS,
        status_error=functools.partial(_status_error, provider=provider, model=model),
    )


class OpenAIProvider(RemoteLLMProvider):
    """OpenAI (or any OpenAI-compatible server via ``base_url``)."""

    provider_name = "openai"
    api_key_setting = "openai_api_key"
    base_url_setting = "openai_base_url"
    MODELS: ClassVar[list[str]] = [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "o3-mini",
        "o4-mini",
    ]

    def __init__(
        self,
        api_key: str | None = None,
        model_name: str = "gpt-4o-mini",
        base_url: str | None = None,
        *,
        timeout: float = 120.0,
        max_retries: int = 0,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(api_key, model_name, base_url)
        # Without a key no Authorization header is sent (servers without auth, or the key sent
        # in another header by OpenAICompatibleProvider); the SDK insists on a key string.
        self._extra_headers: dict[str, Any] = {} if api_key else {"Authorization": openai.Omit()}
        shared = shared_openai_http_client()
        self._owns_http_client = shared is None
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "no-key",
            http_client=shared or new_openai_http_client(),
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=dict(headers) if headers else None,
            default_query=dict(query) if query else None,
        )

    def _request(
        self, messages: list[LLMMessage], options: ChatOptions, *, stream: bool = False
    ) -> dict[str, Any]:
        req: dict[str, Any] = {
            "model": self.model_name,
            "messages": [m.to_openai() for m in messages],
        }
        if stream:
            req["stream_options"] = {"include_usage": True}
        req.update(options.sampling())
        if options.response_format is not None:
            req["response_format"] = dict(options.response_format)
        if options.tools:
            req["tools"] = [dict(t) for t in options.tools]
            if options.tool_choice is not None:
                req["tool_choice"] = options.tool_choice
        return req

    async def _create(self, body: dict[str, Any], *, stream: bool) -> Any:
        """``chat.completions.create`` without the SDK's request transform.

        ``_request`` already builds plain JSON, so the SDK's walk over its request types (the
        largest part of a call's CPU time in the proxy) has nothing to do; the body is posted
        with the client's public ``post``, and the response is parsed (or streamed) and errors
        raised by the SDK as ``create`` would.
        """
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        options: Any = {"headers": self._extra_headers} if self._extra_headers else {}
        return await self._client.post(
            "/chat/completions",
            body=body,
            cast_to=ChatCompletion,
            options=options,
            stream=stream,
            stream_cls=openai.AsyncStream[ChatCompletionChunk],
        )

    def _map_error(self, exc: Exception) -> LLMProviderError:
        return map_openai_error(exc, self.provider_name, self.model_name)

    async def _complete(self, request: dict[str, Any]) -> LLMResponse:
        resp = await self._create(request, stream=False)
        if not resp.choices:
            raise LLMProviderError(
                "the response had no choices", provider=self.provider_name, model=self.model_name
            )
        choice = resp.choices[0]
        msg = choice.message
        calls = tuple(
            LLMToolCall(id=tc.id, name=tc.function.name, arguments=tc.function.arguments or "{}")
            for tc in (msg.tool_calls or [])
            if tc.type == "function"
        )
        usage = (
            Usage(resp.usage.prompt_tokens, resp.usage.completion_tokens) if resp.usage else Usage()
        )
        reasoning = getattr(msg, "reasoning_content", None)
        return LLMResponse(
            content=msg.content or "",
            model=resp.model or self.model_name,
            usage=usage,
            tool_calls=calls,
            finish_reason=choice.finish_reason or "stop",
            reasoning=reasoning if isinstance(reasoning, str) else None,
            provider=self.provider_name,
        )

    async def _stream(
        self, request: dict[str, Any], progress: StreamProgress
    ) -> AsyncIterator[LLMChunk]:
        partial: dict[int, dict[str, str]] = {}
        usage: Usage | None = None
        finish: str | None = None
        stream = await self._create({**request, "stream": True}, stream=True)
        progress.opened = True
        async for event in stream:
            if event.usage is not None:
                usage = Usage(event.usage.prompt_tokens, event.usage.completion_tokens)
            for choice in event.choices:
                delta = choice.delta
                if choice.finish_reason:
                    finish = choice.finish_reason
                for tc in delta.tool_calls or []:
                    slot = partial.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    if tc.id:
                        slot["id"] = tc.id
                    if tc.function is not None:
                        slot["name"] += tc.function.name or ""
                        slot["arguments"] += tc.function.arguments or ""
                reasoning = getattr(delta, "reasoning_content", None)
                if isinstance(reasoning, str) and reasoning:
                    yield LLMChunk(reasoning=reasoning)
                if delta.content:
                    yield LLMChunk(content=delta.content)
        if finish is not None:
            calls = tuple(
                LLMToolCall(
                    id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"] or "{}"
                )
                for i, s in sorted(partial.items())
            )
            progress.finish(
                LLMChunk(tool_calls=calls, usage=usage or Usage(), finish_reason=finish)
            )

    async def aclose(self) -> None:
        if self._owns_http_client:  # the event loop's shared client stays open
            await self._client.close()
