"""The loop guard: an answer that repeats itself ends at the first repetition, any provider."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from liteagent.config import Settings
from liteagent.llm import (
    ChatOptions,
    LLMChunk,
    LLMResponse,
    ResilientLLM,
    ScriptedModel,
    Usage,
    create_llm,
    create_provider,
)
from liteagent.llm.base import BaseLLMProvider, MessageLike
from liteagent.llm.fallback import ModelFallbackChain
from liteagent.llm.loop_guard import LoopGuard, StopGeneration
from liteagent.runtime import CircuitBreakerRegistry, RetryConfig

GUARD = LoopGuard()
HI = [{"role": "user", "content": "Tell me about yourself"}]

FIRST = "I'm a creative AI assistant designed to help users. "
LOOP = "I'm a non-profit AI assistant, and I'm here to help users find their dream jobs. "
LOOPING = FIRST + LOOP * 6 + "I'm a non"
KEPT = (FIRST + LOOP).rstrip()


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def run(text: str, size: int, guard: LoopGuard = GUARD) -> tuple[str, bool]:
    """What a stream of ``text`` in pieces of ``size`` shows, and whether the guard fired."""
    detector = guard.detector()
    out = [detector.feed(piece) for piece in pieces(text, size)]
    return "".join(out) + detector.finish(), detector.repetition is not None


def shown(text: str, size: int) -> str:
    return run(text, size)[0]


@pytest.mark.parametrize("size", [1, 3, 17, 400])
def test_a_looping_answer_keeps_the_first_occurrence_only(size: int) -> None:
    assert shown(LOOPING, size).rstrip() == KEPT


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_a_repeated_sentence_ends_the_answer_even_far_apart(size: int) -> None:
    said = "The proxy routes every request to the right model. "
    text = said + "It also counts tokens for budgets. " + said + "Then more text follows here."
    kept = "The proxy routes every request to the right model. It also counts tokens for budgets."
    assert shown(text, size).rstrip() == kept


@pytest.mark.parametrize("size", [1, 2, 1000])
def test_the_first_repeat_ends_the_answer_whatever_came_before(size: int) -> None:
    # Seen with SmolLM2: the copy starts at the space before the repeated sentence.
    said = "I'm glad you're pleased with the result."
    assert shown(f"Thanks again! {said} {said} {said} {said}", size).rstrip() == (
        f"Thanks again! {said}"
    )


def test_a_short_loop_without_sentences_is_cut_by_length() -> None:
    repetition = GUARD.check("ha " * 100)
    assert repetition is not None and repetition.rule == "span"
    assert ("ha " * 100)[: repetition.cut] == "ha"


def test_a_list_that_cycles_ends_before_the_repeated_item() -> None:
    books = (
        'Here are some books:\n1. "The Nightingale" by Astrid Lindgren\n'
        '2. "A World of Lights" by Naledi Jadhav\n'
    )
    text = books + '3. "The Nightingale" by Astrid Lindgren\n4. "A World of Lights" by'
    repetition = GUARD.check(text)
    assert repetition is not None and repetition.rule == "sentence"
    assert text[: repetition.cut] == books.rstrip()  # no dangling "3."


ORDINARY = [
    # A sentence that appeared before only inside another one is not a repeat.
    "1. Tests are 2.5 times faster than manual testing.\n"
    "2. 5 times faster than manual testing.\n3. Fewer bugs.",
    # Phrases come back, sentences do not: nothing is cut, nothing is lost.
    "The proxy is fast. The proxy is also cheap to run. Yes. Yes. Thanks!\n\n"
    "- Step one: open the app.\n- Step two: open the settings.\n",
    # Code repeats lines; a sentence inside a code block is not a loop.
    "Use this:\n```python\nprint('the value is here now')\nprint('the value is here now')\n```\n"
    "That prints the value twice.",
    "A table:\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n",
]


@pytest.mark.parametrize("text", ORDINARY)
@pytest.mark.parametrize("size", [1, 4, 1000])
def test_answers_without_loops_pass_unchanged(text: str, size: int) -> None:
    assert shown(text, size) == text
    assert GUARD.check(text) is None


@given(st.lists(st.sampled_from(["alpha ", "beta. ", "gamma\n", "delta, ", "é "]), max_size=40))
def test_the_stream_shows_the_answer_or_a_prefix_of_it_when_cut(words: list[str]) -> None:
    text = "".join(words)
    for size in (1, 7):
        out, cut = run(text, size)
        assert out == text if not cut else text.startswith(out)


# -- every provider's stream and chat ------------------------------------------------------------


class Looper(BaseLLMProvider):
    """A plugin-style provider that loops; it stops when asked and reports its usage."""

    provider_name = "looper"
    network = False

    def __init__(self, *, honours_stop: bool = True, **_: object) -> None:
        super().__init__(model_name="looper")
        self.honours_stop = honours_stop
        self.produced = 0
        self.stopped = False

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        return LLMResponse(LOOPING, "looper", Usage(7, 300), finish_reason="length")

    async def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        for piece in re.findall(r"\S+\s*", LOOPING * 20):
            self.produced += 1
            try:
                yield LLMChunk(content=piece)
            except StopGeneration:
                self.stopped = True
                if not self.honours_stop:
                    raise
                yield LLMChunk(usage=Usage(7, self.produced), finish_reason="cancelled")
                return
        yield LLMChunk(usage=Usage(7, self.produced), finish_reason="length")


async def collect(stream: AsyncIterator[LLMChunk]) -> list[LLMChunk]:
    return [chunk async for chunk in stream]


async def test_a_guarded_stream_stops_its_source_and_keeps_its_usage() -> None:
    model = Looper()
    model.loop_guard = GUARD
    with capture_logs() as logs:
        chunks = await collect(model.stream(HI))
    assert "".join(c.content for c in chunks) == KEPT
    last = chunks[-1]
    assert last.finish_reason == "stop" and last.usage == Usage(7, model.produced)
    assert model.stopped and model.produced < len(re.findall(r"\S+\s*", LOOPING))
    [event] = [e for e in logs if e["event"] == "llm_loop_stopped"]
    assert event["provider"] == "looper" and event["rule"] == "sentence" and event["streaming"]


async def test_a_stream_that_ignores_the_stop_gets_an_estimated_usage() -> None:
    model = Looper(honours_stop=False)
    model.loop_guard = GUARD
    chunks = await collect(model.stream(HI))
    assert "".join(c.content for c in chunks) == KEPT
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 20


async def test_chat_answers_are_cut_afterwards_with_their_real_usage() -> None:
    model = Looper()
    model.loop_guard = GUARD
    response = await model.chat(HI)
    assert response.content == KEPT
    assert response.finish_reason == "stop" and response.usage == Usage(7, 300)


async def test_without_a_guard_nothing_changes() -> None:
    model = Looper()
    assert (await model.chat(HI)).content == LOOPING
    chunks = await collect(model.stream(HI))
    assert "".join(c.content for c in chunks) == LOOPING * 20
    assert chunks[-1].finish_reason == "length"


async def test_scripted_models_are_guarded_when_asked() -> None:
    model = ScriptedModel([LOOPING, LOOPING])
    model.loop_guard = GUARD
    assert (await model.chat(HI)).content == KEPT
    chunks = await collect(model.stream(HI))
    assert "".join(c.content for c in chunks) == KEPT


async def test_a_fallback_chain_passes_the_cut_answer_with_its_provenance() -> None:
    looper = Looper()
    looper.loop_guard = GUARD
    chain = ModelFallbackChain(
        ["looper/looper"], retry=RetryConfig(max_retries=0), breakers=CircuitBreakerRegistry()
    )
    llm = ResilientLLM(chain, lambda _: looper)
    chunks = await collect(llm.stream(HI))
    assert "".join(c.content for c in chunks) == KEPT
    assert chunks[-1].finish_reason == "stop" and chunks[-1].provenance is not None
    assert (await llm.chat(HI)).content == KEPT


def test_loop_guard_setting_chooses_the_providers(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("- hello\n")
    scripted = f"scripted/{script}"
    auto, on, off = (Settings(loop_guard=mode) for mode in ("auto", "on", "off"))
    # auto: the provider's own default, on for the bundled local model only.
    assert create_provider("local/smollm2", settings=auto).loop_guard == LoopGuard()
    assert create_provider(scripted, settings=auto).loop_guard is None
    assert create_llm(scripted, settings=on).loop_guard == LoopGuard()
    assert create_llm("local/smollm2", settings=off).loop_guard is None


def test_loop_guard_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITEAGENT_LOOP_GUARD", "OFF")
    assert Settings().loop_guard == "off"
