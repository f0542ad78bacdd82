"""OpenAI chat completions through the official ``openai`` SDK.

Honours ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``; any server that speaks OpenAI's wire format
works. SDK errors are mapped to LiteAgent's ``LLMProviderError`` family with the provider named
and credentials redacted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import openai

from liteagent.errors import LLMProviderError, LLMUnavailableError
from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMResponse,
    LLMToolCall,
    MessageLike,
    Usage,
    as_messages,
)
from liteagent.llm.http_clients import new_openai_http_client, shared_openai_http_client
from liteagent.llm.http_errors import (
    broken_stream_error,
    connection_error,
    error_for_status,
    malformed_error,
    stream_failure,
    timeout_error,
)

if TYPE_CHECKING:
    from liteagent.config import Settings


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return exc.message or type(exc).__name__


def map_openai_error(exc: Exception, provider: str, model: str) -> LLMProviderError:
    """Translate an ``openai`` SDK (or transport) exception into LiteAgent's error family."""
    if isinstance(exc, LLMProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return timeout_error(provider, model)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        if isinstance(exc.__cause__, httpx.RemoteProtocolError) or isinstance(
            exc, httpx.RemoteProtocolError
        ):
            return broken_stream_error(provider, model)
        return connection_error(provider, model)
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
    if isinstance(exc, ValueError):  # json.JSONDecodeError and friends
        return malformed_error(provider, model)
    return LLMProviderError(
        f"unexpected response ({type(exc).__name__})", provider=provider, model=model
    )


class OpenAIProvider(BaseLLMProvider):
    """OpenAI (or any OpenAI-compatible server via ``base_url``)."""

    provider_name = "openai"
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

    @classmethod
    def from_settings(cls, model_name: str, settings: Settings, **params: Any) -> OpenAIProvider:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(
            api_key=params.pop("api_key", None) or key,
            model_name=model_name,
            base_url=params.pop("base_url", None) or settings.openai_base_url,
            timeout=params.pop("timeout", settings.llm_timeout),
            **params,
        )

    def _request(
        self, messages: Sequence[MessageLike], options: ChatOptions | None
    ) -> dict[str, Any]:
        opts = options or ChatOptions()
        req: dict[str, Any] = {
            "model": self.model_name,
            "messages": [m.to_openai() for m in as_messages(messages)],
        }
        if opts.temperature is not None:
            req["temperature"] = opts.temperature
        if opts.max_tokens is not None:
            req["max_tokens"] = opts.max_tokens
        if opts.top_p is not None:
            req["top_p"] = opts.top_p
        if opts.stop:
            req["stop"] = list(opts.stop)
        if opts.response_format is not None:
            req["response_format"] = dict(opts.response_format)
        if opts.tools:
            req["tools"] = [dict(t) for t in opts.tools]
            if opts.tool_choice is not None:
                req["tool_choice"] = opts.tool_choice
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

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        try:
            resp = await self._create(self._request(messages, options), stream=False)
        except Exception as exc:  # noqa: BLE001 - mapped to the LiteAgent error family
            raise map_openai_error(exc, self.provider_name, self.model_name) from None
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

    async def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        req = self._request(messages, options)
        req["stream"] = True
        req["stream_options"] = {"include_usage": True}
        partial: dict[int, dict[str, str]] = {}
        usage: Usage | None = None
        finish: str | None = None
        opened = False
        try:
            stream = await self._create(req, stream=True)
            opened = True
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
        except Exception as exc:  # noqa: BLE001 - mapped to the LiteAgent error family
            error = map_openai_error(exc, self.provider_name, self.model_name)
            raise stream_failure(error, opened=opened) from None
        if finish is None:
            raise broken_stream_error(self.provider_name, self.model_name)
        calls = tuple(
            LLMToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"] or "{}")
            for i, s in sorted(partial.items())
        )
        yield LLMChunk(tool_calls=calls, usage=usage or Usage(), finish_reason=finish)

    async def aclose(self) -> None:
        if self._owns_http_client:  # the event loop's shared client stays open
            await self._client.close()
