"""After a full flow, no log line and no database cell holds a credential in plaintext."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from liteagent.toolkits import get_toolkit_service
from tests.integration.toolkits.conftest import (
    GITLAB_TOKEN,
    JIRA_TOKEN_A,
    Chat,
    database_dump,
    google_settings,
    make_handler,
)
from tests.integration.toolkits.test_gdrive import connect
from tests.servers import google_wire
from tests.servers.gitlab_toolkit_wire import GitLabToolkitWireServer
from tests.servers.google_wire import GoogleWireServer
from tests.servers.jira_wire import JiraWireServer

pytestmark = pytest.mark.integration

TOOLS = {
    "tool_calls": [
        {"name": "jira_search_issues", "arguments": {"jql": "project = REL"}},
        {"name": "gitlab_list_issues", "arguments": {"project": "platform/api"}},
        {"name": "gdrive_search_files", "arguments": {"query": "checklist"}},
    ]
}


async def test_no_plaintext_credential_in_logs_or_database(
    tmp_path: Path,
    jira: tuple[JiraWireServer, str],
    gitlab: tuple[GitLabToolkitWireServer, str],
    google: tuple[GoogleWireServer, str],
    captured_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _, jira_url = jira
    _, gitlab_url = gitlab
    google_server, google_url = google
    handler = make_handler(
        tmp_path,
        [TOOLS, "All three answered.", TOOLS, "Again, after a refresh."],
        [{"name": "jira", "required": True}, {"name": "gitlab", "base_url": gitlab_url}, "gdrive"],
        **google_settings(google_url),
    )
    chat = Chat(handler, "alice")
    await chat.say("hello")
    await chat.say(f"jira url {jira_url} token {JIRA_TOKEN_A}")
    await chat.say(f"gitlab token {GITLAB_TOKEN}", stream=True)
    landed_reply = await connect(chat, await chat.say("connect my google drive"))
    assert "Google Drive is connected" in landed_reply
    assert "All three answered." in await chat.say("Status of everything?", stream=True)
    google_server.expire_access_tokens()
    assert "Again, after a refresh." in await chat.say("And now?")
    # A title-generation task carrying the whole chat (pasted tokens included).
    history = "\n".join(f"USER: {m['content']}" for m in chat.messages if m["role"] == "user")
    task = (
        '### Task:\nGenerate a title. JSON format: { "title": "your title" }\n'
        f"<chat_history>\n{history}\n</chat_history>"
    )
    title = await handler.acompletion(
        "rm", [{"role": "user", "content": task}], **Chat(handler, "alice").kwargs()
    )
    # answered on the task path (its own model instance, whose script starts over): valid JSON
    assert list(json.loads(title.choices[0].message.content)) == ["title"]
    await chat.say("revoke gitlab")

    service = get_toolkit_service(handler.settings)
    stored = await service.storage.get_token(user_id="owui/alice", toolkit="gdrive")
    assert stored is not None
    secrets = {
        JIRA_TOKEN_A,
        GITLAB_TOKEN,
        google_wire.CLIENT_SECRET,
        stored["refresh_token"],
        stored["access_token"],
        *google_server.access_tokens,
        *google_server.codes,
    }
    assert len(secrets) == 7  # two tokens, client secret, refresh, 2 access tokens, code

    logs = captured_logs.getvalue()
    assert "toolkit_credential_stored" in logs and "gdrive_access_token_refreshed" in logs
    out, err = capfd.readouterr()
    db = database_dump(tmp_path / "liteagent.db")
    assert "enc:v1:" in db
    assert "Status of everything?" in db  # Agno's session history is in the same database
    for secret in secrets:
        assert secret not in logs, "a credential reached the logs"
        assert secret not in out + err, "a credential reached stdout/stderr"
        assert secret not in db, "a credential is stored in plaintext"
    # And the model never saw one either.
    models = [runner.provider for runner in handler.cache._lru.values()]
    models += list(handler.tasks._llms.values())  # the task path's model, which got the title
    for model in models:
        for messages, _ in model.calls:  # type: ignore[attr-defined]
            text = "\n".join(m.content or "" for m in messages)
            assert not any(secret in text for secret in secrets)
    [task_model] = handler.tasks._llms.values()
    assert "### Task:" in task_model.calls[0][0][0].content  # type: ignore[attr-defined]
