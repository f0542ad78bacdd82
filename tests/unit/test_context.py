import pytest

from liteagent.errors import InvalidRequestError
from liteagent.proxy.context import RequestContext, strip_rendered_blocks, validate_messages

MSGS = [{"role": "user", "content": "hi"}]


def ctx(metadata=None, body=None, optional=None, messages=MSGS, stream=False) -> RequestContext:
    return RequestContext.from_litellm(
        model="liteagent/assistant",
        messages=messages,
        optional_params=optional or {},
        litellm_params={"metadata": metadata or {}, "proxy_server_request": {"body": body or {}}},
        stream=stream,
    )


def test_identity_from_key_metadata_and_openwebui_header() -> None:
    c = ctx(
        metadata={
            "user_api_key_user_id": "svc-openwebui",
            "headers": {
                "x-openwebui-user-id": "u-42",
                "x-openwebui-chat-id": "c-1",
                "x-openwebui-user-name": "Ada%20L",
                "authorization": "Bearer sk-abc",
            },
        }
    )
    assert c.principal == "svc-openwebui"
    assert c.end_user == "u-42"
    assert c.user_key == "svc-openwebui/u-42"
    assert c.chat_id == "c-1"
    assert c.user_name == "Ada L"
    assert "authorization" not in c.headers  # only the forwarded Open WebUI headers are kept


def test_same_end_user_under_different_keys_is_not_the_same_user() -> None:
    a = ctx(metadata={"user_api_key_user_id": "team-a", "headers": {"x-openwebui-user-id": "u"}})
    b = ctx(metadata={"user_api_key_user_id": "team-b", "headers": {"x-openwebui-user-id": "u"}})
    assert a.user_key != b.user_key
    assert a.session_key != b.session_key


def test_body_metadata_cannot_claim_an_identity() -> None:
    c = ctx(
        metadata={"user_api_key_hash": "abcdef0123456789ffff"},
        body={"metadata": {"user_api_key_user_id": "admin"}},
    )
    assert c.principal == "key:abcdef0123456789"
    assert "admin" not in c.user_key


def test_raw_body_user_is_the_end_user_bound_to_the_key() -> None:
    """The decision (README, "Virtual keys and budgets"): the OpenAI ``user`` field names an end
    user of the calling key — never another key's, and never above the key's own identity."""
    c = ctx(metadata={"user_api_key_user_id": "k"}, body={"user": "alice"})
    assert c.user_key == "k/alice"
    other_key = ctx(metadata={"user_api_key_user_id": "j"}, body={"user": "alice"})
    assert other_key.user_key == "j/alice" != c.user_key
    assert other_key.session_key != c.session_key
    # claiming to be the key's own principal, or another key's scoped name, stays under the key
    forged = ctx(metadata={"user_api_key_user_id": "j"}, body={"user": "k/alice"})
    assert forged.user_key == "j/k/alice" and forged.principal == "j"
    # the forwarded Open WebUI user wins over the body
    header = ctx(
        metadata={"user_api_key_user_id": "k", "headers": {"x-openwebui-user-id": "bob"}},
        body={"user": "alice"},
    )
    assert header.user_key == "k/bob"


def test_options_are_read_from_optional_params() -> None:
    c = ctx(optional={"temperature": 0.1, "max_tokens": 12})
    assert (c.temperature, c.max_tokens) == (0.1, 12)


def test_session_key_is_stable_without_a_chat_id() -> None:
    first = ctx(messages=[{"role": "user", "content": "plan a trip"}])
    later = ctx(
        messages=[
            {"role": "user", "content": "plan a trip"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "to Rome"},
        ]
    )
    other = ctx(messages=[{"role": "user", "content": "something else"}])
    assert first.session_key == later.session_key != other.session_key


@pytest.mark.parametrize(
    "messages, fragment",
    [
        ([], "at least one message"),
        ("hello", "array"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "user"}], "messages[0].content is required"),
        ([{"role": "system", "content": "x"}], "at least one user message"),
        (["not an object"], "messages[0] must be an object"),
        ([{"role": "user", "content": ""}], "messages[0] is empty"),
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": " \n "},
            ],
            "messages[2] is empty",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0] has no text: LiteAgent models read text only",
        ),
    ],
)
def test_bad_messages_are_400(messages, fragment) -> None:
    with pytest.raises(InvalidRequestError) as err:
        validate_messages(messages)
    assert err.value.status_code == 400
    assert fragment in err.value.message


def test_only_the_newest_message_needs_text() -> None:
    """An image beside text, an empty earlier turn, or a tool result last are all accepted."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    accepted = [
        [{"role": "user", "content": [image, {"type": "text", "text": "what is this?"}]}],
        [
            {"role": "user", "content": ""},
            {"role": "assistant", "content": "?"},
            {"role": "user", "content": "hi"},
        ],
        [
            {"role": "user", "content": "add 2 and 3"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": ""},
        ],
    ]
    for messages in accepted:
        assert validate_messages(messages) == messages


def test_task_request_signature() -> None:
    task = [
        {
            "role": "user",
            "content": "### Task:\nGenerate a title\n<chat_history>\nUSER: hi\n</chat_history>",
        }
    ]
    assert ctx(messages=task).is_task_request
    assert not ctx(messages=task, stream=True).is_task_request
    rag = [{"role": "user", "content": "### Task:\nRespond using the context"}]
    assert not ctx(messages=rag).is_task_request


def test_strip_rendered_blocks() -> None:
    text = (
        'Before\n<details type="tool_calls" done="true" id="1" name="calc">\n'
        "<summary>Tool Executed</summary>\n</details>\nAfter"
    )
    assert strip_rendered_blocks(text) == "Before\nAfter"


def chat(chat_id: str | None, *turns: str, user: str = "u-1") -> RequestContext:
    """One request of a chat whose user said ``turns`` (the last one is the new message)."""
    messages: list[dict[str, str]] = []
    for i, text in enumerate(turns):
        if i:
            messages.append({"role": "assistant", "content": f"answer {i}"})
        messages.append({"role": "user", "content": text})
    headers = {"x-openwebui-user-id": user}
    if chat_id is not None:
        headers["x-openwebui-chat-id"] = chat_id
    return ctx(metadata={"user_api_key_user_id": "owui", "headers": headers}, messages=messages)


@pytest.mark.parametrize("chat_id", ["local", "local:Xy3_sid", "temporary:Xy3_sid"])
def test_temporary_chats_of_one_tab_never_share_a_session(chat_id: str) -> None:
    first = chat(chat_id, "plan a trip")
    assert first.is_temporary_chat
    # the same temporary chat, two turns later: same session
    assert chat(chat_id, "plan a trip", "to Rome", "approve").session_key == first.session_key
    # another temporary chat of the same tab (same id), another user, another tab: not
    assert chat(chat_id, "write a poem").session_key != first.session_key
    assert chat(chat_id, "plan a trip", user="u-2").session_key != first.session_key
    assert chat("local:other_sid", "plan a trip").session_key != first.session_key
    assert first.session_key.startswith("owui/u-1:temp:")


def test_saved_chats_keep_their_chat_id_session() -> None:
    for chat_id in ("5ffc037d-af60-475e-bb25-07f07201b967", "localized-notes"):
        c = chat(chat_id, "hello")
        assert not c.is_temporary_chat
        assert c.session_key == f"owui/u-1:chat:{chat_id}"
        assert chat(chat_id, "something else").session_key == c.session_key
