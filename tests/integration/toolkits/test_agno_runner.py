"""The agno kind behind the handler: history in Agno's database, reasoning, usage, tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from litellm.types.utils import ModelResponseStream

from tests.integration.toolkits.conftest import JIRA_TOKEN_A, Chat, make_handler, model_calls
from tests.servers.jira_wire import JiraWireServer

pytestmark = pytest.mark.integration


async def test_history_lives_in_agnos_database_and_survives_a_restart(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()  # one key for both "processes"
    first = make_handler(tmp_path, ["Nice to meet you, Ada."], [], encryption_key=key)
    chat = Chat(first, "alice")
    await chat.say("My name is Ada.")
    # A new process (handler) on the same database; the client sends only the new message.
    second = make_handler(tmp_path, ["Your name is Ada."], [], encryption_key=key)
    chat = Chat(second, "alice")
    assert await chat.say("What is my name?") == "Your name is Ada."
    ((messages, _),) = model_calls(second, "alice")
    contents = [(m.role, m.content) for m in messages]
    assert ("user", "My name is Ada.") in contents
    assert ("assistant", "Nice to meet you, Ada.") in contents
    # Another user's chat with the same chat id does not see alice's history.
    bob = Chat(second, "bob")
    await bob.say("What is my name?")
    ((bob_messages, _),) = model_calls(second, "bob")
    assert all("Ada" not in (m.content or "") for m in bob_messages)


async def test_reasoning_streams_as_reasoning_content_and_usage_is_real(tmp_path: Path) -> None:
    handler = make_handler(
        tmp_path, [{"content": "Forty-two.", "reasoning": "Six times seven."}], []
    )
    chat = Chat(handler, "alice")
    answer = await chat.say("What is six times seven?", stream=True)
    reasoning = "".join(
        c.choices[0].delta.reasoning_content or ""
        for c in chat.last_chunks
        if isinstance(c, ModelResponseStream) and c.choices
    )
    assert reasoning == "Six times seven." and answer == "Forty-two."
    final = chat.last_chunks[-1]
    assert final["usage"]["completion_tokens"] == 1 and final["usage"]["prompt_tokens"] > 0


async def test_task_requests_answer_json_and_store_nothing(tmp_path: Path) -> None:
    handler = make_handler(
        tmp_path, ['{"title": "Release planning"}'], [{"name": "jira", "required": True}]
    )
    chat = Chat(handler, "alice")
    task = "### Task:\nTitle this chat.\n<chat_history>\nUSER: hi\n</chat_history>"
    chat.messages = []
    response = await handler.acompletion("rm", [{"role": "user", "content": task}], **chat.kwargs())
    # No configuration prompt for a background task, even with an unconfigured required toolkit.
    assert response.choices[0].message.content == '{"title": "Release planning"}'


async def test_a_model_that_keeps_calling_tools_is_stopped(
    tmp_path: Path, jira: tuple[JiraWireServer, str]
) -> None:
    _, url = jira
    again = {"tool_calls": [{"name": "jira_get_issue", "arguments": {"issue_key": "REL-1"}}]}
    handler = make_handler(tmp_path, [again] * 10, ["jira"], max_iterations=3)
    chat = Chat(handler, "alice")
    await chat.say(f"jira url {url} token {JIRA_TOKEN_A}")
    answer = await chat.say("What is REL-1?", stream=True)
    assert answer.rstrip().endswith(
        "I stopped after 3 model calls without reaching an answer. Try a more specific request "
        "(or a larger model)."
    )
    assert len(model_calls(handler, "alice")) == 3
    assert answer.count('name="jira_get_issue"') == 3
    assert chat.last_chunks[-1]["finish_reason"] == "length"
