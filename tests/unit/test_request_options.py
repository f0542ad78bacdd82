"""Every OpenAI parameter is honoured or refused: driven through the handler as LiteLLM does,
with the in-package scripted model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import ModelResponse, ModelResponseStream

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.llm.base import ChatOptions, LLMMessage
from liteagent.proxy import LiteAgentLLM

HI = [{"role": "user", "content": "hi"}]
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def handler_for(tmp_path: Path, script: list[Any], **entry: Any) -> LiteAgentLLM:
    path = tmp_path / f"script-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(script))
    model = {"system_prompt": "You are a test bot.", "model": f"scripted/{path}", **entry}
    return LiteAgentLLM(
        settings=Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/la.db"),
        catalog=parse_catalog({"models": {"bot": model}}),
    )


def kwargs(**optional: Any) -> dict[str, Any]:
    return {
        "model_response": ModelResponse(),
        "optional_params": optional,
        "litellm_params": {"metadata": {"user_api_key_user_id": "u"}, "litellm_call_id": "r1"},
    }


def sent(handler: LiteAgentLLM, call: int = 0) -> tuple[list[LLMMessage], ChatOptions]:
    runner = next(iter(handler.cache._lru.values()))
    return runner.provider.calls[call]  # type: ignore[no-any-return]


async def refused(handler: LiteAgentLLM, messages: Any, *, stream: bool, **optional: Any) -> str:
    with pytest.raises(CustomLLMError) as err:
        if stream:
            async for _ in handler.astreaming("bot", messages, **kwargs(**optional)):
                pass
        else:
            await handler.acompletion("bot", messages, **kwargs(**optional))
    assert err.value.status_code == 400, err.value.message
    return str(err.value.message)


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("optional", "says"),
    [
        ({"temperature": float("nan")}, "'temperature' must be a number from 0 to 2"),
        ({"temperature": float("inf")}, "'temperature' must be a number from 0 to 2"),
        ({"temperature": 2.5}, "'temperature' must be a number from 0 to 2"),
        ({"temperature": "hot"}, "'temperature'"),
        ({"top_p": 1.5}, "'top_p' must be a number from 0 to 1"),
        ({"max_tokens": 0}, "'max_tokens' must be a whole number from 1"),
        ({"max_tokens": 10**12}, "'max_tokens' must be a whole number from 1 to 1000000"),
        ({"max_tokens": 1.5}, "'max_tokens'"),
        ({"n": 2}, "n=2 is not supported: liteagent models give one answer per request"),
        ({"n": 0}, "'n' must be 1"),
        ({"stop": [1]}, "'stop' must be"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "up to 4"),
        ({"response_format": "json"}, "'response_format' must be an object"),
        ({"response_format": {"type": "xml"}}, "response_format.type must be"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema is required"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema.schema must be",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "wat"}},
                }
            },
            "is not a valid JSON schema",
        ),
        ({"tools": "x"}, "'tools' must be an array"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "'tool_choice' must be"),
        ({"tool_choice": "required"}, "'tool_choice' is 'required' but the request has no"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
            "names the function 'x', which is not in 'tools'",
        ),
        # the entry ignores the client's tools: forcing one cannot be honoured
        ({"tools": [WEATHER], "tool_choice": "required"}, "needs client_tools: offer"),
        ({"logprobs": True}, "'logprobs' is not supported"),
        ({"seed": "x"}, "'seed' must be a number"),
    ],
)
async def test_bad_options_are_400_naming_the_parameter(
    tmp_path: Path, optional: dict[str, Any], says: str, stream: bool
) -> None:
    handler = handler_for(tmp_path, ["never sent"])
    message = await refused(handler, HI, stream=stream, **optional)
    assert says in message
    assert len(handler.cache) == 0  # nothing was built, nothing reached a model


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (1, "messages[0].content must be a string or an array of content parts (got int)"),
        (1.5, "(got float)"),
        (True, "(got bool)"),
        ({"text": "hi"}, "(got dict)"),
        ([1], "messages[0].content[0] must be an object"),
        ([{"type": "nope"}], "messages[0].content[0] has an unknown type 'nope'"),
        ([{"type": "text", "text": 5}], "messages[0].content[0] needs 'text' as a string"),
        ([{"type": "text", "text": "a"}, {"type": "image_url"}], "messages[0].content[1] needs"),
        ([{"type": "image_url", "image_url": {"url": 3}}], "content[0] needs 'image_url'"),
        ([{"type": "input_audio", "input_audio": "x"}], "needs 'input_audio'"),
        ([{"type": "file", "file": 1}], "needs 'file'"),
        ([{"type": "refusal", "refusal": 1}], "needs 'refusal' as a string"),
    ],
)
async def test_malformed_content_is_400_naming_the_part(
    tmp_path: Path, content: Any, where: str
) -> None:
    handler = handler_for(tmp_path, ["never sent"])
    message = await refused(handler, [{"role": "user", "content": content}], stream=False)
    assert where in message


@pytest.mark.parametrize(
    "messages",
    [
        "hi",
        [1],
        [{"role": "assistant", "content": None, "tool_calls": "x"}, *HI],
        [{"role": "assistant", "content": None, "tool_calls": [{"id": 1}]}, *HI],
        [{"role": "tool", "content": "r", "tool_call_id": 5}, *HI],
        [{"role": "user", "content": "a", "name": 5}],
    ],
)
async def test_malformed_messages_are_400(tmp_path: Path, messages: Any) -> None:
    handler = handler_for(tmp_path, ["never sent"])
    assert "messages" in await refused(handler, messages, stream=True)


async def test_known_content_parts_are_accepted(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ["seen"])
    content = [
        {"type": "text", "text": "look at "},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "f1"}},
        {"type": "text", "text": "this"},
    ]
    resp = await handler.acompletion("bot", [{"role": "user", "content": content}], **kwargs())
    assert resp.choices[0].message.content == "seen"
    messages, _ = sent(handler)
    assert messages[-1].content == "look at this"


# ----------------------------------------------------------------------------- honoured
async def test_sampling_options_and_stop_reach_the_model(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ["ok"], temperature=0.3, max_tokens=50)
    await handler.acompletion(
        "bot", HI, **kwargs(temperature=0.7, top_p=0.5, max_tokens=20, stop="END", n=1)
    )
    _, options = sent(handler)
    assert (options.temperature, options.top_p, options.max_tokens) == (0.7, 0.5, 20)
    assert options.stop == ("END",)


async def test_entry_defaults_apply_when_the_request_sets_none(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ["ok"], temperature=0.3, max_tokens=50)
    await handler.acompletion("bot", HI, **kwargs())
    _, options = sent(handler)
    assert (options.temperature, options.max_tokens, options.stop) == (0.3, 50, ())


async def test_stop_is_per_request_on_a_cached_agent(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ["one", "two"])
    await handler.acompletion("bot", HI, **kwargs(stop=["A"]))
    await handler.acompletion("bot", HI, **kwargs())
    assert len(handler.cache) == 1
    assert [sent(handler, i)[1].stop for i in (0, 1)] == [("A",), ()]


def test_providers_send_stop_top_p_and_response_format() -> None:
    from liteagent.llm.anthropic_provider import AnthropicProvider
    from liteagent.llm.ollama_provider import OllamaProvider
    from liteagent.llm.openai_provider import OpenAIProvider

    options = ChatOptions(
        top_p=0.5, stop=("END",), response_format={"type": "json_object"}, max_tokens=9
    )
    msgs = [LLMMessage(role="user", content="hi")]
    openai_req = OpenAIProvider(api_key="k", model_name="m")._request(msgs, options)
    assert (openai_req["top_p"], openai_req["stop"]) == (0.5, ["END"])
    assert openai_req["response_format"] == {"type": "json_object"}
    anthropic_req = AnthropicProvider(api_key="k", model_name="m")._request(msgs, options)
    assert (anthropic_req["top_p"], anthropic_req["stop_sequences"]) == (0.5, ["END"])
    ollama_req = OllamaProvider(model_name="m")._request(msgs, options, stream=False)
    assert ollama_req["options"]["stop"] == ["END"] and ollama_req["format"] == "json"


# ----------------------------------------------------------------------------- response_format
@pytest.mark.parametrize("stream", [False, True])
async def test_json_schema_answer_is_the_json_only(tmp_path: Path, stream: bool) -> None:
    handler = handler_for(tmp_path, ['Here you go:\n```json\n{"name": "Ada", "age": 36}\n```'])
    text = await answer(handler, stream=stream, response_format=PERSON)
    assert json.loads(text) == {"name": "Ada", "age": 36}
    messages, options = sent(handler)
    assert options.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON["json_schema"]["schema"]},
    }
    assert any(
        m.role == "system" and '"required": ["name", "age"]' in (m.content or "") for m in messages
    )


async def test_json_that_misses_the_schema_is_repaired_once(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ['{"name": "Ada"}', '{"name": "Ada", "age": 36}'])
    resp = await handler.acompletion("bot", HI, **kwargs(response_format=PERSON))
    assert json.loads(resp.choices[0].message.content) == {"name": "Ada", "age": 36}
    repair, _ = sent(handler, 1)
    assert "'age' is a required property" in (repair[-1].content or "")
    assert resp.usage.completion_tokens > 2  # the repair call is billed too


@pytest.mark.parametrize("stream", [False, True])
async def test_json_that_never_fits_is_a_clear_502(tmp_path: Path, stream: bool) -> None:
    handler = handler_for(tmp_path, ["I am not JSON", "still not JSON"])
    with pytest.raises(CustomLLMError) as err:
        await answer(handler, stream=stream, response_format={"type": "json_object"})
    assert err.value.status_code == 502
    assert "the model did not produce JSON matching the schema" in err.value.message
    assert "Traceback" not in err.value.message


async def test_json_object_tool_steps_stay_out_of_the_json(tmp_path: Path) -> None:
    script = [
        {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]},
        '{"answer": 42}',
    ]
    handler = handler_for(tmp_path, script, tools=["calculator"])
    text = await answer(handler, stream=True, response_format={"type": "json_object"})
    assert json.loads(text) == {"answer": 42}


# ----------------------------------------------------------------------------- client tools
async def answer(handler: LiteAgentLLM, *, stream: bool, messages: Any = None, **opt: Any) -> str:
    messages = messages or HI
    if not stream:
        resp = await handler.acompletion("bot", messages, **kwargs(**opt))
        return str(resp.choices[0].message.content)
    chunks = [c async for c in handler.astreaming("bot", messages, **kwargs(**opt))]
    return "".join(c["text"] for c in chunks if isinstance(c, dict))


CALL_WEATHER = {
    "tool_calls": [{"id": "call_w1", "name": "get_weather", "arguments": {"city": "Oslo"}}]
}


async def test_client_tools_are_ignored_by_default(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ["No tools here."])
    resp = await handler.acompletion("bot", HI, **kwargs(tools=[WEATHER]))
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].finish_reason == "stop"
    _, options = sent(handler)
    assert options.tools == ()


async def test_offered_client_tool_call_is_returned_then_continued(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, [CALL_WEATHER, "It is sunny in Oslo."], client_tools="offer")
    question = [{"role": "user", "content": "Weather in Oslo?"}]
    resp = await handler.acompletion("bot", question, **kwargs(tools=[WEATHER]))
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert (call.id, call.function.name) == ("call_w1", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    _, options = sent(handler)
    assert [t["function"]["name"] for t in options.tools] == ["get_weather"]

    follow_up = [
        *question,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21 C"},
    ]
    resp = await handler.acompletion("bot", follow_up, **kwargs(tools=[WEATHER]))
    assert resp.choices[0].message.content == "It is sunny in Oslo."
    assert resp.choices[0].finish_reason == "stop"
    messages, _ = sent(handler, 1)
    assert [m.role for m in messages][-3:] == ["user", "assistant", "tool"]
    assert messages[-2].tool_calls[0].name == "get_weather"
    assert (messages[-1].tool_call_id, messages[-1].content) == ("call_w1", "sunny, 21 C")


async def test_offered_client_tool_call_streams_as_delta_tool_calls(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, [CALL_WEATHER], client_tools="offer")
    chunks = [c async for c in handler.astreaming("bot", HI, **kwargs(tools=[WEATHER]))]
    deltas = [
        c.choices[0].delta.tool_calls
        for c in chunks
        if isinstance(c, ModelResponseStream) and c.choices[0].delta.tool_calls
    ]
    assert len(deltas) == 1 and deltas[0][0].function.name == "get_weather"
    assert chunks[-1]["finish_reason"] == "tool_calls"


async def test_tool_choice_naming_a_client_tool_forces_it(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, [CALL_WEATHER], client_tools="offer")
    choice = {"type": "function", "function": {"name": "get_weather"}}
    await handler.acompletion("bot", HI, **kwargs(tools=[WEATHER], tool_choice=choice))
    _, options = sent(handler)
    assert options.tool_choice == choice


async def test_tool_choice_none_offers_no_client_tools(tmp_path: Path) -> None:
    handler = handler_for(tmp_path, ["plain"], client_tools="offer")
    await handler.acompletion("bot", HI, **kwargs(tools=[WEATHER], tool_choice="none"))
    _, options = sent(handler)
    assert options.tools == ()


# ----------------------------------------------------------------------------- the proxy guard
async def test_guard_refuses_what_litellm_would_500_on_before_the_handler() -> None:
    from fastapi import HTTPException

    from liteagent.proxy import RequestGuard

    guard = RequestGuard()
    bad = {"model": "liteagent/bot", "messages": [{"role": "user", "content": 1}]}
    with pytest.raises(HTTPException) as err:
        await guard.async_pre_call_hook(None, None, bad, "acompletion")
    assert err.value.status_code == 400
    assert "messages[0].content must be a string" in str(err.value.detail)
    bad_format = {"model": "liteagent/bot", "messages": HI, "response_format": "json"}
    with pytest.raises(HTTPException):
        await guard.async_pre_call_hook(None, None, bad_format, "completion")
    # other models, and well-formed requests, pass untouched
    other = {"model": "gpt-4o", "messages": [{"role": "user", "content": 1}]}
    assert await guard.async_pre_call_hook(None, None, other, "acompletion") is None
    good = {"model": "liteagent/bot", "messages": HI, "temperature": 0.2, "tools": [WEATHER]}
    assert await guard.async_pre_call_hook(None, None, good, "acompletion") is None


# ----------------------------------------------------------------------------- other kinds
ROOT = Path(__file__).resolve().parents[2]


def other_kinds(tmp_path: Path) -> LiteAgentLLM:
    script = tmp_path / "answers.yaml"
    script.write_text(yaml.safe_dump(["An answer.", "Another answer."]))
    triage = yaml.safe_load((ROOT / "liteagent.yaml").read_text())["models"]["triage"]
    agno = {"kind": "agno", "instructions": "Answer briefly.", "model": f"scripted/{script}"}
    return LiteAgentLLM(
        settings=Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/la.db"),
        catalog=parse_catalog({"models": {"triage": triage, "helper": agno}}),
    )


async def test_agno_runs_get_the_requests_stop_and_top_p(tmp_path: Path) -> None:
    handler = other_kinds(tmp_path)
    await handler.acompletion("liteagent/helper", HI, **kwargs(stop=["END"], top_p=0.4))
    await handler.acompletion("liteagent/helper", HI, **kwargs())
    runner = next(iter(handler.cache._lru.values()))
    first, second = (options for _, options in runner.provider.calls)
    assert (first.stop, first.top_p) == (("END",), 0.4)
    assert (second.stop, second.top_p) == ((), None)  # the same cached agent, this request's own


@pytest.mark.parametrize("optional", [{"stop": "END"}, {"top_p": 0.5}])
async def test_workflows_refuse_stop_and_top_p(tmp_path: Path, optional: dict[str, Any]) -> None:
    handler = other_kinds(tmp_path)
    with pytest.raises(CustomLLMError) as err:
        async for _ in handler.astreaming("liteagent/triage", HI, **kwargs(**optional)):
            pass
    assert err.value.status_code == 400
    assert "a workflow runs several models" in err.value.message
