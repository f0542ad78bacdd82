"""The bundled local model: exact prompts, tool calls, loops and cancellation.

Tests marked ``local_llm`` run the real SmolLM2-135M in llama.cpp (the ``local`` extra).
"""

from __future__ import annotations

import asyncio
import html
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from liteagent.catalog import RagSpec, parse_catalog
from liteagent.config import Settings
from liteagent.errors import LLMProviderError
from liteagent.llm import ChatOptions, LLMChunk, LLMMessage
from liteagent.llm.base import MessageLike
from liteagent.llm.chatml import choice_grammar, plan_tool_choice, render_prompt
from liteagent.llm.local import LocalLlamaProvider, Sampling
from liteagent.proxy.context import RequestContext
from liteagent.proxy.runners.rag import answer_mode, build_rag_runner

TRICKY = "Is 1 < 2 && 3 > 2? Say \"yes\" or 'no' & keep &lt;this&gt; as it is."
CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string", "pattern": "^[0-9+*/() -]{1,40}$"}},
            "required": ["expression"],
        },
    },
}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "How many notes do I have?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "list_notes", "arguments": '{"limit":5}'},
            }
        ],
    },
    {"role": "user", "content": TRICKY},
]


class _PromptSeen(Exception):
    def __init__(self, prompt: str) -> None:
        self.prompt = prompt


class _CapturingLlama:
    """Stands in for ``Llama`` to read the prompt llama-cpp-python's handler builds."""

    verbose = False

    def create_completion(self, *, prompt: str, **_: Any) -> Any:
        raise _PromptSeen(prompt)


def handler_prompt(messages: list[dict[str, Any]], **kwargs: Any) -> str:
    chat_format = pytest.importorskip("llama_cpp.llama_chat_format")
    with pytest.raises(_PromptSeen) as seen:
        chat_format.chatml_function_calling(_CapturingLlama(), messages, **kwargs)
    return seen.value.prompt


def test_the_model_reads_the_text_exactly_as_written() -> None:
    prompt = render_prompt(CONVERSATION)
    assert TRICKY in prompt and 'functions.list_notes:\n{"limit":5}' in prompt
    assert "&#34;" not in prompt and "&lt;2" not in prompt and "&amp;" not in prompt


def test_same_prompt_format_as_llama_cpp_without_its_html_escaping() -> None:
    theirs = handler_prompt(CONVERSATION)
    ours = render_prompt(CONVERSATION)
    # The handler escaped the text (the bug) ...
    assert "&#34;limit&#34;" in theirs and "&lt;" in theirs and ours != theirs
    # ... and that is the only difference: even a literal "&lt;" in the text is kept as is.
    assert html.unescape(theirs) == ours


def test_same_prompt_format_as_llama_cpp_when_a_tool_is_forced() -> None:
    choice = {"type": "function", "function": {"name": "calculator"}}
    theirs = handler_prompt(CONVERSATION, tools=[CALCULATOR], tool_choice=choice)
    ours = render_prompt(CONVERSATION, [CALCULATOR], offer_tools=True) + "functions.calculator:\n"
    assert html.unescape(theirs) == ours
    assert json.dumps(CALCULATOR["function"]["parameters"], sort_keys=True) in ours


def test_tool_results_reach_the_model() -> None:
    messages = [
        {"role": "user", "content": "Compute 12*7"},
        {"role": "tool", "tool_call_id": "c1", "content": "84"},
    ]
    assert "<|im_start|>tool\n84<|im_end|>\n<|im_start|>assistant\n" in render_prompt(messages)


def test_tool_choice_plans() -> None:
    assert plan_tool_choice([], "auto").mode == "text"
    assert plan_tool_choice([CALCULATOR], "none").mode == "text"
    assert plan_tool_choice([CALCULATOR], "auto").mode == "choose"
    assert plan_tool_choice([CALCULATOR], "required").required
    forced = plan_tool_choice(
        [CALCULATOR], {"type": "function", "function": {"name": "calculator"}}
    )
    assert forced.mode == "call" and forced.tool is CALCULATOR
    with pytest.raises(ValueError, match="not found"):
        plan_tool_choice([CALCULATOR], {"type": "function", "function": {"name": "missing"}})
    assert choice_grammar([CALCULATOR], required=False) == (
        'root ::= functions | "message:"\nfunctions ::= "functions.calculator:"\n'
    )


async def test_a_tool_choice_naming_no_tool_is_a_provider_error() -> None:
    options = ChatOptions(
        tools=(CALCULATOR,), tool_choice={"type": "function", "function": {"name": "nope"}}
    )
    with pytest.raises(LLMProviderError, match="not found in tools"):
        await LocalLlamaProvider().chat([{"role": "user", "content": "hi"}], options)


# -- the real model ------------------------------------------------------------------------------

local_llm = pytest.mark.local_llm


@pytest.fixture(scope="module")
def provider() -> LocalLlamaProvider:
    pytest.importorskip("llama_cpp")
    model = LocalLlamaProvider(sampling=Sampling(seed=7))
    try:
        model.model_path  # noqa: B018 - raises when the bundled model is not installed
    except Exception as exc:
        pytest.skip(str(exc))
    return model


@local_llm
async def test_real_model_gets_the_exact_prompt(provider: LocalLlamaProvider) -> None:
    messages = [{"role": "user", "content": TRICKY}]
    response = await provider.chat(messages, ChatOptions(max_tokens=1))
    llama = provider._model().llama

    def tokens(text: str) -> int:
        return len(llama.tokenize(text.encode("utf-8"), special=True))

    exact = render_prompt(messages)
    escaped = render_prompt([{"role": "user", "content": html.escape(TRICKY)}])
    assert tokens(exact) != tokens(escaped)
    assert response.usage.prompt_tokens == tokens(exact)


@local_llm
async def test_real_model_answers_within_a_small_token_limit(
    provider: LocalLlamaProvider,
) -> None:
    messages = [{"role": "user", "content": "Explain what a proxy server does."}]
    response = await provider.chat(messages, ChatOptions(max_tokens=64))
    assert response.content.strip()
    assert 0 < response.usage.completion_tokens <= 64
    assert response.finish_reason in ("stop", "length")
    chunks = [c async for c in provider.stream(messages, ChatOptions(max_tokens=64))]
    assert "".join(c.content for c in chunks) == response.content
    assert chunks[-1].usage == response.usage


@local_llm
async def test_real_model_forced_tool_call_follows_the_schema(
    provider: LocalLlamaProvider,
) -> None:
    options = ChatOptions(
        tools=(CALCULATOR,),
        tool_choice={"type": "function", "function": {"name": "calculator"}},
        max_tokens=64,
    )
    response = await provider.chat(
        [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "12*7?"}],
        options,
    )
    [call] = response.tool_calls
    assert call.name == "calculator" and response.finish_reason == "tool_calls"
    assert set(call.parsed_arguments()) == {"expression"}


class _Observed(LocalLlamaProvider):
    """The real provider, reporting when its first chunk is out and what came after a stop."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entered = threading.Event()
        self.started = threading.Event()
        self.after_stop = 0

    def _generate(
        self, messages: Sequence[MessageLike], options: ChatOptions | None, stop: threading.Event
    ) -> Iterator[LLMChunk]:
        self.entered.set()  # in the worker thread, about to wait for the model
        for chunk in super()._generate(messages, options, stop):
            if stop.is_set():
                self.after_stop += 1
            self.started.set()
            yield chunk


LONG = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]
LONG_OPTIONS = ChatOptions(max_tokens=3000)


async def _cancel_when_started(model: _Observed, task: asyncio.Task[Any]) -> None:
    await asyncio.to_thread(model.started.wait)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@local_llm
@pytest.mark.parametrize("how", ["chat", "stream"])
async def test_cancelling_stops_the_generation_and_frees_the_model(
    provider: LocalLlamaProvider, how: str
) -> None:
    model = _Observed(loop_guard=None)

    async def consume() -> None:
        if how == "chat":
            await model.chat(LONG, LONG_OPTIONS)
        else:
            async for _ in model.stream(LONG, LONG_OPTIONS):
                pass

    await _cancel_when_started(model, asyncio.create_task(consume()))
    # Once the cancelled call is over, llama.cpp has stopped and the model is free.
    assert not model._model().lock.locked()
    assert model.after_stop <= 1
    response = await model.chat([{"role": "user", "content": "Hi!"}], ChatOptions(max_tokens=8))
    assert response.usage.completion_tokens > 0


@local_llm
async def test_a_call_waiting_for_the_model_can_be_cancelled(provider: LocalLlamaProvider) -> None:
    busy = _Observed(loop_guard=None)
    waiting = _Observed(loop_guard=None)
    first = asyncio.create_task(busy.chat(LONG, LONG_OPTIONS))
    await asyncio.to_thread(busy.started.wait)
    second = asyncio.create_task(waiting.chat(LONG, LONG_OPTIONS))
    await asyncio.to_thread(waiting.entered.wait)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    # The waiting call gave up without generating, while the first one still runs.
    assert not waiting.started.is_set() and not first.done()
    await _cancel_when_started(busy, first)
    assert not busy._model().lock.locked()


@local_llm
async def test_real_model_repeating_itself_is_stopped_early(provider: LocalLlamaProvider) -> None:
    # A history full of one sentence makes SmolLM2 write it again and again.
    said = "I'm glad you're pleased with the result."
    messages = [
        LLMMessage("user", "Thanks!"),
        LLMMessage("assistant", " ".join([said] * 6)),
        LLMMessage("user", "Thanks again!"),
    ]
    guarded = LocalLlamaProvider(sampling=Sampling(seed=1))
    unguarded = LocalLlamaProvider(sampling=Sampling(seed=1), loop_guard=None)
    loop = await unguarded.chat(messages, ChatOptions(max_tokens=300))
    assert loop.content.count(said) > 2
    with capture_logs() as logs:
        response = await guarded.chat(messages, ChatOptions(max_tokens=300))
    [event] = [e for e in logs if e["event"] == "llm_loop_stopped"]
    assert event["provider"] == "local" and event["rule"] == "sentence"
    assert response.content.count(said) == 1 and loop.content.startswith(response.content)
    assert response.finish_reason == "stop"
    assert 0 < response.usage.completion_tokens < loop.usage.completion_tokens


# -- the RAG demo with the bundled model ---------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "settings", "mode"),
    [
        ({}, {}, "extractive"),  # no key: the bundled model answers, so passages are quoted
        ({"model": "local/smollm2"}, {}, "extractive"),
        ({"answer": "generate"}, {}, "generate"),  # set explicitly: kept
        ({}, {"openai_api_key": "sk-test"}, "generate"),
        ({}, {"local_model_path": "/models/bigger.gguf"}, "generate"),
        ({"model": "openai/gpt-4o-mini", "answer": "extractive"}, {}, "extractive"),
    ],
)
def test_rag_answers_extractively_with_the_bundled_model(
    entry: dict[str, Any], settings: dict[str, Any], mode: str
) -> None:
    catalog = parse_catalog({"models": {"docs": {"kind": "rag", **entry}}})
    spec = catalog.get("docs")
    assert isinstance(spec, RagSpec)
    config = Settings(**{"default_model": None, "openai_api_key": None, **settings})
    assert answer_mode(spec, config) == mode
    runner = build_rag_runner(spec, RequestContext("liteagent/docs", []), config)
    assert (runner.llm is None) == (mode == "extractive")
