"""``ProviderLLMClient``: any ``liteagent.llm`` provider as the agent's ``LLMClient``.

It turns the agent's OpenAI-style call into ``provider.chat`` / ``provider.stream`` and the
answer back into the OpenAI dict (``LLMResponse.to_openai()``). With ``on_event`` set it streams,
handing text and reasoning deltas and each call's usage to the caller as they arrive (the proxy
uses this to stream the agent's answer while the reducer stays pure). With ``stream=False`` (a
client that asked for one answer, not a stream) each call is one ``provider.chat`` and its text
and usage are reported when it returns: nothing streams from the model through the fallback
and retry wrappers only to be joined again.

Models differ in how they take tools. A ``ToolCallingProfile`` says what a provider does well:

- ``native_auto``: the model picks tools itself when offered (``tool_choice="auto"``). For the
  bundled llama.cpp model this is off: llama-cpp-python's ``chatml-function-calling`` handler, in
  auto mode, constrains even a plain answer to the grammar ``"functions.<name>:" | "<|im_end|>"``
  (so text answers come back empty) and keeps generating further calls without a token limit.
  With the profile off, tools are offered only when the agent forces one (``tool_choice`` naming
  a function: the handler then generates the arguments under a grammar built from the tool's
  JSON schema, which is reliable even for a 135M model), and every other call is a plain chat.
- ``tool_role``: the chat template renders ``tool`` messages. The ``chatml-function-calling``
  template drops them, so for the local model results are sent as user messages
  (``[result of <tool>]``) or the model would never see them.

Whatever the profile, an answer with neither text nor tool calls is asked again without tools.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from liteagent.agents.prompts import AgentPrompts
from liteagent.agents.twelve_factor_agent import LLMClient, ToolChoice
from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMMessage,
    LLMResponse,
    LLMToolCall,
    Usage,
)

__all__ = ["LLMEvent", "ProviderLLMClient", "ToolCallingProfile", "profile_for"]


@dataclass(frozen=True)
class ToolCallingProfile:
    """How a provider handles tools (see the module docs)."""

    native_auto: bool = True
    tool_role: bool = True


_PROFILES: dict[str, ToolCallingProfile] = {
    "local": ToolCallingProfile(native_auto=False, tool_role=False),
}


def profile_for(provider: BaseLLMProvider) -> ToolCallingProfile:
    """The provider's own ``tool_calling_profile`` attribute, else the built-in table."""
    own = getattr(provider, "tool_calling_profile", None)
    if isinstance(own, ToolCallingProfile):
        return own
    return _PROFILES.get(provider.provider_name, ToolCallingProfile())


@dataclass(frozen=True)
class LLMEvent:
    """Progress of one LLM call: a text or reasoning delta, or the call's usage at its end."""

    text: str = ""
    reasoning: str = ""
    usage: Usage | None = None
    model: str = ""


class ProviderLLMClient(LLMClient):
    """Adapts a ``BaseLLMProvider`` to the agent.

    Args:
        provider: The model.
        options: Generation options for every call (temperature, max_tokens, stop…).
        on_event: When set, calls stream and report deltas and usage through it.
        profile: Tool handling (default: ``profile_for(provider)``).
        stream: With ``on_event``, whether calls stream (``False``: one ``chat`` per call,
            reported to ``on_event`` when it returns).
    """

    def __init__(
        self,
        provider: BaseLLMProvider,
        options: ChatOptions | None = None,
        *,
        on_event: Callable[[LLMEvent], None] | None = None,
        profile: ToolCallingProfile | None = None,
        stream: bool = True,
    ) -> None:
        self.provider = provider
        self.options = options or ChatOptions()
        self.on_event = on_event
        self.profile = profile or profile_for(provider)
        self.stream = stream

    def with_events(
        self, on_event: Callable[[LLMEvent], None] | None, *, stream: bool = True
    ) -> ProviderLLMClient:
        """The same client reporting to ``on_event`` (one per request)."""
        return ProviderLLMClient(
            self.provider, self.options, on_event=on_event, profile=self.profile, stream=stream
        )

    def _plan(
        self, tools: list[dict[str, Any]] | None, tool_choice: ToolChoice | None
    ) -> tuple[tuple[Mapping[str, Any], ...], str | Mapping[str, Any] | None]:
        if not tools:
            return (), None
        if isinstance(tool_choice, Mapping):
            return tuple(tools), tool_choice
        if self.profile.native_auto:
            return tuple(tools), tool_choice
        if tool_choice == "required" and len(tools) == 1:
            name = tools[0]["function"]["name"]
            return tuple(tools), {"type": "function", "function": {"name": name}}
        return (), None

    def _messages(self, messages: list[dict[str, Any]]) -> list[LLMMessage]:
        out = [LLMMessage.from_openai(m) for m in messages]
        if self.profile.tool_role:
            return out
        return [
            LLMMessage(
                role="user",
                content=AgentPrompts.tool_result_as_text(m.name or "tool", m.content or ""),
            )
            if m.role == "tool"
            else m
            for m in out
        ]

    async def chat(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice | None = None,
    ) -> dict[str, Any]:
        offered, choice = self._plan(tools, tool_choice)
        msgs = self._messages(messages)
        opts = dataclasses.replace(self.options, tools=offered, tool_choice=choice)
        response = await self._call(msgs, opts)
        if offered and not response.content.strip() and not response.tool_calls:
            retry = await self._call(
                msgs, dataclasses.replace(self.options, tools=(), tool_choice=None)
            )
            response = LLMResponse(
                content=retry.content,
                model=retry.model,
                usage=response.usage + retry.usage,
                reasoning=retry.reasoning,
                finish_reason=retry.finish_reason,
                provider=retry.provider,
            )
        return response.to_openai()

    async def _call(self, messages: list[LLMMessage], options: ChatOptions) -> LLMResponse:
        if self.on_event is None:
            return await self.provider.chat(messages, options)
        if not self.stream:
            response = await self.provider.chat(messages, options)
            if response.reasoning:
                self.on_event(LLMEvent(reasoning=response.reasoning))
            if response.content:
                self.on_event(LLMEvent(text=response.content))
            self.on_event(LLMEvent(usage=response.usage, model=self.provider.model_id))
            return response
        text: list[str] = []
        reasoning: list[str] = []
        calls: tuple[LLMToolCall, ...] = ()
        usage = Usage()
        finish = "stop"
        async for chunk in self.provider.stream(messages, options):
            if chunk.reasoning:
                reasoning.append(chunk.reasoning)
                self.on_event(LLMEvent(reasoning=chunk.reasoning))
            if chunk.content:
                text.append(chunk.content)
                self.on_event(LLMEvent(text=chunk.content))
            if chunk.tool_calls:
                calls = calls + chunk.tool_calls
            if chunk.usage is not None:
                usage = usage + chunk.usage
            if chunk.finish_reason:
                finish = chunk.finish_reason
        self.on_event(LLMEvent(usage=usage, model=self.provider.model_id))
        return LLMResponse(
            content="".join(text),
            model=self.provider.model_name,
            usage=usage,
            tool_calls=calls,
            finish_reason=finish,
            reasoning="".join(reasoning) or None,
            provider=self.provider.provider_name,
        )
