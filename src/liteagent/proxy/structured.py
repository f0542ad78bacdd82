"""``response_format``: an answer that is valid JSON, matching the client's schema.

For a request with ``response_format`` ``json_object`` or ``json_schema`` (checked by
``liteagent.proxy.request_options``) the handler

1. tells the model in words, as a system message, to answer with JSON only (and the schema);
   providers with a JSON mode (OpenAI and OpenAI-compatible servers, Ollama) also get the
   ``response_format`` itself;
2. holds the answer text back (tool steps are not rendered into it: they would break the JSON)
   and reads the JSON value in it (a bare value, a fenced code block, or the first JSON object or
   array in the text);
3. when there is none, or it does not match the schema, asks the model once more, with the
   problem, to correct it;
4. sends the value as the answer's whole content, or, when the model failed twice, fails the
   request with 502 ``upstream_error`` "the model did not produce JSON matching the schema": the
   request was fine, the model's output was not.

A run that ends with calls of the client's tools (``finish_reason`` ``tool_calls``) is not an
answer yet: its text passes unchecked.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from liteagent.errors import LLMProviderError
from liteagent.llm import BaseLLMProvider, ChatOptions, LLMMessage
from liteagent.log import get_logger
from liteagent.proxy.events import (
    RunEvent,
    RunFinished,
    SourcesEvent,
    StatusUpdate,
    TextDelta,
    ToolStep,
    UsageReport,
)
from liteagent.proxy.request_options import ResponseFormat

__all__ = ["extract_json", "instruction", "json_answer"]

logger = get_logger(__name__)

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_MAX_STARTS = 50


def instruction(fmt: ResponseFormat) -> str:
    """The system message that asks for JSON."""
    if fmt.schema is None:
        return (
            "Answer with a single JSON object and nothing else: no prose, no markdown, no code "
            "fences."
        )
    schema = json.dumps(fmt.schema, ensure_ascii=False)
    return (
        "Answer with a single JSON value that matches this JSON schema, and nothing else: no "
        f"prose, no markdown, no code fences.\nJSON schema ({fmt.name}): {schema}"
    )


def extract_json(text: str) -> tuple[bool, Any]:
    """``(True, value)`` for the JSON value ``text`` holds, else ``(False, None)``."""
    decoder = json.JSONDecoder()
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            return True, json.loads(candidate)
        except ValueError:
            continue
    starts = [i for i, c in enumerate(text) if c in "{["][:_MAX_STARTS]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        return True, value
    return False, None


def _problem(fmt: ResponseFormat, text: str) -> tuple[str | None, Any]:
    found, value = extract_json(text)
    if not found:
        return "the answer is not JSON", None
    return fmt.problem(value), value


async def _repair(
    fmt: ResponseFormat, provider: BaseLLMProvider, answer: str, problem: str
) -> tuple[str, UsageReport]:
    messages = [
        LLMMessage(role="system", content=instruction(fmt)),
        LLMMessage(
            role="user",
            content=(
                f"This answer does not fit the required JSON format ({problem}):\n\n{answer}\n\n"
                "Reply with the corrected JSON only."
            ),
        ),
    ]
    response = await provider.chat(
        messages, ChatOptions(temperature=0.0, response_format=fmt.to_openai())
    )
    return response.content, UsageReport(response.usage, model=provider.model_id)


async def json_answer(
    run: AsyncGenerator[RunEvent, None],
    fmt: ResponseFormat,
    provider: BaseLLMProvider,
    *,
    owned: bool = False,
) -> AsyncGenerator[RunEvent, None]:
    """The run's events with its answer text made the JSON ``fmt`` asks for.

    Args:
        run: The run (its model was asked for JSON: see ``instruction``).
        fmt: The request's response format.
        provider: The model asked to correct an answer that does not fit.
        owned: Close ``provider`` at the end (it was made for this request).

    Raises:
        LLMProviderError: The model did not produce fitting JSON, twice.
    """
    text: list[str] = []
    try:
        async with aclosing(run) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, ToolStep | SourcesEvent):
                    continue  # rendered into the content, they would break the JSON
                elif isinstance(event, RunFinished):
                    async for out in _finish(fmt, provider, "".join(text), event):
                        yield out
                    return
                else:
                    yield event
    finally:
        if owned:
            await provider.aclose()


async def _finish(
    fmt: ResponseFormat, provider: BaseLLMProvider, answer: str, finished: RunFinished
) -> AsyncGenerator[RunEvent, None]:
    if finished.finish_reason == "tool_calls":  # not the answer yet: the client runs its tools
        if answer:
            yield TextDelta(answer)
        yield finished
        return
    problem, value = _problem(fmt, answer)
    if problem is not None:
        logger.info("json_answer_repair", problem=problem, schema=fmt.name)
        yield StatusUpdate("Correcting the JSON answer…")
        answer, usage = await _repair(fmt, provider, answer, problem)
        yield usage
        yield StatusUpdate("Corrected the JSON answer", done=True)
        problem, value = _problem(fmt, answer)
    if problem is not None:
        logger.warning("json_answer_failed", problem=problem, schema=fmt.name)
        raise LLMProviderError(
            "the model did not produce JSON matching the schema"
            f"{'' if fmt.schema is None else f' {fmt.name!r}'} ({problem}), also when asked "
            "to correct it. Try again, or use a more capable model.",
            provider=provider.provider_name,
            model=provider.model_name,
        )
    yield TextDelta(json.dumps(value, ensure_ascii=False))
    yield finished
