"""Property: whatever a client sends, the handler answers or refuses with a 4xx; never a 5xx.

Arbitrary JSON-like ``messages`` and OpenAI options (well-formed and not) go through
``LiteAgentLLM.acompletion`` / ``astreaming`` exactly as LiteLLM calls them, against an agent
whose scripted model always answers.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import ModelResponse

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["http://[", "approve", "### Task:", "<details>x</details>", "text"]),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
parts = st.one_of(
    json_like,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "x"])},
        optional={
            "text": json_like,
            "image_url": json_like,
            "input_audio": json_like,
            "file": json_like,
            "refusal": json_like,
        },
    ),
)
good_message = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.just("user"),
            "content": st.one_of(
                st.text(max_size=20),
                st.lists(
                    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=8)}),
                    min_size=1,
                    max_size=2,
                ),
            ),
        }
    ),
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "assistant"]), "content": st.text(max_size=20)}
    ),
)
good_messages = st.lists(good_message, max_size=3).map(
    lambda ms: [*ms, {"role": "user", "content": "question"}]
)
messages_ = st.one_of(
    json_like,
    st.lists(
        st.one_of(
            json_like,
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "assistant", "system", "tool", "developer"])},
                optional={
                    "content": st.one_of(json_like, st.lists(parts, max_size=3)),
                    "name": json_like,
                    "tool_call_id": json_like,
                    "tool_calls": json_like,
                },
            ),
        ),
        max_size=4,
    ),
)
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
tool = st.one_of(
    json_like,
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": st.fixed_dictionaries(
                {"name": st.sampled_from(["get_weather", "a b", ""])},
                optional={"parameters": json_like, "description": json_like},
            ),
        }
    ),
)
options = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.one_of(st.floats(0, 2), json_like),
        "top_p": st.one_of(st.floats(0, 1), json_like),
        "max_tokens": st.one_of(st.integers(1, 4096), json_like),
        "n": st.one_of(st.just(1), json_like),
        "stop": st.one_of(st.lists(st.text(min_size=1, max_size=4), max_size=4), json_like),
        "seed": json_like,
        "logprobs": json_like,
        "response_format": st.one_of(
            json_like,
            st.fixed_dictionaries(
                {"type": st.sampled_from(["json_object", "json_schema", "text", "x"])},
                optional={
                    "json_schema": st.one_of(
                        json_like,
                        st.fixed_dictionaries(
                            {
                                "name": st.just("out"),
                                "schema": st.sampled_from(
                                    [{"type": "object"}, {"type": "array"}, {"required": ["a"]}]
                                ),
                            }
                        ),
                    )
                },
            ),
        ),
        "tools": st.one_of(json_like, st.lists(tool, max_size=3)),
        "tool_choice": st.one_of(
            json_like,
            st.sampled_from(["auto", "none", "required"]),
            st.just({"type": "function", "function": {"name": "get_weather"}}),
        ),
    },
)


good_options = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 4096),
        "n": st.just(1),
        "stop": st.lists(st.text(min_size=1, max_size=4), max_size=4),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}},
            ]
        ),
        "tools": st.just([WEATHER]),
        "tool_choice": st.sampled_from(["auto", "none"]),
    },
)


# mostly well-formed requests with one thing wrong: each check is reached on its own
one_bad_option = st.tuples(
    good_options,
    st.sampled_from(
        [
            "temperature",
            "top_p",
            "max_tokens",
            "n",
            "stop",
            "seed",
            "logprobs",
            "response_format",
            "tools",
            "tool_choice",
            "max_completion_tokens",
        ]
    ),
    json_like,
).map(lambda t: {**t[0], t[1]: t[2]})
one_bad_message = st.tuples(
    st.lists(good_message, min_size=1, max_size=3),
    st.one_of(
        json_like,
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "tool"]), "content": st.lists(parts)}
        ),
    ),
).map(lambda t: [*t[0], t[1], {"role": "user", "content": "question"}])


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> LiteAgentLLM:
    folder = tmp_path_factory.mktemp("fuzz")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(['{"answer": "always"}'] * 5000))
    bot = {
        "system_prompt": "You are a test bot.",
        "model": f"scripted/{script}",
        "client_tools": "offer",
    }
    return LiteAgentLLM(
        settings=Settings(database_url=f"sqlite+aiosqlite:///{folder}/la.db"),
        catalog=parse_catalog({"models": {"bot": bot}}),
    )


def _kwargs(optional: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_response": ModelResponse(),
        "optional_params": optional,
        "litellm_params": {"metadata": {"user_api_key_user_id": "fuzz"}, "litellm_call_id": "f"},
    }


def test_no_request_gets_a_5xx(handler: LiteAgentLLM) -> None:
    answered: list[bool] = []

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        request=st.one_of(
            st.tuples(good_messages, good_options),
            st.tuples(good_messages, one_bad_option),
            st.tuples(one_bad_message, good_options),
            st.tuples(messages_, options),
        ),
        stream=st.booleans(),
    )
    def one_request(request: tuple[Any, dict[str, Any]], stream: bool) -> None:
        messages, optional = request
        try:
            if stream:
                for _ in handler.streaming("bot", messages, **_kwargs(optional)):
                    pass
            else:
                handler.completion("bot", messages, **_kwargs(optional))
        except CustomLLMError as exc:
            assert "Traceback" not in exc.message
            if exc.status_code == 502 and "did not produce JSON matching the schema" in exc.message:
                # the one 5xx that is the model's: its answer cannot fit the fuzzed schema
                assert optional["response_format"]["type"] == "json_schema"
                return
            assert 400 <= exc.status_code < 500, (exc.status_code, exc.message)
        else:
            answered.append(True)

    try:
        one_request()
    finally:
        handler.close()
    assert len(answered) >= 20  # the fuzz reached the model too, not only the refusals
