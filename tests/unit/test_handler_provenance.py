"""The handler reports which model answered (after a fallback), how many model calls a run made
and what they cost, in the response (LiteLLM's ``response_cost`` included) and its logs."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import litellm
import pytest
import yaml
from litellm.types.utils import ModelResponse

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.llm import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMResponse,
    ResilientLLM,
    ScriptedModel,
    Usage,
    create_llm,
    record_llm_calls,
)
from liteagent.llm.base import MessageLike
from liteagent.llm.pricing import CallPricer
from liteagent.llm.provider_specs import ModelChainSpec
from liteagent.llm.testing import count_words
from liteagent.proxy import LiteAgentLLM


def handler_with_chain(tmp_path: Path) -> LiteAgentLLM:
    down = tmp_path / "down.yaml"
    down.write_text(yaml.safe_dump([{"error": "upstream is down"}] * 4))
    up = tmp_path / "up.yaml"
    up.write_text(yaml.safe_dump(["answer from the backup"] * 4))
    models = {
        "bot": {
            "system_prompt": "You are a test bot.",
            "model": {"fallbacks": [f"scripted/{down}", f"scripted/{up}"]},
        },
        "plain": {"system_prompt": "You are plain.", "model": f"scripted/{up}"},
    }
    return LiteAgentLLM(
        settings=Settings(_env_file=None), catalog=parse_catalog({"models": models})
    )


def kwargs() -> dict[str, Any]:
    return {
        "model_response": ModelResponse(),
        "optional_params": {},
        "litellm_params": {"metadata": {"user_api_key_user_id": "u1"}, "litellm_call_id": "r1"},
    }


async def test_completion_carries_provenance_body_and_headers(tmp_path: Path) -> None:
    handler = handler_with_chain(tmp_path)
    resp = await handler.acompletion(
        "liteagent/bot", [{"role": "user", "content": "hi"}], **kwargs()
    )
    assert resp.choices[0].message.content == "answer from the backup"
    meta = resp.liteagent  # type: ignore[attr-defined]
    assert meta["model"].endswith("up.yaml") and meta["requested_model"].endswith("down.yaml")
    assert meta["fallback_used"] is True
    assert [a["reason"] for a in meta["attempts"]] == ["error"]
    assert resp.model_dump()["liteagent"] == meta  # serialised into the JSON body
    headers = resp._hidden_params["additional_headers"]
    assert headers["x-liteagent-fallback"] == "true"
    assert headers["x-liteagent-model"] == meta["model"]


async def test_stream_carries_provenance_on_the_last_chunk(tmp_path: Path) -> None:
    handler = handler_with_chain(tmp_path)
    chunks = [
        c
        async for c in handler.astreaming(
            "liteagent/bot", [{"role": "user", "content": "hi"}], **kwargs()
        )
    ]
    last = chunks[-1]
    assert isinstance(last, dict) and last["is_finished"]
    meta = last["provider_specific_fields"]["liteagent"]
    assert meta["model"].endswith("up.yaml") and meta["fallback_used"] is True
    assert not any(
        isinstance(c, dict) and "liteagent" in (c.get("provider_specific_fields") or {})
        for c in chunks[:-1]
    )


async def test_plain_model_reports_itself(tmp_path: Path) -> None:
    handler = handler_with_chain(tmp_path)
    resp = await handler.acompletion(
        "liteagent/plain", [{"role": "user", "content": "hi"}], **kwargs()
    )
    meta = resp.liteagent  # type: ignore[attr-defined]
    assert meta["model"] == meta["requested_model"] and meta["model"].startswith("scripted/")
    # the in-process model is used directly (no chain around it): its call counts all the same
    assert meta["fallback_used"] is False and meta["llm_calls"] == 1
    assert meta["cost"] == 0.0 and resp._hidden_params["response_cost"] == 0.0  # unpriced


CALC = {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]}
HOUSE_IN, HOUSE_OUT = 3e-06, 1.1e-05


def priced_agent(tmp_path: Path, script: list[Any], **entry: Any) -> LiteAgentLLM:
    """An agent with a calculator on a scripted model that its provider entry prices."""
    path = tmp_path / "calc.yaml"
    path.write_text(yaml.safe_dump(script))
    catalog = {
        "providers": {
            "house": {
                "type": "scripted",
                "input_cost_per_token": HOUSE_IN,
                "output_cost_per_token": HOUSE_OUT,
            }
        },
        "models": {
            "calc": {
                "system_prompt": "You compute.",
                "model": f"house/{path}",
                "tools": ["calculator"],
                **entry,
            }
        },
    }
    return LiteAgentLLM(settings=Settings(_env_file=None), catalog=parse_catalog(catalog))


async def collect(stream: AsyncIterator[Any], *, task_per_chunk: bool = False) -> list[Any]:
    """Drain a stream; with ``task_per_chunk`` each chunk is fetched by a task of its own, as
    LiteLLM's proxy fetches the first chunk of a stream."""
    chunks = []
    while True:
        try:
            step = stream.__anext__()
            chunks.append(await (asyncio.ensure_future(step) if task_per_chunk else step))
        except StopAsyncIteration:
            return chunks


async def test_every_call_of_an_agent_run_is_counted_and_priced(tmp_path: Path) -> None:
    handler = priced_agent(tmp_path, [CALC, "It is 42."])
    resp = await handler.acompletion(
        "liteagent/calc", [{"role": "user", "content": "What is 6*7?"}], **kwargs()
    )
    assert resp.choices[0].message.content.endswith("It is 42.")
    meta = resp.liteagent  # type: ignore[attr-defined]
    assert meta["llm_calls"] == 2  # the tool call, then the answer
    usage = resp.usage  # type: ignore[attr-defined]
    expected = usage.prompt_tokens * HOUSE_IN + usage.completion_tokens * HOUSE_OUT
    assert expected > 0 and math.isclose(meta["cost"], expected, rel_tol=1e-12)
    assert resp._hidden_params["response_cost"] == meta["cost"]  # what LiteLLM charges


@pytest.mark.parametrize("task_per_chunk", [False, True])
async def test_a_stream_counts_every_call_and_carries_the_cost_in_its_usage(
    tmp_path: Path, task_per_chunk: bool
) -> None:
    handler = priced_agent(tmp_path, [CALC, "It is 42."])
    stream = handler.astreaming(
        "liteagent/calc", [{"role": "user", "content": "What is 6*7?"}], **kwargs()
    )
    last = (await collect(stream, task_per_chunk=task_per_chunk))[-1]
    meta = last["provider_specific_fields"]["liteagent"]
    assert meta["llm_calls"] == 2
    usage = last["usage"]
    expected = usage["prompt_tokens"] * HOUSE_IN + usage["completion_tokens"] * HOUSE_OUT
    assert math.isclose(meta["cost"], expected, rel_tol=1e-12)
    assert usage["cost"] == meta["cost"]  # LiteLLM's stream builder takes response_cost from it


async def test_the_entry_price_wins_over_the_provider_price(tmp_path: Path) -> None:
    handler = priced_agent(
        tmp_path, [CALC, "It is 42."], input_cost_per_token=0.5, output_cost_per_token=2.0
    )
    resp = await handler.acompletion(
        "liteagent/calc", [{"role": "user", "content": "What is 6*7?"}], **kwargs()
    )
    usage = resp.usage  # type: ignore[attr-defined]
    expected = usage.prompt_tokens * 0.5 + usage.completion_tokens * 2.0
    assert resp.liteagent["cost"] == pytest.approx(expected, rel=1e-12)  # type: ignore[attr-defined]


async def test_calls_after_a_fallback_are_priced_by_the_model_that_answered(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(yaml.safe_dump([CALC, {"error": "first is down"}]))
    second.write_text(yaml.safe_dump(["It is 42."]))
    catalog = {
        "providers": {
            "cheap": {
                "type": "scripted",
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 2e-6,
            },
            "dear": {
                "type": "scripted",
                "input_cost_per_token": 1e-5,
                "output_cost_per_token": 3e-5,
            },
        },
        "models": {
            "calc": {
                "system_prompt": "You compute.",
                "model": {
                    "fallbacks": [f"cheap/{first}", f"dear/{second}"],
                    "retry": {"max_retries": 0},
                },
                "tools": ["calculator"],
            }
        },
    }
    handler = LiteAgentLLM(settings=Settings(_env_file=None), catalog=parse_catalog(catalog))
    resp = await handler.acompletion(
        "liteagent/calc", [{"role": "user", "content": "What is 6*7?"}], **kwargs()
    )
    meta = resp.liteagent  # type: ignore[attr-defined]
    assert meta["llm_calls"] == 2 and meta["fallback_used"] is True
    assert meta["model"] == f"dear/{second}" and meta["requested_model"] == f"cheap/{first}"
    runner = next(iter(handler.cache._lru.values()))
    chain = runner.provider  # type: ignore[attr-defined]
    assert isinstance(chain, ResilientLLM)
    cheap, dear = chain.provider_for(f"cheap/{first}"), chain.provider_for(f"dear/{second}")
    assert isinstance(cheap, ScriptedModel) and isinstance(dear, ScriptedModel)
    tool_call_prompt = count_words(cheap.calls[0][0])  # the failed second attempt is not billed
    answer_prompt = count_words(dear.calls[0][0])
    expected = (tool_call_prompt * 1e-6 + 1 * 2e-6) + (answer_prompt * 1e-5 + 3 * 3e-5)
    assert math.isclose(meta["cost"], expected, rel_tol=1e-12)


def test_known_models_are_priced_from_litellms_price_map() -> None:
    price = CallPricer()
    info = litellm.model_cost["gpt-4o-mini"]
    expected = 1200 * info["input_cost_per_token"] + 300 * info["output_cost_per_token"]
    assert price.cost("openai/gpt-4o-mini", 1200, 300) == pytest.approx(expected, rel=1e-12)
    assert price.cost("local/smollm2", 1200, 300) == 0.0  # the bundled model is free
    # a price in the providers section beats the map, side by side
    house = parse_catalog(
        {"providers": {"openai": {"input_cost_per_token": 1e-3}}, "models": {}}
    ).providers
    mixed = CallPricer(providers=house).cost("openai/gpt-4o-mini", 1200, 300)
    assert mixed == pytest.approx(1200 * 1e-3 + 300 * info["output_cost_per_token"], rel=1e-12)


class Echo(BaseLLMProvider):
    """A provider whose stream is built on its own chat (as a plugin may do)."""

    provider_name = "echo"
    network = False

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        return LLMResponse(content="echo", model=self.model_name, usage=Usage(5, 1))

    async def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        answer = await self.chat(messages, options)
        yield LLMChunk(content=answer.content)
        yield LLMChunk(usage=answer.usage, finish_reason="stop")


async def test_each_provider_call_is_recorded_once_with_its_usage(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text(yaml.safe_dump(["one two three"] * 4))
    settings = Settings(_env_file=None)
    direct = create_llm(f"scripted/{script}", settings=settings)
    chained = create_llm(ModelChainSpec(fallbacks=[f"scripted/{tmp_path / 's.yaml'}"]))
    assert isinstance(direct, ScriptedModel) and isinstance(chained, ResilientLLM)
    echo = Echo(model_name="e")
    hi = [{"role": "user", "content": "hi there"}]
    with record_llm_calls() as calls:
        await echo.chat(hi)
        [c async for c in echo.stream(hi)]
        await direct.chat(hi)
        [c async for c in direct.stream(hi)]
        await chained.chat(hi)  # the chain's model answers inside the chain's call
        [c async for c in chained.stream(hi)]
    assert [(c.model, c.prompt_tokens, c.completion_tokens) for c in calls] == [
        ("echo/e", 5, 1),
        ("echo/e", 5, 1),  # the stream's inner chat is not a second call
        *[(f"scripted/{script}", 2, 3)] * 4,
    ]


ROOT = Path(__file__).resolve().parents[2]


def other_kinds(tmp_path: Path) -> dict[str, Any]:
    """A workflow whose billing desk is a scripted agent, and an Agno agent, both priced."""
    script = tmp_path / "answers.yaml"
    script.write_text(yaml.safe_dump(["We will refund the double charge."] * 4))
    triage = yaml.safe_load((ROOT / "liteagent.yaml").read_text())["models"]["triage"]
    triage["nodes"]["billing_desk"]["model"] = f"scripted/{script}"
    price = {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}
    assistant = {"kind": "agno", "instructions": "Answer briefly.", "model": f"scripted/{script}"}
    return {"models": {"triage": {**triage, **price}, "assistant": {**assistant, **price}}}


@pytest.mark.parametrize("model", ["liteagent/triage", "liteagent/assistant"])
@pytest.mark.parametrize("stream", [False, True])
async def test_workflow_and_agno_runs_count_and_price_their_calls(
    tmp_path: Path, model: str, stream: bool
) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/la.db")
    handler = LiteAgentLLM(settings=settings, catalog=parse_catalog(other_kinds(tmp_path)))
    messages = [{"role": "user", "content": "I was charged twice for my invoice"}]
    if stream:
        chunks = await collect(handler.astreaming(model, messages, **kwargs()), task_per_chunk=True)
        meta = chunks[-1]["provider_specific_fields"]["liteagent"]
        prompt, completion = (
            chunks[-1]["usage"]["prompt_tokens"],
            chunks[-1]["usage"]["completion_tokens"],
        )
    else:
        resp = await handler.acompletion(model, messages, **kwargs())
        meta = resp.liteagent  # type: ignore[attr-defined]
        prompt, completion = resp.usage.prompt_tokens, resp.usage.completion_tokens  # type: ignore[attr-defined]
    assert meta["llm_calls"] == 1 and meta["model"].startswith("scripted/")
    assert completion == 6  # the scripted answer's words: the one call's usage is the run's
    assert math.isclose(meta["cost"], prompt * 1e-6 + completion * 4e-6, rel_tol=1e-12)
