"""The LLM provider protocol.

A provider turns a list of chat messages (plus optional tools) into a response, either at once
(``chat``) or as a stream of typed chunks (``stream``). ``stream_chat`` is the text-only view of
``stream`` kept from the seeds' interface. Every response carries real token ``usage``.

Providers are authenticated clients *and* message translators for one model; credentials stay
inside the provider instance and never appear in its errors (see ``liteagent.errors``).

Every provider's ``stream`` and ``chat`` pass through its ``loop_guard`` (``None``: off), which
ends an answer that has started to repeat itself (``liteagent.llm.loop_guard``). The base class
applies it to each subclass's own ``stream`` and ``chat`` when the subclass is defined, so a
provider (a plugin too) has nothing to do: a stream is cut as it arrives and stopped at the
source (``StopGeneration`` is thrown into it, which lets it report its usage so far), a
``chat`` answer is cut afterwards, unless the provider says ``chat_uses_stream``.
"""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from liteagent.llm.loop_guard import LoopGuard, Repetition, StopGeneration
from liteagent.llm.provenance import Provenance
from liteagent.llm.streams import aclose_stream
from liteagent.log import get_logger

logger = get_logger(__name__)

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class LLMToolCall:
    """A function call proposed by a model. ``arguments`` is the raw JSON string."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """Arguments as a dict (``{}`` when empty); raises ``ValueError`` on invalid JSON."""
        if not self.arguments.strip():
            return {}
        value = json.loads(self.arguments)
        if not isinstance(value, dict):
            raise ValueError("tool arguments must be a JSON object")
        return value

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class LLMMessage:
    """One chat message in OpenAI's shape."""

    role: Role
    content: str | None = None
    tool_calls: tuple[LLMToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def to_openai(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [tc.to_openai() for tc in self.tool_calls]
        if self.tool_call_id is not None:
            msg["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            msg["name"] = self.name
        return msg

    @classmethod
    def from_openai(cls, data: Mapping[str, Any]) -> LLMMessage:
        """Build from an OpenAI-style dict (content may be a list of text parts)."""
        calls = tuple(
            LLMToolCall(
                id=str(tc.get("id") or f"call_{i}"),
                name=str(tc["function"]["name"]),
                arguments=_as_json_string(tc["function"].get("arguments")),
            )
            for i, tc in enumerate(data.get("tool_calls") or [])
        )
        return cls(
            role=data["role"],
            content=content_to_text(data.get("content")),
            tool_calls=calls,
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
        )


MessageLike = LLMMessage | Mapping[str, Any]


def as_messages(messages: Sequence[MessageLike]) -> list[LLMMessage]:
    """Normalise a mixed list of ``LLMMessage`` and OpenAI dicts."""
    return [m if isinstance(m, LLMMessage) else LLMMessage.from_openai(m) for m in messages]


def content_to_text(content: Any) -> str | None:
    """Flatten OpenAI message content (a string or a list of parts) to text."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return str(content)


def _as_json_string(arguments: Any) -> str:
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments)


@dataclass(frozen=True)
class Usage(Mapping[str, int]):
    """Token counts of one or more LLM calls; ``+`` sums them.

    Also a read-only mapping, as the seeds' ``usage`` dict: ``usage["total_tokens"]``,
    ``usage.get("prompt_tokens")``, ``dict(usage)``.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __getitem__(self, key: str) -> int:
        if key in _USAGE_KEYS:
            value: int = getattr(self, key)
            return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(_USAGE_KEYS)

    def __len__(self) -> int:
        return len(_USAGE_KEYS)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass(frozen=True)
class LLMResponse:
    """A complete model answer."""

    content: str
    model: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[LLMToolCall, ...] = ()
    finish_reason: str = "stop"
    reasoning: str | None = None
    provider: str = ""
    provenance: Provenance | None = None
    """Requested versus answering model, set when the call went through a fallback chain."""

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI chat-completion dict (the shape the seeds' ``LLMClient.chat`` returns)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [tc.to_openai() for tc in self.tool_calls]
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        return {
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage.to_dict(),
        }


@dataclass(frozen=True)
class LLMChunk:
    """One streamed piece of an answer.

    A stream yields content and reasoning deltas as they arrive; complete tool calls and the
    final ``usage`` and ``finish_reason`` come on the last chunk (with ``provenance`` when the
    stream went through a fallback chain).
    """

    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[LLMToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    provenance: Provenance | None = None


@dataclass(frozen=True)
class ChatOptions:
    """Per-call generation options.

    Attributes:
        temperature: Sampling temperature.
        max_tokens: Most tokens to generate.
        top_p: Nucleus sampling.
        stop: Sequences that end the answer (not included in it).
        tools: Tools offered, in OpenAI's ``{"type": "function", "function": …}`` shape.
        tool_choice: ``"auto"``, ``"required"``, ``"none"`` or a named function.
        response_format: OpenAI's ``response_format`` (``json_object`` / ``json_schema``);
            providers without a JSON mode leave it out (the caller checks the answer).
    """

    temperature: float | None = None
    max_tokens: int | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | Mapping[str, Any] | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    response_format: Mapping[str, Any] | None = None

    def sampling(self, *, max_tokens: str = "max_tokens", stop: str = "stop") -> dict[str, Any]:
        """The sampling options that are set, under the names a server's API gives them.

        Args:
            max_tokens: The API's name for ``max_tokens`` (Ollama: ``num_predict``).
            stop: The API's name for ``stop`` (Anthropic: ``stop_sequences``).
        """
        named = {
            "temperature": self.temperature,
            max_tokens: self.max_tokens,
            "top_p": self.top_p,
            stop: list(self.stop) or None,
        }
        return {name: value for name, value in named.items() if value is not None}


class BaseLLMProvider(ABC):
    """A chat model behind one provider.

    Subclasses implement ``chat`` and ``stream``; ``stream_chat`` derives from ``stream``.
    Each call is recorded (provenance and usage, see ``liteagent.llm.metering``) without the
    subclass doing anything.

    Args:
        api_key: Credential for the provider (kept private, never logged).
        model_name: Model identifier at the provider.
        base_url: Endpoint override.
    """

    provider_name: ClassVar[str] = "base"
    MODELS: ClassVar[list[str]] = []
    network: ClassVar[bool] = True
    """Whether calls cross the network; ``create_llm`` adds retry and a circuit breaker then."""
    chat_uses_stream: ClassVar[bool] = False
    """``chat`` is built on ``stream``, whose guard already cut the answer."""
    loop_guard: LoopGuard | None = None
    """Ends answers that repeat themselves; ``None`` (the default) leaves them alone."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every provider's own answers end at their first repetition (the loop guard)…
        own = vars(cls)
        if "stream" in own:
            setattr(cls, "stream", _guarded_stream(own["stream"]))  # noqa: B010
        if "chat" in own:
            setattr(cls, "chat", _guarded_chat(own["chat"]))  # noqa: B010
        # …and every call, as the caller gets it, is recorded once for the request's provenance
        # and cost, plugins included.
        from liteagent.llm.metering import meter_provider

        meter_provider(cls)

    def __init__(
        self, api_key: str | None = None, model_name: str = "", base_url: str | None = None
    ) -> None:
        self._api_key = api_key
        self.model_name = model_name
        self.base_url = base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r})"

    @property
    def model_id(self) -> str:
        """``<provider>/<model>`` as used in the catalog."""
        return f"{self.provider_name}/{self.model_name}"

    @abstractmethod
    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        """Answer ``messages`` in one response."""

    @abstractmethod
    def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        """Answer ``messages`` as a stream of chunks; the last carries usage."""

    async def stream_chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[str]:
        """Text-only view of ``stream``."""
        async for chunk in self.stream(messages, options):
            if chunk.content:
                yield chunk.content

    async def aclose(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release network clients or native resources."""

    @classmethod
    def get_available_models(cls) -> list[str]:
        return list(cls.MODELS)


StreamMethod = Callable[
    [BaseLLMProvider, Sequence[MessageLike], ChatOptions | None], AsyncIterator[LLMChunk]
]
ChatMethod = Callable[
    [BaseLLMProvider, Sequence[MessageLike], ChatOptions | None], Awaitable[LLMResponse]
]


def _outermost_guard(method: Any) -> Any:
    """The loop-guard wrapper a class's method goes through first: the guard marks itself, and
    wrappers made with ``functools.wraps`` around it (the call metering) carry the mark on."""
    return getattr(method, "_loop_guard", None)


def _guarded_stream(method: StreamMethod) -> StreamMethod:
    @functools.wraps(method)
    def stream(
        self: BaseLLMProvider, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        chunks = method(self, messages, options)
        guard = self.loop_guard
        # A subclass's own override (which may call this one through super()) guards instead.
        if guard is None or _outermost_guard(type(self).stream) is not stream:
            return chunks
        return _guard_stream(self, chunks, guard, messages)

    stream._loop_guard = stream  # type: ignore[attr-defined]
    return stream


def _guarded_chat(method: ChatMethod) -> ChatMethod:
    @functools.wraps(method)
    async def chat(
        self: BaseLLMProvider, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        response = await method(self, messages, options)
        guard = self.loop_guard
        if (
            guard is None
            or self.chat_uses_stream
            or _outermost_guard(type(self).chat) is not chat
            or not response.content
        ):
            return response
        repetition = guard.check(response.content)
        if repetition is None:
            return response
        _log_stop(self, repetition, len(response.content), streaming=False)
        return replace(
            response,
            content=response.content[: repetition.cut],
            finish_reason=response.finish_reason if response.tool_calls else "stop",
        )

    chat._loop_guard = chat  # type: ignore[attr-defined]
    return chat


def _log_stop(
    provider: BaseLLMProvider, repetition: Repetition, generated: int, *, streaming: bool
) -> None:
    logger.info(
        "llm_loop_stopped",
        provider=provider.provider_name,
        model=provider.model_name,
        rule=repetition.rule,
        repeated=repetition.repeated,
        kept_chars=repetition.cut,
        dropped_chars=generated - repetition.cut,
        streaming=streaming,
    )


async def _stop_source(chunks: AsyncIterator[LLMChunk]) -> LLMChunk | None:
    """Ask a stream to stop generating; its last chunk (with usage) if it sends one."""
    athrow = getattr(chunks, "athrow", None)
    if athrow is None:
        return None
    try:
        last: LLMChunk = await athrow(StopGeneration())
    except (StopGeneration, StopAsyncIteration):
        return None
    except Exception as exc:  # noqa: BLE001 - the answer is complete; only its usage is lost
        logger.warning("llm_stop_failed", error_type=type(exc).__name__)
        return None
    return last


def _estimated_usage(
    provider: BaseLLMProvider, messages: Sequence[MessageLike], generated: str
) -> Usage:
    from liteagent.llm.token_counter import count_tokens

    prompt = "\n".join(m.content or "" for m in as_messages(messages))
    model = provider.model_name
    return Usage(count_tokens(prompt, model), count_tokens(generated, model))


async def _guard_stream(
    provider: BaseLLMProvider,
    chunks: AsyncIterator[LLMChunk],
    guard: LoopGuard,
    messages: Sequence[MessageLike],
) -> AsyncIterator[LLMChunk]:
    """``chunks`` with repetitions held back; ends (stopping the source) at the first loop."""
    detector = guard.detector()
    try:
        async for chunk in chunks:
            shown = detector.feed(chunk.content) if chunk.content else ""
            if detector.repetition is not None:
                last = await _stop_source(chunks)
                usage = last.usage if last is not None else None
                if usage is None:
                    usage = _estimated_usage(provider, messages, detector.text)
                _log_stop(provider, detector.repetition, len(detector.text), streaming=True)
                rest = shown + detector.finish()
                yield LLMChunk(content=rest, usage=usage, finish_reason="stop")
                return
            if chunk.finish_reason is not None or chunk.usage is not None or chunk.tool_calls:
                shown += detector.finish()
            out = replace(chunk, content=shown)
            if out != _EMPTY:
                yield out
        rest = detector.finish()
        if rest:
            yield LLMChunk(content=rest)
    finally:
        await aclose_stream(chunks)


_EMPTY = LLMChunk()
