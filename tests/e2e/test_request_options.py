"""End to end through the real LiteLLM proxy with the ``openai`` SDK: ``response_format``
answered with JSON that matches the schema, the client's own tools (``client_tools: offer``)
returned as ``tool_calls`` and continued from the client's result, and malformed parameters
refused with a 400 before any model is called."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

CATALOG = """
providers:
  up:
    type: openai
    base_url: {url}
    api_key: sk-upstream-0123456789abcdef
models:
  shaper:
    description: Answers in the shape the client asks for.
    model: up/gpt-shape
    system_prompt: You extract data.
  toolbot:
    description: Uses the client's own tools.
    model: up/gpt-tools
    system_prompt: You help with the weather.
    client_tools: offer
"""
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


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Any) -> Iterator[Proxy]:
    _, url = upstream
    project = make_project(tmp_path_factory.mktemp("options"), CATALOG.format(url=url))
    env = {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db"}
    with run_proxy(project, env, wait_for="liteagent/toolbot") as p:
        yield p


@pytest.fixture
def client(proxy: Proxy, upstream: Any) -> openai.OpenAI:
    upstream[0].replies.clear()
    upstream[0].requests.clear()
    return openai.OpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=120, max_retries=0
    )


def test_json_schema_answer_is_valid_json(client: openai.OpenAI, upstream: Any) -> None:
    server, _ = upstream
    server.reply_text('Sure! {"name": "Ada", "age": 36}')
    resp = client.chat.completions.create(
        model="liteagent/shaper",
        messages=[{"role": "user", "content": "Ada Lovelace, 36."}],
        response_format=PERSON,  # type: ignore[arg-type]
    )
    assert json.loads(resp.choices[0].message.content or "") == {"name": "Ada", "age": 36}
    sent = server.requests[0]["body"]
    assert sent["response_format"]["json_schema"]["name"] == "person"


def test_json_schema_streams_valid_json_after_one_repair(
    client: openai.OpenAI, upstream: Any
) -> None:
    server, _ = upstream
    server.reply_text('{"name": "Ada"}')
    server.reply_text('{"name": "Ada", "age": 36}')
    stream = client.chat.completions.create(
        model="liteagent/shaper",
        messages=[{"role": "user", "content": "Ada Lovelace, 36."}],
        response_format=PERSON,  # type: ignore[arg-type]
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert json.loads(text) == {"name": "Ada", "age": 36}
    assert len(server.requests) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_client_tool_call_then_result_then_answer(
    client: openai.OpenAI, upstream: Any, stream: bool
) -> None:
    server, _ = upstream
    server.reply_tool_call("get_weather", {"city": "Oslo"})
    server.reply_text("It is sunny in Oslo, 21 C.")
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="liteagent/toolbot", messages=messages, tools=[WEATHER], stream=True
            )
        )
        calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
        finish = [
            c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
        ]
        assert finish == ["tool_calls"]
        assert len(calls) == 1 and calls[0].function is not None
        call_id, name, arguments = calls[0].id, calls[0].function.name, calls[0].function.arguments
    else:
        resp = client.chat.completions.create(
            model="liteagent/toolbot", messages=messages, tools=[WEATHER]
        )
        assert resp.choices[0].finish_reason == "tool_calls"
        [call] = resp.choices[0].message.tool_calls or []
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    assert name == "get_weather" and json.loads(arguments or "{}") == {"city": "Oslo"}
    offered = server.requests[0]["body"]["tools"]
    assert [t["function"]["name"] for t in offered] == ["get_weather"]

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21 C"},
    ]
    resp = client.chat.completions.create(
        model="liteagent/toolbot", messages=messages, tools=[WEATHER]
    )
    assert (resp.choices[0].message.content or "").strip() == "It is sunny in Oslo, 21 C."
    assert resp.choices[0].finish_reason == "stop"
    continued = server.requests[1]["body"]["messages"]
    assert continued[-1] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": "sunny, 21 C",
        "name": "get_weather",
    }


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"n": 2}, "n=2 is not supported"),
        ({"temperature": float("nan")}, "'temperature' must be a number from 0 to 2"),
        ({"stop": [1]}, "'stop' must be"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema is required"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "content[0]"),
    ],
)
def test_malformed_parameters_are_400_and_reach_no_model(
    proxy: Proxy, upstream: Any, body: dict[str, Any], says: str
) -> None:
    server, _ = upstream
    server.requests.clear()
    payload = {"model": "liteagent/shaper", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        content=json.dumps({**payload, **body}),
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]["message"]
    assert "Traceback" not in r.text
    assert server.requests == []


USER = {"role": "user", "content": "hi"}
BAD_MESSAGES: list[Any] = [
    None, "hi", 1, {}, [], [1], ["hi"], [{}], [{"role": "x", "content": "a"}], [{"role": "user"}],
    [{"role": "user", "content": 1}], [{"role": "user", "content": 1.5}],
    [{"role": "user", "content": True}], [{"role": "user", "content": {"a": 1}}],
    [{"role": "user", "content": [1]}], [{"role": "user", "content": ["hi"]}],
    [{"role": "user", "content": [{}]}], [{"role": "user", "content": [{"type": "nope"}]}],
    [{"role": "user", "content": [{"type": "text"}]}],
    [{"role": "user", "content": [{"type": "text", "text": 5}]}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 3}}]}],
    [{"role": "user", "content": [{"type": "input_audio", "input_audio": "x"}]}],
    [{"role": "user", "content": [{"type": "file", "file": 1}]}],
    [{"role": "user", "content": [{"type": "refusal", "refusal": 1}]}],
    [{"role": "assistant", "content": 3}, USER], [{"role": "tool", "content": 3}, USER],
    [{"role": "system", "content": None}, USER], [{"role": 5, "content": "a"}],
    [{"role": "user", "content": "a", "name": 5}],
    [{"role": "assistant", "content": None, "tool_calls": "x"}, USER],
    [{"role": "assistant", "content": None, "tool_calls": [1]}, USER],
    [{"role": "tool", "content": "r", "tool_call_id": 5}, USER],
]  # fmt: skip
BAD_OPTIONS: list[dict[str, Any]] = [
    {"temperature": float("nan")}, {"temperature": float("inf")}, {"temperature": -1},
    {"temperature": 3}, {"temperature": "hot"}, {"temperature": True}, {"temperature": [1]},
    {"top_p": -1}, {"top_p": 2}, {"top_p": "x"}, {"max_tokens": 0}, {"max_tokens": -5},
    {"max_tokens": 1.5}, {"max_tokens": "10"}, {"max_tokens": 10**12},
    {"max_completion_tokens": 0}, {"n": 2}, {"n": 0}, {"n": "x"}, {"stop": 1}, {"stop": [1]},
    {"stop": ["a"] * 10}, {"stop": {"a": 1}}, {"response_format": "json"},
    {"response_format": 5}, {"response_format": {}}, {"response_format": {"type": "nope"}},
    {"response_format": {"type": "json_schema"}},
    {"response_format": {"type": "json_schema", "json_schema": {"schema": 5}}},
    {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "wat"}}}},
    {"tools": "x"}, {"tools": [1]}, {"tools": [{}]}, {"tools": [{"type": "function"}]},
    {"tools": [{"type": "function", "function": {"name": 5}}]}, {"tool_choice": 5},
    {"tool_choice": "sometimes"}, {"tool_choice": {"type": "function"}},
    {"tool_choice": "required"}, {"logprobs": True}, {"seed": "x"}, {"logit_bias": 5},
]  # fmt: skip


NOT_OBJECTS = ["[]", "null", "1", "2.5", "true", '"x"', '[{"model": "liteagent/shaper"}]']


def test_a_body_that_is_not_a_json_object_gets_a_400(proxy: Proxy) -> None:
    """LiteLLM's key check fails on such a body before any hook (500, or a dropped
    connection): the handler's body guard answers 400 with OpenAI's error shape instead."""
    with httpx.Client(timeout=60) as http:
        for body in NOT_OBJECTS:
            for path in ("/v1/chat/completions", "/chat/completions", "/v1/embeddings"):
                r = http.post(
                    f"{proxy.base_url}{path}",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {MASTER_KEY}",
                        "Content-Type": "application/json",
                    },
                )
                assert r.status_code == 400, (body, path, r.text)
                error = r.json()["error"]
                assert error["type"] == "invalid_request_error"
                assert "must be a JSON object" in error["message"]
        # An object still reaches the handler (and its own checks).
        r = http.post(
            f"{proxy.base_url}/v1/chat/completions",
            json={"model": "liteagent/shaper", "messages": [{"role": "user", "content": 5}]},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
        )
        assert r.status_code == 400 and "content" in r.text


def test_malformed_requests_get_a_4xx_never_a_5xx(proxy: Proxy, upstream: Any) -> None:
    """Every malformed request body (an object) through the real proxy: a 4xx with a clean
    message."""
    server, _ = upstream
    server.replies.clear()
    server.reply_text('{"ok": true}', sticky=True)
    bodies = [{"messages": m} for m in BAD_MESSAGES]
    bodies += [{"messages": [USER], **o} for o in BAD_OPTIONS]
    failures: list[str] = []
    with httpx.Client(timeout=60) as http:
        for body in bodies:
            for stream in (False, True):
                r = http.post(
                    f"{proxy.base_url}/v1/chat/completions",
                    content=json.dumps({"model": "liteagent/shaper", "stream": stream, **body}),
                    headers={
                        "Authorization": f"Bearer {MASTER_KEY}",
                        "Content-Type": "application/json",
                    },
                )
                if not 400 <= r.status_code < 500 or "Traceback" in r.text:
                    failures.append(f"{r.status_code} stream={stream} {body!r}: {r.text[:200]}")
    server.replies.clear()
    assert failures == [], "\n".join(failures)
