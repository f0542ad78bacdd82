"""Ollama through its native API: ``POST /api/chat`` (JSON or NDJSON stream), ``GET /api/tags``.

Messages keep OpenAI's shape with two differences the translation handles: tool-call
arguments are JSON objects (not strings), and a tool result names its tool (``tool_name``)
instead of a call id. Ollama assigns no tool-call ids, so ``call_<n>`` ones are made up.
``temperature`` and ``max_tokens`` go in ``options`` (``num_predict``); usage comes from
``prompt_eval_count`` and ``eval_count``; ``message.thinking`` is the reasoning.

``OLLAMA_BASE_URL`` (default ``http://localhost:11434``) locates the server; an API key, when
given, is sent as a bearer token (for an Ollama behind an authenticating proxy).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from liteagent.errors import LLMProviderError
from liteagent.llm.base import ChatOptions, LLMChunk, LLMMessage, LLMResponse, LLMToolCall, Usage
from liteagent.llm.http_errors import error_for_status, malformed_error
from liteagent.llm.remote import RemoteLLMProvider, StreamProgress

__all__ = ["OllamaProvider", "to_ollama_messages"]


def to_ollama_messages(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    """OpenAI-shaped messages in Ollama's ``/api/chat`` shape."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        msg: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.tool_calls:
            calls = []
            for call in m.tool_calls:
                names[call.id] = call.name
                try:
                    arguments: Any = call.parsed_arguments()
                except ValueError:
                    arguments = {}
                calls.append({"function": {"name": call.name, "arguments": arguments}})
            msg["tool_calls"] = calls
        if m.role == "tool":
            name = m.name or names.get(m.tool_call_id or "")
            if name:
                msg["tool_name"] = name
        out.append(msg)
    return out


def _calls(message: Mapping[str, Any], start: int = 0) -> list[LLMToolCall]:
    calls = []
    for i, tc in enumerate(message.get("tool_calls") or [], start=start):
        fn = tc.get("function") or {}
        arguments = fn.get("arguments")
        calls.append(
            LLMToolCall(
                id=str(tc.get("id") or f"call_{i}"),
                name=str(fn.get("name") or ""),
                arguments=arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
            )
        )
    return calls


def _error_detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return response.text[:300]


class OllamaProvider(RemoteLLMProvider):
    """A model served by Ollama.

    Args:
        api_key: Optional bearer token (Ollama itself needs none).
        model_name: e.g. ``llama3.2`` or ``qwen2.5:7b``.
        base_url: Server root (``OLLAMA_BASE_URL``).
        headers: Extra headers for every request.
        timeout: Seconds before a request times out.
        keep_alive: How long Ollama keeps the model loaded after a request (e.g. ``"5m"``).
    """

    provider_name = "ollama"
    base_url_setting = "ollama_base_url"
    DEFAULT_MODELS: ClassVar[list[str]] = [
        "llama3.2",
        "llama3.1",
        "mistral",
        "codellama",
        "phi3",
        "qwen2",
    ]
    MODELS = DEFAULT_MODELS
    broken_stream_errors = (httpx.RemoteProtocolError, httpx.ReadError)

    def __init__(
        self,
        api_key: str | None = None,
        model_name: str = "llama3.2",
        base_url: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        keep_alive: str | None = None,
    ) -> None:
        super().__init__(api_key, model_name, base_url or "http://localhost:11434")
        self.keep_alive = keep_alive
        all_headers = dict(headers or {})
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            base_url=str(self.base_url).rstrip("/"),
            headers=all_headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    # ----------------------------------------------------------------- helpers
    def _request(
        self, messages: list[LLMMessage], options: ChatOptions, *, stream: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": to_ollama_messages(messages),
            "stream": stream,
        }
        gen = options.sampling(max_tokens="num_predict")
        if gen:
            body["options"] = gen
        if options.tools:
            body["tools"] = [dict(t) for t in options.tools]
        if options.response_format is not None:
            body["format"] = _ollama_format(options.response_format)
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        return body

    def _response_error(self, response: httpx.Response) -> LLMProviderError:
        return error_for_status(
            response.status_code,
            _error_detail(response),
            provider=self.provider_name,
            model=self.model_name,
            headers=response.headers,
        )

    # ----------------------------------------------------------------- API
    async def list_local_models(self) -> list[str]:
        """Names of the models pulled on the server (``GET /api/tags``)."""
        try:
            response = await self._client.get("/api/tags")
            if response.status_code >= 400:
                raise self._response_error(response)
            data = response.json()
            return [str(m.get("name") or m.get("model")) for m in data.get("models") or []]
        except Exception as exc:  # noqa: BLE001 - mapped to the LiteAgent error family
            raise self._map_error(exc) from None

    async def _complete(self, request: dict[str, Any]) -> LLMResponse:
        response = await self._client.post("/api/chat", json=request)
        if response.status_code >= 400:
            raise self._response_error(response)
        data = response.json()
        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, dict):
            raise malformed_error(self.provider_name, self.model_name)
        calls = _calls(message)
        reasoning = message.get("thinking")
        return LLMResponse(
            content=str(message.get("content") or ""),
            model=str(data.get("model") or self.model_name),
            usage=_usage(data),
            tool_calls=tuple(calls),
            finish_reason="tool_calls" if calls else _finish(data.get("done_reason")),
            reasoning=reasoning if isinstance(reasoning, str) and reasoning else None,
            provider=self.provider_name,
        )

    async def _stream(
        self, request: dict[str, Any], progress: StreamProgress
    ) -> AsyncIterator[LLMChunk]:
        calls: list[LLMToolCall] = []
        async with self._client.stream("POST", "/api/chat", json=request) as response:
            if response.status_code >= 400:
                await response.aread()
                raise self._response_error(response)
            progress.opened = True
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not an object")
                if data.get("error"):
                    raise error_for_status(
                        500, str(data["error"]), provider=self.provider_name, model=self.model_name
                    )
                message = data.get("message") or {}
                calls.extend(_calls(message, start=len(calls)))
                if message.get("thinking"):
                    yield LLMChunk(reasoning=str(message["thinking"]))
                if message.get("content"):
                    yield LLMChunk(content=str(message["content"]))
                if data.get("done"):
                    finish = "tool_calls" if calls else _finish(data.get("done_reason"))
                    progress.finish(
                        LLMChunk(tool_calls=tuple(calls), usage=_usage(data), finish_reason=finish)
                    )
                    break

    async def aclose(self) -> None:
        await self._client.aclose()


def _usage(data: Mapping[str, Any]) -> Usage:
    return Usage(int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0))


def _finish(reason: Any) -> str:
    return {"length": "length", "stop": "stop"}.get(str(reason or "stop"), "stop")


def _ollama_format(response_format: Mapping[str, Any]) -> Any:
    """Ollama's ``format``: ``"json"``, or the JSON schema the answer must match."""
    spec = response_format.get("json_schema")
    if isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
        return dict(spec["schema"])
    return "json"
