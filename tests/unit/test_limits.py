"""No request can hold the proxy: linear parsing of request text and limits checked first.

The inputs here are the ones that took seconds to minutes before (``"<details>" * N``, long
runs of spaces or letters, self-doubling JMESPath queries). The tests assert what comes out;
they would hang or run out of memory, not merely run slower, if the quadratic paths came back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st
from litellm.exceptions import APIError
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import ModelResponse

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.errors import HeaderTooLargeError, RequestTooLargeError
from liteagent.proxy import LiteAgentLLM
from liteagent.proxy.context import RequestContext, _details_blocks, strip_rendered_blocks
from liteagent.proxy.runners.agent_chat import (
    OFF_LOOP_CHARS,
    ChatTurn,
    fingerprint,
    is_approval_word,
    parse_reply,
    read_turn,
)
from liteagent.proxy.runners.workflow import normalise_answer
from liteagent.proxy.tasks import task_answer_json
from liteagent.rag.answer import strip_sources_section
from liteagent.redaction import redact_text
from liteagent.security import EncryptionService
from liteagent.toolkits import GitLabConfig, JiraConfig, MemoryCredentialBackend, TokenStorage
from liteagent.workflows import bounded_jmespath
from liteagent.workflows.errors import ExpressionError
from liteagent.workflows.extensions import condition_registry

DETAILS_360_KB = "<details>" * 40_000  # 360,000 characters of openers, none closed


def make_handler(tmp_path: Path, **settings: Any) -> LiteAgentLLM:
    script_file = tmp_path / "script.yaml"
    script_file.write_text(yaml.safe_dump(["fine"]))
    models = {"bot": {"system_prompt": "Test bot.", "model": f"scripted/{script_file}"}}
    return LiteAgentLLM(settings=Settings(**settings), catalog=parse_catalog({"models": models}))


def call_kwargs(headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "model_response": ModelResponse(),
        "optional_params": {},
        "litellm_params": {
            "metadata": {"user_api_key_user_id": "owui", "headers": headers or {}},
            "litellm_call_id": "req-1",
        },
    }


async def refused(handler: LiteAgentLLM, messages: Any, **kwargs: Any) -> CustomLLMError | APIError:
    """The error ``acompletion`` raises; ``astreaming`` must raise the same before any chunk.

    LiteLLM's own ``APIError`` carries a 413 through the proxy (it maps a ``CustomLLMError``
    of that status to 400); every other status goes as a ``CustomLLMError``.
    """
    with pytest.raises((CustomLLMError, APIError)) as completion:
        await handler.acompletion("bot", messages, **call_kwargs(**kwargs))
    stream = handler.astreaming("bot", messages, **call_kwargs(**kwargs))
    with pytest.raises((CustomLLMError, APIError)) as streamed:
        await anext(stream)
    assert (streamed.value.status_code, streamed.value.message) == (
        completion.value.status_code,
        completion.value.message,
    )
    return completion.value


# ----------------------------------------------------------------------- <details> blocks
def test_unclosed_openers_strip_nothing() -> None:
    assert strip_rendered_blocks(DETAILS_360_KB) == DETAILS_360_KB


def test_many_closed_blocks_are_all_stripped() -> None:
    text = '<details type="tool_calls" done="true">\n<summary>x</summary>\n</details>\nkeep '
    assert strip_rendered_blocks(text * 5_000) == "keep " * 5_000


def test_nested_blocks_go_whole_and_stray_closers_stay() -> None:
    assert strip_rendered_blocks("a<details><details>x</details>y</details>\nb") == "ab"
    assert strip_rendered_blocks("a<details>A <details>B</details> C") == "a<details>A C"
    assert strip_rendered_blocks("x</details><DETAILS open>y</Details>z") == "x</details>z"
    # a closer inside an opener's tag is part of the tag
    assert strip_rendered_blocks('<details a="</details>">in</details>\nout') == "out"


def test_fingerprint_of_a_360_kb_message_keeps_its_text() -> None:
    plain = fingerprint([{"role": "user", "content": DETAILS_360_KB}])
    other = fingerprint([{"role": "user", "content": DETAILS_360_KB + "<details>"}])
    assert plain != other


async def test_a_360_kb_details_message_is_answered_and_sent_intact(tmp_path: Path) -> None:
    handler = make_handler(tmp_path)
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": DETAILS_360_KB},
        {"role": "user", "content": DETAILS_360_KB},
    ]
    response = await handler.acompletion("bot", messages, **call_kwargs())
    assert response.choices[0].message.content == "fine"
    runner = next(iter(handler.cache._lru.values()))
    sent, _ = runner.provider.calls[0]
    assert [(m.role, m.content) for m in sent][1:] == [
        ("user", "first"),
        ("assistant", DETAILS_360_KB),
        ("user", DETAILS_360_KB),
    ]


# ----------------------------------------------------------------------- limits
async def test_text_over_the_limit_is_413_naming_both_sizes(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, max_request_chars=1_000)
    messages = [
        {"role": "system", "content": "s" * 400},
        {"role": "user", "content": [{"type": "text", "text": "u" * 601}]},
    ]
    error = await refused(handler, messages)
    assert error.status_code == RequestTooLargeError.status_code == 413
    assert isinstance(error, APIError)
    assert error.message.endswith(": Request too large: 1001 characters, the limit is 1000.")


async def test_default_limit_refuses_a_million_and_one_characters(tmp_path: Path) -> None:
    error = await refused(make_handler(tmp_path), [{"role": "user", "content": "x" * 1_000_001}])
    assert error.status_code == 413 and "the limit is 1000000" in error.message


async def test_text_at_the_limit_and_attachments_pass(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, max_request_chars=1_000)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 50_000}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "y" * 1_000}, image]}]
    response = await handler.acompletion("bot", messages, **call_kwargs())
    assert response.choices[0].message.content == "fine"


async def test_a_100_kb_user_id_header_is_400_naming_the_header(tmp_path: Path) -> None:
    user_id = "u" * 100_000
    error = await refused(
        make_handler(tmp_path),
        [{"role": "user", "content": "hi"}],
        headers={"X-OpenWebUI-User-Id": user_id},
    )
    assert error.status_code == HeaderTooLargeError.status_code == 400
    assert error.message == (
        "The X-OpenWebUI-User-Id header is too large: 100000 characters, the limit is 256."
    )


async def test_header_limit_is_a_setting_and_the_jwt_gets_more_room(tmp_path: Path) -> None:
    secret = "s" * 32
    handler = make_handler(tmp_path, max_header_chars=8, openwebui_jwt_secret=secret)
    token = jwt.encode(
        {"sub": "alice", "iss": "open-webui", "exp": 4_102_444_800}, secret, algorithm="HS256"
    )
    assert 8 < len(token) <= 8 * 32
    ok = await handler.acompletion(
        "bot",
        [{"role": "user", "content": "hi"}],
        **call_kwargs({"x-openwebui-user-jwt": token, "x-openwebui-chat-id": "c1"}),
    )
    assert ok.choices[0].message.content == "fine"
    error = await refused(
        handler, [{"role": "user", "content": "hi"}], headers={"x-openwebui-chat-id": "c" * 9}
    )
    assert "X-OpenWebUI-Chat-Id header is too large: 9 characters, the limit is 8" in error.message


async def test_a_long_user_field_is_400(tmp_path: Path) -> None:
    handler = make_handler(tmp_path)
    kwargs = call_kwargs()
    kwargs["litellm_params"]["proxy_server_request"] = {"body": {"user": "v" * 300}}
    with pytest.raises(CustomLLMError) as error:
        await handler.acompletion("bot", [{"role": "user", "content": "hi"}], **kwargs)
    assert (error.value.status_code, error.value.message) == (
        400,
        "The request's 'user' field is too large: 300 characters, the limit is 256.",
    )


async def test_too_many_messages_is_400(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, max_messages=3)
    messages = [{"role": "user", "content": "hi"}] * 4
    error = await refused(handler, messages)
    assert (error.status_code, error.message) == (400, "Too many messages: 4, the limit is 3.")


async def test_content_nested_too_deeply_is_400(tmp_path: Path) -> None:
    deep: Any = "x"
    for _ in range(50):
        deep = [deep]
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": deep}]},
    ]
    error = await refused(make_handler(tmp_path), messages)
    assert error.status_code == 400
    assert error.message.startswith("messages[1] is nested too deeply: more than 6 levels")


async def test_too_many_values_in_the_messages_is_400(tmp_path: Path) -> None:
    parts = [{"type": "text", "text": ""}] * 60_000  # an object and its text each
    error = await refused(make_handler(tmp_path), [{"role": "user", "content": parts}])
    assert (error.status_code, error.message) == (
        400,
        "The messages hold too many values: more than 100000.",
    )


# ----------------------------------------------------------------------- other request text
def test_redaction_of_long_header_like_values_is_linear_and_still_masks() -> None:
    assert redact_text("a-" * 50_000) == "a-" * 50_000
    assert redact_text("u" * 100_000) == "u" * 100_000
    long_key = "x" * 100_000 + "_api_key=abcd1234"
    assert redact_text(long_key) == "x" * 100_000 + "_api_key=***"
    url = "y" * 100_000 + "https://bob:hunter22@example.com/x"
    assert redact_text(url) == "y" * 100_000 + "https://***@example.com/x"


def test_reply_words_with_long_runs_of_spaces() -> None:
    assert is_approval_word("yes" + " ." * 200_000)
    assert parse_reply("a" + " " * 200_000 + "b", "question").text == "a" + " " * 200_000 + "b"
    assert normalise_answer("**" + " " * 200_000 + "Blue" + " !" * 100_000, ["blue"]) == "blue"


def test_task_prompt_full_of_history_openers_gets_its_fallback_answer() -> None:
    prompt = "### Task:\nGenerate a title\n" + '"title"' + "<chat_history>" * 50_000
    assert task_answer_json("", prompt) == '{"title": "New chat"}'


def test_toolkit_token_patterns_after_long_runs_of_spaces() -> None:
    store = TokenStorage(MemoryCredentialBackend(), EncryptionService(Fernet.generate_key()))
    settings = Settings(encryption_key=Fernet.generate_key().decode())
    gitlab = GitLabConfig(settings=settings, storage=store)
    jira = JiraConfig(settings=settings, storage=store)
    spaces = " " * 200_000
    assert gitlab.find_secrets("gitlab token" + spaces + "!") == []
    token = "Ab3dEf6hIj9kLm2nOp5qRs"
    assert gitlab.find_secrets("gitlab token" + spaces + token) == [token]
    assert jira.find_secrets("jira api token" + spaces + "!") == []


def test_sources_section_after_a_million_line_breaks() -> None:
    breaks = "\n" * 1_000_000
    assert strip_sources_section("answer" + breaks + "x") == "answer" + breaks + "x"
    cited = "answer" + breaks + "**Sources**\n1. [guide](a.md)\n2. b.md\n"
    assert strip_sources_section(cited) == "answer"


# ----------------------------------------------------------------------- jmespath conditions
CONTEXT = {"status": "ok", "items": [{"n": i} for i in range(1_000)]}


def test_ordinary_jmespath_conditions_still_evaluate() -> None:
    assert condition_registry.evaluate("jmespath:status == 'ok'", CONTEXT)
    assert condition_registry.evaluate("jmespath:length(items[?n > `500`]) == `499`", CONTEXT)
    assert not condition_registry.evaluate("jmespath:contains(items[*].n, `1000`)", CONTEXT)


@pytest.mark.parametrize(
    "query",
    [
        # each [@,@][] doubles a real list: 2**20 elements unbounded
        "@" + "|[@,@][]" * 20 + "|length(@) > `0`",
        # [@,@] shares; to_string writes out all 2**20 leaves
        "@" + "|[@,@]" * 20 + "|length(to_string(@)) > `0`",
        # == walks two separately built trees of 2**20 leaves
        "[@" + "|[@,@]" * 20 + ", @" + "|[@,@]" * 20 + "] | [0] == [1]",
    ],
)
def test_self_doubling_queries_stop_with_a_clean_error(query: str) -> None:
    with pytest.raises(ExpressionError, match="more than 50000 steps"):
        condition_registry.evaluate("jmespath:" + query, {"status": "ok"})


def test_join_whose_result_would_be_too_large_is_refused_before_it_is_built() -> None:
    data = {"sep": "x" * 1_000, "parts": ["a"] * 5_000}
    with pytest.raises(ExpressionError, match="more than 4000000 characters"):
        bounded_jmespath.search("join(sep, parts)", data)
    sep = "x" * 1_000
    assert bounded_jmespath.search("join(sep, parts[:3])", data) == f"a{sep}a{sep}a"


def _reference_blocks(text: str) -> list[tuple[int, int]]:
    """The plain one-pass scan over every tag (the stripper skips unmatched closers faster)."""
    blocks: list[tuple[int, int]] = []
    open_at: list[int] = []
    tag_end = next_gt = -1
    for match in re.finditer(r"<details\b|</details>", text, re.IGNORECASE):
        start = match.start()
        if start < tag_end:
            continue
        if match.group().startswith("</"):
            if open_at:
                opener = open_at.pop()
                while blocks and blocks[-1][0] > opener:
                    blocks.pop()
                blocks.append((opener, match.end()))
            continue
        if next_gt < match.end():
            next_gt = text.find(">", match.end())
            if next_gt < 0:
                break
        open_at.append(start)
        tag_end = next_gt + 1
    return blocks


@given(
    st.lists(
        st.sampled_from(["<details>", "</details>", "<DETAILS a='>'>", "x", ">", "\n", "<det"]),
        max_size=40,
    )
)
def test_block_scan_matches_the_plain_scan(parts: list[str]) -> None:
    text = "".join(parts)
    assert _details_blocks(text) == _reference_blocks(text)


async def test_a_large_turn_read_off_the_loop_is_the_same_turn() -> None:
    big = "<details>x</details> " * (OFF_LOOP_CHARS // 10)
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": big + "kept"},
        {"role": "user", "content": big + "question"},
    ]
    ctx = RequestContext(model="bot", messages=messages)
    turn = await read_turn(ctx)
    assert turn == ChatTurn.from_context(ctx)
    assert turn.history[1]["content"] == "kept"
    assert fingerprint(turn.with_message()) == fingerprint(
        [{"role": "user", "content": "first"}, {"role": "user", "content": big + "question"}]
    )
