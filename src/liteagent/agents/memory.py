"""Conversation memory strategies: what of a long conversation reaches the model (factor 3).

A strategy trims a history and never splits an assistant's tool calls from their results (a
``tool`` message without its call is an error for most providers). The newest turn is always
kept.

- ``SlidingWindowMemory``: the last N messages.
- ``TokenWindowMemory``: the newest messages that fit a token budget (tiktoken, offline).
- ``SummaryMemory``: older messages replaced by a summary written by a model (in the agent, the
  agent's own model); summaries are cached, so a chat resent with each request is summarised
  once per cut.

Strategies work on ``ConversationHistory`` (the seeds' interface) and on plain OpenAI message
dicts (``select``), which is what the agent uses.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cachetools import LRUCache

from liteagent.agents.types import utcnow
from liteagent.llm.token_counter import TokenCounter

__all__ = [
    "ConversationHistory",
    "ConversationMemory",
    "MemoryStrategy",
    "Message",
    "MessageRole",
    "SlidingWindowMemory",
    "SummaryMemory",
    "TokenWindowMemory",
    "create_sliding_window_memory",
    "create_summary_memory",
    "create_token_limited_memory",
]

ChatMessage = dict[str, Any]
Summarizer = Callable[[list[ChatMessage]], Awaitable[str] | str]


class MessageRole(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass
class Message:
    """One message; ``metadata`` may carry ``tool_calls``, ``tool_call_id`` and ``name``."""

    role: MessageRole
    content: str
    timestamp: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> ChatMessage:
        msg: ChatMessage = {"role": MessageRole(self.role).value, "content": self.content}
        for key in ("tool_calls", "tool_call_id", "name"):
            if key in self.metadata:
                msg[key] = self.metadata[key]
        return msg

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        meta = {k: data[k] for k in ("tool_calls", "tool_call_id", "name") if k in data}
        return cls(
            role=MessageRole(data["role"]), content=str(data.get("content") or ""), metadata=meta
        )


class ConversationHistory:
    """An ordered list of messages with an optional system message in front."""

    def __init__(self, messages: Sequence[Message] = (), system: str | None = None) -> None:
        self._messages = list(messages)
        self._system = system

    def add_message(self, role: MessageRole, content: str) -> None:
        self._messages.append(Message(role=MessageRole(role), content=content))

    def add_user_message(self, content: str) -> None:
        self.add_message(MessageRole.USER, content)

    def add_assistant_message(self, content: str) -> None:
        self.add_message(MessageRole.ASSISTANT, content)

    def set_system_message(self, content: str) -> None:
        self._system = content

    @property
    def system_message(self) -> str | None:
        return self._system

    def get_messages(self) -> list[Message]:
        return list(self._messages)

    def to_list(self) -> list[ChatMessage]:
        out = [{"role": "system", "content": self._system}] if self._system else []
        return out + [m.to_dict() for m in self._messages]

    def clear(self) -> None:
        self._messages.clear()

    def __len__(self) -> int:
        return len(self._messages)

    @classmethod
    def from_list(cls, messages: Sequence[Mapping[str, Any]]) -> ConversationHistory:
        system = [str(m.get("content") or "") for m in messages if m.get("role") == "system"]
        rest = [Message.from_dict(m) for m in messages if m.get("role") != "system"]
        return cls(rest, system="\n\n".join(system) or None)


def message_groups(messages: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    """Split messages into units trimming may drop: an assistant message with tool calls stays
    with the tool results that follow it."""
    groups: list[list[ChatMessage]] = []
    for msg in messages:
        if msg.get("role") == "tool" and groups and _opens_tools(groups[-1]):
            groups[-1].append(msg)
        elif msg.get("role") == "tool":
            continue  # an orphan result (its call was trimmed earlier): drop it
        else:
            groups.append([msg])
    return groups


def _opens_tools(group: list[ChatMessage]) -> bool:
    return bool(group and group[0].get("role") == "assistant" and group[0].get("tool_calls"))


def _keep_newest(
    groups: list[list[ChatMessage]], fits: Callable[[list[list[ChatMessage]]], bool]
) -> list[list[ChatMessage]]:
    kept: list[list[ChatMessage]] = []
    for group in reversed(groups):
        if kept and not fits([group, *kept]):
            break
        kept.insert(0, group)
    return kept


def _flatten(groups: list[list[ChatMessage]]) -> list[ChatMessage]:
    return [m for g in groups for m in g]


class MemoryStrategy(ABC):
    """Decides which messages of a history reach the model."""

    @abstractmethod
    def select(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """Trim non-system messages (system messages are the caller's business)."""

    async def aselect(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """Async form (strategies that call a model override it)."""
        return self.select(messages)

    def apply(self, history: ConversationHistory) -> ConversationHistory:
        kept = self.select([m.to_dict() for m in history.get_messages()])
        return ConversationHistory(
            [Message.from_dict(m) for m in kept], system=history.system_message
        )

    async def aapply(self, history: ConversationHistory) -> ConversationHistory:
        kept = await self.aselect([m.to_dict() for m in history.get_messages()])
        return ConversationHistory(
            [Message.from_dict(m) for m in kept], system=history.system_message
        )


class SlidingWindowMemory(MemoryStrategy):
    """Keep the last ``window_size`` messages (whole tool exchanges; the newest turn always)."""

    def __init__(self, window_size: int = 20) -> None:
        if window_size < 1:
            raise ValueError("window_size must be at least 1")
        self.window_size = window_size

    def select(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        groups = message_groups(messages)
        kept = _keep_newest(groups, lambda gs: sum(len(g) for g in gs) <= self.window_size)
        return _flatten(kept)


class TokenWindowMemory(MemoryStrategy):
    """Keep the newest messages whose tokens fit ``max_tokens``."""

    def __init__(self, max_tokens: int = 4000, model: str = "gpt-4o") -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.max_tokens = max_tokens
        self.counter = TokenCounter(model)

    def select(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        groups = message_groups(messages)
        cost = {id(g): self.counter.count_messages(g) for g in groups}
        kept = _keep_newest(groups, lambda gs: sum(cost[id(g)] for g in gs) <= self.max_tokens)
        return _flatten(kept)


SUMMARY_PREFIX = "Summary of the earlier conversation:\n"


class SummaryMemory(MemoryStrategy):
    """Replace all but the newest ``keep_last`` messages with a summary.

    Args:
        summarizer: ``(messages) -> summary`` (sync or async); ``summarizer_for(llm_client)``
            makes one from the agent's own model.
        keep_last: Messages kept verbatim (whole tool exchanges).
        cache_size: Summaries remembered, keyed by the exact messages they summarise.
        cache: A cache to share (e.g. between per-request copies).
    """

    def __init__(
        self,
        summarizer: Summarizer,
        keep_last: int = 6,
        cache_size: int = 256,
        *,
        cache: LRUCache[str, str] | None = None,
    ) -> None:
        self.summarizer = summarizer
        self.window = SlidingWindowMemory(keep_last)
        self._cache: LRUCache[str, str] = cache if cache is not None else LRUCache(cache_size)

    def with_summarizer(self, summarizer: Summarizer) -> SummaryMemory:
        """The same strategy (and summary cache) with another summarizer."""
        return SummaryMemory(summarizer, self.window.window_size, cache=self._cache)

    def _split(
        self, messages: Sequence[ChatMessage]
    ) -> tuple[list[ChatMessage], list[ChatMessage]]:
        groups = message_groups(messages)
        limit = self.window.window_size
        recent = _keep_newest(groups, lambda gs: sum(len(g) for g in gs) <= limit)
        return _flatten(groups[: len(groups) - len(recent)]), _flatten(recent)

    @staticmethod
    def _key(messages: Sequence[ChatMessage]) -> str:
        data = json.dumps(list(messages), sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()

    def _with_summary(self, summary: str, recent: list[ChatMessage]) -> list[ChatMessage]:
        return [{"role": "system", "content": SUMMARY_PREFIX + summary.strip()}, *recent]

    def _plan(
        self, messages: Sequence[ChatMessage]
    ) -> tuple[list[ChatMessage], str | None, list[ChatMessage]]:
        """(the recent messages, the older ones' cache key, the older ones still to summarise:
        empty when there are none or their summary is cached)."""
        older, recent = self._split(messages)
        if not older:
            return recent, None, []
        key = self._key(older)
        return recent, key, ([] if key in self._cache else older)

    def _selected(self, recent: list[ChatMessage], key: str | None) -> list[ChatMessage]:
        return recent if key is None else self._with_summary(self._cache[key], recent)

    def select(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        recent, key, todo = self._plan(messages)
        if key is not None and todo:
            result = self.summarizer(todo)
            if inspect.isawaitable(result):
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                raise RuntimeError("this summarizer is async: use aselect / aapply")
            self._cache[key] = str(result)
        return self._selected(recent, key)

    async def aselect(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        recent, key, todo = self._plan(messages)
        if key is not None and todo:
            result = self.summarizer(todo)
            self._cache[key] = str(await result if inspect.isawaitable(result) else result)
        return self._selected(recent, key)


SUMMARY_INSTRUCTION = (
    "Summarise the conversation below in a few sentences. Keep names, numbers, decisions and "
    "open questions. Write only the summary."
)


def summarizer_for(llm_client: Any) -> Callable[[list[ChatMessage]], Awaitable[str]]:
    """A summarizer that asks ``llm_client`` (an agent ``LLMClient``) for the summary."""

    async def summarize(messages: list[ChatMessage]) -> str:
        transcript = "\n".join(
            f"{m.get('role')}: {m.get('content') or ''}"
            for m in messages
            if m.get("role") in ("user", "assistant") and m.get("content")
        )
        response = await llm_client.chat(
            [
                {"role": "system", "content": SUMMARY_INSTRUCTION},
                {"role": "user", "content": transcript},
            ]
        )
        message = (response.get("choices") or [{}])[0].get("message") or {}
        return str(message.get("content") or "").strip()

    return summarize


class ConversationMemory:
    """A conversation plus the strategy that trims it."""

    def __init__(self, strategy: MemoryStrategy | None = None) -> None:
        self.strategy = strategy
        self.history = ConversationHistory()

    def add_message(self, role: MessageRole, content: str) -> None:
        self.history.add_message(role, content)

    def get_messages(self) -> list[ChatMessage]:
        history = self.strategy.apply(self.history) if self.strategy else self.history
        return history.to_list()

    async def aget_messages(self) -> list[ChatMessage]:
        history = await self.strategy.aapply(self.history) if self.strategy else self.history
        return history.to_list()

    def clear(self) -> None:
        self.history.clear()


def create_sliding_window_memory(window_size: int = 10) -> ConversationMemory:
    return ConversationMemory(SlidingWindowMemory(window_size))


def create_token_limited_memory(
    max_tokens: int = 4000, model: str = "gpt-4o"
) -> ConversationMemory:
    return ConversationMemory(TokenWindowMemory(max_tokens, model))


def create_summary_memory(summarizer: Summarizer, keep_last: int = 6) -> ConversationMemory:
    return ConversationMemory(SummaryMemory(summarizer, keep_last))
