"""The model of an ``agno`` entry: Agno's own ``LiteLLM`` model class, with our provider behind.

Agno's ``LiteLLM`` model formats Agno's messages and tools as LiteLLM (OpenAI-shaped) requests
and parses LiteLLM's ``ModelResponse`` / ``ModelResponseStream`` back. It calls
``client.acompletion(**request)``, where the client is normally the ``litellm`` module. Here the
client is ``ProviderCompletionClient``, which answers the same call with the entry's
``liteagent.llm`` provider (``create_llm(spec.model)``): any provider of the catalog — the
bundled offline ``local/smollm2``, OpenAI, Anthropic, Ollama, OpenAI-compatible servers,
fallback chains with retries and circuit breakers, the scripted test models — behind one code
path, recorded for provenance and usage like every other runner's calls.

Why not ``litellm.acompletion`` with a custom provider: inside the proxy that would re-enter
LiteLLM's global custom-provider map (ours is already registered there to serve
``liteagent/*``), and LiteLLM has no provider for the llama.cpp model we bundle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from litellm.types.utils import (
    ChatCompletionDeltaToolCall,
    ChatCompletionMessageToolCall,
    Choices,
    Delta,
    Function,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
)
from litellm.types.utils import Usage as LiteLLMUsage

from liteagent.agents.twelve_factor_agent import label_tool_results
from liteagent.llm import BaseLLMProvider, ChatOptions
from liteagent.llm.base import LLMChunk, LLMToolCall, Usage
from liteagent.proxy.chunks import delta_tool_calls

_TOOL_FUNCTION_KEYS = ("name", "description", "parameters", "strict")


def clean_tools(tools: Sequence[Mapping[str, Any]] | None) -> tuple[dict[str, Any], ...]:
    """OpenAI tool definitions without Agno's private keys (``requires_confirmation``…)."""
    out = []
    for tool in tools or ():
        function = tool.get("function") or {}
        out.append(
            {
                "type": "function",
                "function": {k: function[k] for k in _TOOL_FUNCTION_KEYS if k in function},
            }
        )
    return tuple(out)


def _usage(usage: Usage | None) -> LiteLLMUsage | None:
    if usage is None:
        return None
    return LiteLLMUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def _delta_tool_calls(calls: Sequence[LLMToolCall]) -> list[ChatCompletionDeltaToolCall] | None:
    return delta_tool_calls(calls) if calls else None


REQUEST_OPTIONS: ContextVar[ChatOptions | None] = ContextVar("agno_request_options", default=None)
"""The request's own ``top_p`` and ``stop`` while an Agno run of it calls the model (the Agno
agent and its model are built once per user and shared by that user's requests)."""


class ProviderCompletionClient:
    """Answers LiteLLM-style ``acompletion`` calls with a ``liteagent.llm`` provider.

    Args:
        provider: The entry's provider (``create_llm``).
    """

    def __init__(self, provider: BaseLLMProvider) -> None:
        self.provider = provider

    def _options(self, kwargs: Mapping[str, Any]) -> ChatOptions:
        tools = clean_tools(kwargs.get("tools"))
        request = REQUEST_OPTIONS.get()
        return ChatOptions(
            temperature=kwargs.get("temperature"),
            max_tokens=kwargs.get("max_tokens"),
            tools=tools,
            tool_choice=kwargs.get("tool_choice") if tools else None,
            top_p=request.top_p if request else None,
            stop=request.stop if request else (),
        )

    async def acompletion(
        self, **kwargs: Any
    ) -> ModelResponse | AsyncIterator[ModelResponseStream]:
        """The ``litellm.acompletion`` call Agno's ``LiteLLM`` model makes."""
        # a toolkit's result (a Jira issue, a Drive file) reaches the model labelled as untrusted
        # data when an input check flags it
        messages = label_tool_results(kwargs.get("messages") or [])
        options = self._options(kwargs)
        if kwargs.get("stream"):
            return self._stream(messages, options)
        response = await self.provider.chat(messages, options)
        calls = [
            ChatCompletionMessageToolCall(
                id=c.id, type="function", function=Function(name=c.name, arguments=c.arguments)
            )
            for c in response.tool_calls
        ]
        message = Message(
            content=response.content or None,
            role="assistant",
            tool_calls=calls or None,
            reasoning_content=response.reasoning,
        )
        return ModelResponse(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=response.model,
            choices=[Choices(index=0, message=message, finish_reason=response.finish_reason)],
            usage=_usage(response.usage),
        )

    def completion(self, **kwargs: Any) -> Any:
        """Synchronous Agno runs are not used: the proxy drives ``Agent.arun``."""
        raise NotImplementedError(
            "LiteAgent's Agno model is asynchronous: call Agent.arun, not Agent.run."
        )

    async def _stream(
        self, messages: list[Any], options: ChatOptions
    ) -> AsyncIterator[ModelResponseStream]:
        response_id = f"chatcmpl-{uuid.uuid4().hex}"
        chunk: LLMChunk
        async for chunk in self.provider.stream(messages, options):
            delta = Delta(
                content=chunk.content or None,
                reasoning_content=chunk.reasoning or None,
                tool_calls=_delta_tool_calls(chunk.tool_calls),
            )
            yield ModelResponseStream(
                id=response_id,
                created=int(time.time()),
                model=self.provider.model_id,
                choices=[StreamingChoices(index=0, delta=delta, finish_reason=chunk.finish_reason)],
                usage=_usage(chunk.usage),
            )


def agno_model(
    provider: BaseLLMProvider, *, temperature: float | None, max_tokens: int | None
) -> Any:
    """Agno's ``LiteLLM`` model answering through ``provider``."""
    from agno.models.litellm import LiteLLM

    params: dict[str, Any] = {
        "id": provider.model_id,
        "client": ProviderCompletionClient(provider),
        "max_tokens": max_tokens,
    }
    if temperature is not None:
        params["temperature"] = temperature
    return LiteLLM(**params)
