"""Anthropic's Messages API through the official ``anthropic`` SDK.

Translation both ways:

- system messages become the ``system`` parameter (joined by blank lines);
- an assistant turn with tool calls becomes ``text`` + ``tool_use`` blocks, and OpenAI ``tool``
  messages become ``tool_result`` blocks of the next user turn (consecutive turns of one role
  are merged, as the API wants strictly alternating roles);
- OpenAI function tools become ``{name, description, input_schema}``; ``tool_choice`` ``auto`` /
  ``required`` / ``none`` / a named function map to ``auto`` / ``any`` / ``none`` / ``tool``;
- answers: ``text`` blocks are the content, ``tool_use`` blocks the tool calls, ``thinking``
  blocks the reasoning; ``end_turn`` / ``max_tokens`` / ``tool_use`` are the finish reasons
  ``stop`` / ``length`` / ``tool_calls``. Streams are read from the raw events.

Input tokens include cache reads and writes. ``max_tokens`` is required by the API: requests
without one use ``default_max_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import anthropic

from liteagent.errors import ConfigurationError, LLMProviderError
from liteagent.llm.base import ChatOptions, LLMChunk, LLMMessage, LLMResponse, LLMToolCall, Usage
from liteagent.llm.http_clients import new_anthropic_http_client, shared_anthropic_http_client
from liteagent.llm.http_errors import error_for_status, malformed_error
from liteagent.llm.remote import RemoteLLMProvider, StreamProgress

__all__ = ["AnthropicProvider", "to_anthropic_messages", "to_anthropic_tools"]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
# Error types Anthropic sends inside a stream (the HTTP status was already 200).
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _tool_input(call: LLMToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {"_raw_arguments": call.arguments}


def to_anthropic_messages(
    messages: Sequence[LLMMessage],
) -> tuple[str | None, list[dict[str, Any]]]:
    """OpenAI-shaped messages as (system prompt, Anthropic messages)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            if m.content:
                system.append(m.content)
            continue
        blocks: list[dict[str, Any]] = []
        role = "assistant" if m.role == "assistant" else "user"
        if m.role == "tool":
            blocks.append(
                {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
            )
        else:
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            for call in m.tool_calls:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": _tool_input(call),
                    }
                )
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return ("\n\n".join(system) or None), out


def to_anthropic_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function tools as Anthropic tool definitions."""
    out = []
    for tool in tools:
        fn = tool.get("function", tool)
        out.append(
            {
                "name": fn["name"],
                "description": fn.get("description") or "",
                "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    return out


def _tool_choice(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(choice, str):
        return {"type": {"required": "any", "none": "none"}.get(choice, "auto")}
    name = (choice.get("function") or {}).get("name") or choice.get("name")
    return {"type": "tool", "name": name} if name else {"type": "auto"}


def _usage(u: Any) -> Usage:
    prompt = (
        (getattr(u, "input_tokens", 0) or 0)
        + (getattr(u, "cache_creation_input_tokens", 0) or 0)
        + (getattr(u, "cache_read_input_tokens", 0) or 0)
    )
    return Usage(prompt, getattr(u, "output_tokens", 0) or 0)


class AnthropicProvider(RemoteLLMProvider):
    """Claude models through the Messages API.

    Args:
        api_key: The Anthropic API key (``ANTHROPIC_API_KEY``).
        model_name: e.g. ``claude-sonnet-4-5-20250929``.
        base_url: API root (``ANTHROPIC_BASE_URL``; default Anthropic's).
        headers: Extra headers for every request.
        timeout: Seconds before a request times out.
        default_max_tokens: ``max_tokens`` for requests that set none.
    """

    provider_name = "anthropic"
    api_key_setting = "anthropic_api_key"
    base_url_setting = "anthropic_base_url"
    MODELS: ClassVar[list[str]] = [
        "claude-opus-4-5-20251101",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
    ]
    timeout_errors = (anthropic.APITimeoutError,)
    transport_errors = (anthropic.APIConnectionError,)

    def __init__(
        self,
        api_key: str | None = None,
        model_name: str = "claude-sonnet-4-5-20250929",
        base_url: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        default_max_tokens: int = 4096,
    ) -> None:
        if not api_key:
            raise ConfigurationError(
                "Anthropic needs an API key: set ANTHROPIC_API_KEY or `api_key` in the "
                "catalog's providers section."
            )
        super().__init__(api_key, model_name, base_url)
        self.default_max_tokens = default_max_tokens
        shared = shared_anthropic_http_client()
        self._owns_http_client = shared is None
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            http_client=shared or new_anthropic_http_client(),
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            default_headers=dict(headers) if headers else None,
        )

    def _request(
        self, messages: list[LLMMessage], options: ChatOptions, *, stream: bool = False
    ) -> dict[str, Any]:
        system, msgs = to_anthropic_messages(messages)
        req: dict[str, Any] = {
            "model": self.model_name,
            "messages": msgs,
            **options.sampling(stop="stop_sequences"),
            "max_tokens": options.max_tokens or self.default_max_tokens,  # required by the API
        }
        if system:
            req["system"] = system
        if options.temperature is not None:
            req["temperature"] = min(options.temperature, 1.0)  # Anthropic's range is 0-1
        if options.tools:
            req["tools"] = to_anthropic_tools(options.tools)
            if options.tool_choice is not None:
                req["tool_choice"] = _tool_choice(options.tool_choice)
        return req

    def _status_error(self, exc: Exception) -> LLMProviderError | None:
        if not isinstance(exc, anthropic.APIStatusError):
            return None
        body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
        inner = body.get("error")
        err: dict[str, Any] = inner if isinstance(inner, dict) else body
        kind = str(err.get("type") or "")
        detail = str(err.get("message") or exc.message)
        status = exc.status_code
        if status < 400:  # an error event inside a stream
            status = _ERROR_TYPE_STATUS.get(kind, 500)
        return error_for_status(
            status,
            detail,
            provider=self.provider_name,
            model=self.model_name,
            headers=exc.response.headers if exc.response is not None else None,
            code=kind,
        )

    async def _complete(self, request: dict[str, Any]) -> LLMResponse:
        resp = await self._client.messages.create(**request)
        if not isinstance(getattr(resp, "content", None), list):
            raise malformed_error(self.provider_name, self.model_name)
        text: list[str] = []
        thinking: list[str] = []
        calls: list[LLMToolCall] = []
        for block in resp.content:
            if block.type == "text":
                text.append(block.text)
            elif block.type == "thinking":
                thinking.append(block.thinking)
            elif block.type == "tool_use":
                calls.append(LLMToolCall(block.id, block.name, json.dumps(block.input)))
        return LLMResponse(
            content="".join(text),
            model=resp.model or self.model_name,
            usage=_usage(resp.usage),
            tool_calls=tuple(calls),
            finish_reason=_FINISH.get(resp.stop_reason or "", "stop"),
            reasoning="".join(thinking) or None,
            provider=self.provider_name,
        )

    async def _stream(
        self, request: dict[str, Any], progress: StreamProgress
    ) -> AsyncIterator[LLMChunk]:
        tools: dict[int, dict[str, str]] = {}
        prompt_tokens = completion_tokens = 0
        stop_reason: str | None = None
        events = await self._client.messages.create(**request, stream=True)
        progress.opened = True
        async for event in events:
            kind = event.type
            if kind == "message_start":
                usage = _usage(event.message.usage)
                prompt_tokens, completion_tokens = usage.prompt_tokens, usage.completion_tokens
            elif kind == "content_block_start":
                block = event.content_block
                if block.type == "tool_use":
                    tools[event.index] = {"id": block.id, "name": block.name, "json": ""}
                elif block.type == "text" and block.text:
                    yield LLMChunk(content=block.text)
            elif kind == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    yield LLMChunk(content=delta.text)
                elif delta.type == "thinking_delta":
                    yield LLMChunk(reasoning=delta.thinking)
                elif delta.type == "input_json_delta" and event.index in tools:
                    tools[event.index]["json"] += delta.partial_json
            elif kind == "message_delta":
                stop_reason = event.delta.stop_reason or stop_reason
                completion_tokens = event.usage.output_tokens or completion_tokens
                if getattr(event.usage, "input_tokens", None):
                    prompt_tokens = _usage(event.usage).prompt_tokens
            elif kind == "message_stop":
                calls = tuple(
                    LLMToolCall(t["id"], t["name"], t["json"] or "{}")
                    for _, t in sorted(tools.items())
                )
                progress.finish(
                    LLMChunk(
                        tool_calls=calls,
                        usage=Usage(prompt_tokens, completion_tokens),
                        finish_reason=_FINISH.get(stop_reason or "", "stop"),
                    )
                )

    async def aclose(self) -> None:
        if self._owns_http_client:  # the event loop's shared client stays open
            await self._client.close()
