"""Test doubles shipped in the package: models that need no network and no weights.

``ScriptedModel`` replays a list of responses in order (text, tool calls, or an exception to
raise); ``FunctionModel`` answers with a function of the messages. Both report deterministic
usage (whitespace-separated words) so that token accounting can be asserted.

In a catalog, ``model: scripted/<path>`` loads a script from a JSON or YAML file: a list whose
items are strings (answers) or mappings with ``content``, ``tool_calls`` (``name`` and
``arguments``), ``reasoning`` or ``error`` (a message raised as ``LLMProviderError``).
"""

from __future__ import annotations

import asyncio
import json
import re
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from liteagent.errors import ConfigurationError, LLMProviderError
from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMMessage,
    LLMResponse,
    LLMToolCall,
    MessageLike,
    Usage,
    as_messages,
)

ScriptItem = str | LLMResponse | Mapping[str, Any] | BaseException


def count_words(messages: Sequence[LLMMessage]) -> int:
    """Deterministic stand-in for prompt tokens: words across all message contents."""
    return sum(len((m.content or "").split()) for m in messages)


def _to_response(item: ScriptItem, model: str, prompt_tokens: int) -> LLMResponse:
    if isinstance(item, BaseException):
        raise item
    if isinstance(item, LLMResponse):
        return item
    if isinstance(item, str):
        item = {"content": item}
    if "error" in item:
        raise LLMProviderError(str(item["error"]), provider="scripted", model=model)
    calls = tuple(
        LLMToolCall(
            id=str(tc.get("id") or f"call_{i}"),
            name=str(tc["name"]),
            arguments=tc["arguments"]
            if isinstance(tc.get("arguments"), str)
            else json.dumps(tc.get("arguments") or {}),
        )
        for i, tc in enumerate(item.get("tool_calls") or [])
    )
    content = str(item.get("content") or "")
    return LLMResponse(
        content=content,
        model=model,
        usage=Usage(prompt_tokens, max(1, len(content.split())) if content else len(calls)),
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
        reasoning=item.get("reasoning"),
        provider="scripted",
    )


async def _stream_response(response: LLMResponse) -> AsyncIterator[LLMChunk]:
    if response.reasoning:
        for piece in re.findall(r"\S+\s*", response.reasoning):
            yield LLMChunk(reasoning=piece)
    for piece in re.findall(r"\s*\S+", response.content):
        yield LLMChunk(content=piece)
        await asyncio.sleep(0)
    yield LLMChunk(
        tool_calls=response.tool_calls, usage=response.usage, finish_reason=response.finish_reason
    )


class _AnsweringModel(BaseLLMProvider):
    """An in-process model whose whole answer is known at once; its stream replays it."""

    network = False

    @abstractmethod
    def _answer(self, messages: Sequence[MessageLike], options: ChatOptions | None) -> LLMResponse:
        """The answer to this call."""

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        return self._answer(messages, options)

    async def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        async for chunk in _stream_response(self._answer(messages, options)):
            yield chunk


class ScriptedModel(_AnsweringModel):
    """Replays ``responses`` in order; raises ``LLMProviderError`` when the script runs out.

    Attributes:
        calls: The messages and options of every call, for assertions.
    """

    provider_name = "scripted"

    def __init__(
        self, responses: Sequence[ScriptItem] = (), model_name: str = "scripted", **_: Any
    ) -> None:
        super().__init__(model_name=model_name)
        self.responses = list(responses)
        self.calls: list[tuple[list[LLMMessage], ChatOptions]] = []

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        """Load a script file (see module docs)."""
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"Cannot read scripted model file {p}: {exc}") from exc
        if not isinstance(data, list):
            raise ConfigurationError(f"Scripted model file {p} must contain a list of responses.")
        return cls(data, model_name=str(p))

    @classmethod
    def from_settings(cls, model_name: str, settings: Any, **params: Any) -> ScriptedModel:
        return cls.from_file(model_name)

    def _answer(self, messages: Sequence[MessageLike], options: ChatOptions | None) -> LLMResponse:
        msgs = as_messages(messages)
        self.calls.append((msgs, options or ChatOptions()))
        index = len(self.calls) - 1
        if index >= len(self.responses):
            raise LLMProviderError(
                f"script exhausted after {len(self.responses)} responses",
                provider="scripted",
                model=self.model_name,
            )
        return _to_response(self.responses[index], self.model_name, count_words(msgs))


class FunctionModel(_AnsweringModel):
    """Answers with ``function(messages, options)`` (a string, mapping or ``LLMResponse``)."""

    provider_name = "function"

    def __init__(
        self,
        function: Callable[[list[LLMMessage], ChatOptions], ScriptItem],
        model_name: str = "function",
    ) -> None:
        super().__init__(model_name=model_name)
        self.function = function

    def _answer(self, messages: Sequence[MessageLike], options: ChatOptions | None) -> LLMResponse:
        msgs = as_messages(messages)
        item = self.function(msgs, options or ChatOptions())
        return _to_response(item, self.model_name, count_words(msgs))
