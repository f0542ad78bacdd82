"""Google Drive: the OAuth authorization-code flow by chat, the tools, refresh and revoke."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from liteagent.toolkits import get_toolkit_service
from tests.integration.toolkits.conftest import Chat, google_settings, make_handler, model_calls
from tests.servers.google_wire import GoogleWireServer

pytestmark = pytest.mark.integration

SEARCH_AND_READ = {
    "tool_calls": [
        {"name": "gdrive_search_files", "arguments": {"query": "checklist"}},
        {"name": "gdrive_read_file", "arguments": {"file_id": "doc1"}},
    ]
}


def link_in(reply: str) -> str:
    match = re.search(r"\((http://127\.0\.0\.1:\d+/o/oauth2/v2/auth\?[^)\s]+)\)", reply)
    assert match, reply
    return match.group(1)


def consent(link: str) -> str:
    """What the user's browser does: open the link, allow, land on the redirect URI."""
    response = httpx.get(link, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def connect(chat: Chat, reply: str) -> str:
    landed = consent(link_in(reply))
    return await chat.say(f"Here you go: {landed}")


async def test_oauth_by_chat_then_tools_then_revoke(
    tmp_path: Path, google: tuple[GoogleWireServer, str]
) -> None:
    server, url = google
    handler = make_handler(
        tmp_path,
        [SEARCH_AND_READ, "Step 2 is Tag."],
        [{"name": "gdrive", "required": True}],
        **google_settings(url),
    )
    chat = Chat(handler, "alice")
    prompt = await chat.say("What does the release checklist say?")
    assert "Google Drive is not connected yet" in prompt
    query = parse_qs(urlsplit(link_in(prompt)).query)
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]

    reply = await connect(chat, prompt)
    assert "Google Drive is connected as **alice@example.com**" in reply
    exchange = server.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]

    answer = await chat.say("What does the release checklist say?")
    assert "Step 2 is Tag." in answer
    read = re.findall(r'name="gdrive_read_file"[^>]*result="([^"]*)"', answer)
    assert "Freeze. 2. Tag." in read[0]
    assert {"/drive/v3/files/doc1", "/drive/v3/files/doc1/export"} <= {
        r["path"] for r in server.drive_requests
    }
    seen = json.dumps([[m.content for m in msgs] for msgs, _ in model_calls(handler, "alice")])
    assert "4/0A" not in seen and "ya29." not in seen and "1//" not in seen

    (refresh_token,) = server.refresh_tokens
    assert "Google Drive credentials are removed" in await chat.say("revoke gdrive")
    assert server.revoked == [refresh_token]  # Google was told too
    assert "Google Drive is not connected yet" in await chat.say("And the checklist?")


async def test_expired_access_token_is_refreshed_automatically(
    tmp_path: Path, google: tuple[GoogleWireServer, str]
) -> None:
    server, url = google
    read = {"tool_calls": [{"name": "gdrive_search_files", "arguments": {"query": ""}}]}
    handler = make_handler(
        tmp_path, [read, "Found it.", read, "Found it again."], ["gdrive"], **google_settings(url)
    )
    chat = Chat(handler, "alice")
    await connect(chat, await chat.say("Connect my google drive"))
    service = get_toolkit_service(handler.settings)
    before = await service.storage.get_token(user_id="owui/alice", toolkit="gdrive")
    assert before is not None

    # Google expires the access token (an hour passed); our stored expiry does not know yet.
    server.expire_access_tokens()
    answer = await chat.say("List my drive files")
    assert "Release checklist 2.4" in answer  # the 401 led to a refresh and a retry
    grants = [r["grant_type"] for r in server.token_requests]
    assert grants == ["authorization_code", "refresh_token"]
    after = await service.storage.get_token(user_id="owui/alice", toolkit="gdrive")
    assert after is not None and after["access_token"] != before["access_token"]
    assert after["refresh_token"] == before["refresh_token"]

    # The stored expiry has passed: the token is refreshed before the call, with no 401.
    await service.storage.upsert_token(
        user_id="owui/alice",
        toolkit="gdrive",
        data={**after, "expires_at": time.time() - 5},
        notify=False,
    )
    unauthorized_before = len(server.drive_requests)
    assert "Release checklist 2.4" in await chat.say("List my drive files again")
    assert [r["grant_type"] for r in server.token_requests][-1] == "refresh_token"
    assert len(server.token_requests) == 3
    assert len(server.drive_requests) == unauthorized_before + 1  # one call, straight through


async def test_revoked_refresh_token_asks_to_connect_again(
    tmp_path: Path, google: tuple[GoogleWireServer, str]
) -> None:
    server, url = google
    read = {"tool_calls": [{"name": "gdrive_search_files", "arguments": {}}]}
    handler = make_handler(tmp_path, [read, "Sorry."], ["gdrive"], **google_settings(url))
    chat = Chat(handler, "alice")
    await connect(chat, await chat.say("Connect my google drive"))
    server.refresh_tokens.clear()  # the user removed our access in their Google account
    server.expire_access_tokens()
    answer = await chat.say("List my drive files")
    assert "connect Google Drive again" in answer
    assert "Google Drive is not connected yet" in await chat.say("Search my drive")


async def test_a_code_from_another_users_link_is_refused(
    tmp_path: Path, google: tuple[GoogleWireServer, str]
) -> None:
    server, url = google
    handler = make_handler(tmp_path, ["ok"], ["gdrive"], **google_settings(url))
    alice, bob = Chat(handler, "alice"), Chat(handler, "bob")
    alice_link = link_in(await alice.say("connect google drive"))
    landed = consent(alice_link)
    # Bob pastes the address alice's browser landed on: the state is not his.
    refused = await bob.say(f"my code: {landed}")
    assert "was not made for you" in refused
    # Bob pastes only the bare code: his PKCE verifier does not match alice's challenge.
    code = parse_qs(urlsplit(landed).query)["code"][0]
    refused = await bob.say(code)
    assert "Google did not accept the code" in refused
    assert server.refresh_tokens == {}
    # Alice can still redeem it.
    assert "connected as **alice@example.com**" in await alice.say(code)


async def test_gdrive_without_an_oauth_client_says_what_the_admin_must_do(
    tmp_path: Path,
) -> None:
    handler = make_handler(tmp_path, ["ok"], [{"name": "gdrive", "required": True}])
    reply = await Chat(handler, "alice").say("hello")
    assert "not set up on this server" in reply and "GOOGLE_OAUTH_CLIENT_ID" in reply
