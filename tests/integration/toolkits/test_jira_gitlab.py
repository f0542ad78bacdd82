"""Jira and GitLab configured by chat, used by the agent, revoked — against wire servers."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from liteagent.storage import CredentialRepository, get_database
from tests.integration.toolkits.conftest import (
    GITLAB_TOKEN,
    JIRA_TOKEN_A,
    Chat,
    make_handler,
    model_calls,
)
from tests.servers.gitlab_toolkit_wire import GitLabToolkitWireServer
from tests.servers.jira_wire import JiraWireServer

pytestmark = pytest.mark.integration

SEARCH = {
    "content": "",
    "tool_calls": [{"name": "jira_search_issues", "arguments": {"jql": "project = REL"}}],
}


def tool_blocks(text: str) -> list[dict[str, str]]:
    blocks = re.findall(r'<details type="tool_calls" done="true" ([^>]*)>', text)
    return [
        {k: html.unescape(v) for k, v in re.findall(r'(\w+)="(.*?)"', attrs)} for attrs in blocks
    ]


async def test_jira_configure_by_chat_use_and_revoke(
    tmp_path: Path, jira: tuple[JiraWireServer, str]
) -> None:
    server, url = jira
    handler = make_handler(
        tmp_path, [SEARCH, "REL-1 is in progress."], [{"name": "jira", "required": True}]
    )
    chat = Chat(handler, "alice")

    # 1. A required toolkit is asked for on first use; no model call is made.
    first = await chat.say("Hi! What is in the next release?")
    assert "Jira is not connected yet" in first and "jira url https://" in first
    assert model_calls(handler, "alice") == []

    # 2. Credentials pasted in the chat are checked with Jira and stored encrypted.
    reply = await chat.say(f"jira url {url} token {JIRA_TOKEN_A}")
    assert "Jira is connected as **Alice Admin**" in reply
    assert server.requests[-1]["path"] == "/rest/api/2/myself"
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {JIRA_TOKEN_A}"
    rows = CredentialRepository(get_database(handler.settings.database_url))
    stored = await rows.get(user_key="owui/alice", toolkit="jira")
    assert stored is not None and stored[0].startswith("enc:v1:")
    assert JIRA_TOKEN_A not in stored[0]
    assert len(handler.cache) == 0  # storing dropped alice's cached agent

    # 3. The agent uses the tool; the stream shows a status and a finished tool block.
    answer = await chat.say("What is in the next release?", stream=True)
    assert "Running jira_search_issues…" in chat.statuses()
    (block,) = tool_blocks(answer)
    assert block["name"] == "jira_search_issues"
    assert json.loads(json.loads(block["arguments"])) == {"jql": "project = REL"}
    result = json.loads(json.loads(block["result"]))
    assert result["issues"][0]["key"] == "REL-1"
    assert result["issues"][0]["summary"] == "Ship the 2.4 release notes"
    assert answer.endswith("REL-1 is in progress.")
    search = [r for r in server.requests if r["path"] == "/rest/api/2/search"]
    assert search[-1]["query"]["jql"] == "project = REL"
    # The model saw the tools and the question, never the token (history is resent each turn).
    calls = model_calls(handler, "alice")
    assert {t["function"]["name"] for t in calls[0][1].tools} == {
        "jira_search_issues",
        "jira_get_issue",
        "jira_list_versions",
    }
    seen = json.dumps([[m.content for m in msgs] for msgs, _ in calls])
    assert JIRA_TOKEN_A not in seen and "What is in the next release?" in seen

    # 4. Revoking by chat deletes the credentials; the next question asks for them again.
    gone = await chat.say("revoke jira")
    assert "Jira credentials are removed" in gone
    assert await rows.get(user_key="owui/alice", toolkit="jira") is None
    again = await chat.say("And the release after that?")
    assert "Jira is not connected yet" in again


async def test_wrong_jira_token_is_not_stored_and_is_still_removed(
    tmp_path: Path, jira: tuple[JiraWireServer, str]
) -> None:
    _, url = jira
    handler = make_handler(tmp_path, ["ok"], ["jira"])
    chat = Chat(handler, "alice")
    bad = "WrongTokenWrongTokenWrongToken123"
    reply = await chat.say(f"my jira token is {bad} and the site is {url}")
    assert "Jira answered 401 at 127.0.0.1, so nothing was stored" in reply
    assert "not authenticated" not in reply  # the service's own error text is not shown
    rows = CredentialRepository(get_database(handler.settings.database_url))
    assert await rows.get(user_key="owui/alice", toolkit="jira") is None
    # Jira is optional here: a later general question runs the model, without the bad token.
    assert await chat.say("Tell me a joke") == "ok"
    seen = json.dumps([[m.content for m in msgs] for msgs, _ in model_calls(handler, "alice")])
    assert bad not in seen and "Tell me a joke" in seen


async def test_optional_jira_prompts_only_when_asked_for(
    tmp_path: Path, jira: tuple[JiraWireServer, str]
) -> None:
    handler = make_handler(tmp_path, ["Paris."], ["jira"])
    chat = Chat(handler, "alice")
    assert await chat.say("What is the capital of France?") == "Paris."
    assert model_calls(handler, "alice")[0][1].tools == ()
    assert "Jira is not connected yet" in await chat.say("Which Jira issues are open?")


async def test_jira_cloud_basic_auth_with_email(tmp_path: Path) -> None:
    from tests.servers.http import serve_app

    server = JiraWireServer()
    token = "ATATT3xFfGF0" + "q" * 40
    server.add_account(token, "Carol Cloud", email="carol@example.com", projects=("REL",))
    with serve_app(server.app) as url:
        handler = make_handler(tmp_path, ["ok"], ["jira"])
        reply = await Chat(handler, "carol").say(
            f"jira url {url} email carol@example.com token {token}"
        )
    assert "connected as **Carol Cloud**" in reply
    assert server.requests[-1]["headers"]["authorization"].startswith("Basic ")


async def test_gitlab_configure_use_and_revoke(
    tmp_path: Path, gitlab: tuple[GitLabToolkitWireServer, str]
) -> None:
    server, url = gitlab
    list_issues = {
        "tool_calls": [
            {"name": "gitlab_list_issues", "arguments": {"project": "platform/api"}},
            {"name": "gitlab_list_merge_requests", "arguments": {"project": "42"}},
        ]
    }
    handler = make_handler(
        tmp_path,
        [list_issues, "Issue #12 is open; MR !5 fixes it."],
        [{"name": "gitlab", "base_url": url}],
    )
    chat = Chat(handler, "alice")
    assert "GitLab is not connected yet" in await chat.say("Any open GitLab issues?")
    reply = await chat.say(f"here is my gitlab token {GITLAB_TOKEN}")
    assert "GitLab is connected as **@alice**" in reply
    assert server.requests[-1]["headers"]["private-token"] == GITLAB_TOKEN

    answer = await chat.say("Any open GitLab issues in platform/api?")
    blocks = tool_blocks(answer)
    by_name = {b["name"]: b for b in blocks}
    assert set(by_name) == {"gitlab_list_issues", "gitlab_list_merge_requests"}
    issues = json.loads(json.loads(by_name["gitlab_list_issues"]["result"]))
    assert [(i["iid"], i["title"]) for i in issues] == [(12, "Crash on empty payload")]
    mrs = json.loads(json.loads(by_name["gitlab_list_merge_requests"]["result"]))
    assert mrs[0]["title"] == "Fix the empty payload crash"
    assert "/api/v4/projects/platform/api/issues" in {r["path"] for r in server.requests}
    assert answer.endswith("MR !5 fixes it.")

    assert "GitLab credentials are removed" in await chat.say("disconnect gitlab")
    assert "GitLab is not connected yet" in await chat.say("Any open GitLab issues?")
