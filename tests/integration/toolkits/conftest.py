"""Toolkit tests: the handler with an ``agno`` entry, a scripted model and wire servers."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from cryptography.fernet import Fernet
from litellm.types.utils import ModelResponse

from liteagent import log as liteagent_log
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from tests.servers import google_wire
from tests.servers.gitlab_toolkit_wire import GitLabToolkitWireServer
from tests.servers.google_wire import GoogleWireServer
from tests.servers.http import serve_app
from tests.servers.jira_wire import JiraWireServer

JIRA_TOKEN_A = "NjQ5MjY0NTQ5NjQ4OkFsaWNlU2VjcmV0VG9rZW5YWVo"
JIRA_TOKEN_B = "ODEyMzQ1Njc4OTAxOkJvYlNlY3JldFRva2VuUVFRUVE"
GITLAB_TOKEN = "glpat-Ab3dEf6hIj9kLm2nOp5q"


@pytest.fixture
def jira() -> Iterator[tuple[JiraWireServer, str]]:
    server = JiraWireServer()
    server.add_account(JIRA_TOKEN_A, "Alice Admin", projects=("REL",))
    server.add_account(JIRA_TOKEN_B, "Bob Builder", projects=("OPS",))
    server.add_issue(
        "REL-1",
        "Ship the 2.4 release notes",
        status="In Progress",
        assignee="Alice Admin",
        fix_versions=("2.4",),
    )
    server.add_issue("REL-7", "Secret launch plan for Zephyr", description="Zephyr ships 1 Dec")
    server.add_issue("OPS-3", "Rotate the build machines")
    server.versions["REL"] = [
        {"id": "1", "name": "2.4", "released": False, "releaseDate": "2026-12-01"}
    ]
    with serve_app(server.app) as url:
        yield server, url


@pytest.fixture
def gitlab() -> Iterator[tuple[GitLabToolkitWireServer, str]]:
    server = GitLabToolkitWireServer()
    server.add_user(GITLAB_TOKEN, "alice", members_of=("platform/api",))
    server.add_project("platform/api", 42)
    server.add_issue("platform/api", 12, "Crash on empty payload", labels=("bug",))
    server.add_issue("platform/api", 13, "Old closed thing", state="closed")
    server.add_merge_request("platform/api", 5, "Fix the empty payload crash")
    with serve_app(server.app) as url:
        yield server, url


@pytest.fixture
def google() -> Iterator[tuple[GoogleWireServer, str]]:
    server = GoogleWireServer()
    server.add_file(
        "doc1",
        "Release checklist 2.4",
        "1. Freeze. 2. Tag. 3. Announce.",
        owner="alice@example.com",
    )
    server.add_file("doc2", "Bob's private notes", "bob only", owner="bob@example.com")
    with serve_app(server.app) as url:
        yield server, url


def google_settings(url: str) -> dict[str, Any]:
    return {
        "google_client_id": google_wire.CLIENT_ID,
        "google_client_secret": google_wire.CLIENT_SECRET,
        "google_redirect_uri": google_wire.REDIRECT_URI,
        "google_auth_url": f"{url}/o/oauth2/v2/auth",
        "google_token_url": f"{url}/token",
        "google_revoke_url": f"{url}/revoke",
        "google_drive_api_url": url,
    }


def make_handler(
    tmp: Path,
    script: list[Any],
    toolkits: list[Any],
    *,
    instructions: str = "You are a release manager's assistant.",
    **settings: Any,
) -> LiteAgentLLM:
    """A handler (= one proxy process) serving ``liteagent/rm``: an agno entry with toolkits."""
    path = tmp / f"script-{len(list(tmp.glob('script-*')))}.yaml"
    path.write_text(yaml.safe_dump(script))
    entry = {
        "kind": "agno",
        "model": f"scripted/{path}",
        "instructions": instructions,
        "toolkits": toolkits,
    }
    settings.setdefault("database_url", f"sqlite+aiosqlite:///{tmp}/liteagent.db")
    # The wire servers listen on 127.0.0.1: the operator allows that host explicitly.
    settings.setdefault("outbound_allow_hosts", "127.0.0.1")
    settings.setdefault("encryption_key", Fernet.generate_key().decode())
    return LiteAgentLLM(
        settings=Settings(agent_cache_size=16, **settings),
        catalog=parse_catalog({"models": {"rm": entry}}),
    )


class Chat:
    """One Open WebUI conversation of one user with ``liteagent/rm``."""

    def __init__(self, handler: LiteAgentLLM, user: str, chat_id: str = "chat-1") -> None:
        self.handler = handler
        self.user = user
        self.chat_id = chat_id
        self.messages: list[dict[str, Any]] = []
        self.last_chunks: list[Any] = []

    def kwargs(self) -> dict[str, Any]:
        headers = {"x-openwebui-user-id": self.user, "x-openwebui-chat-id": self.chat_id}
        return {
            "model_response": ModelResponse(),
            "optional_params": {},
            "litellm_params": {"metadata": {"user_api_key_user_id": "owui", "headers": headers}},
        }

    async def say(self, text: str, *, stream: bool = False) -> str:
        self.messages.append({"role": "user", "content": text})
        if stream:
            self.last_chunks = [
                c async for c in self.handler.astreaming("rm", self.messages, **self.kwargs())
            ]
            answer = "".join(c["text"] for c in self.last_chunks if isinstance(c, dict))
        else:
            response = await self.handler.acompletion("rm", self.messages, **self.kwargs())
            answer = str(response.choices[0].message.content)
        self.messages.append({"role": "assistant", "content": answer})
        return answer

    def statuses(self) -> list[str]:
        return [
            c["provider_specific_fields"]["event"]["data"]["description"]
            for c in self.last_chunks
            if isinstance(c, dict) and (c.get("provider_specific_fields") or {}).get("event")
        ]

    @property
    def user_key(self) -> str:
        return f"owui/{self.user}"


def model_calls(handler: LiteAgentLLM, user: str) -> list[Any]:
    """Every (messages, options) the user's current runner sent to its scripted model."""
    runners = [r for k, r in handler.cache._lru.items() if k.user == f"owui/{user}"]
    return [call for r in runners for call in r.provider.calls]  # type: ignore[attr-defined]


def database_dump(path: Path) -> str:
    """Every cell of every table of a SQLite file, as text."""
    con = sqlite3.connect(path)
    try:
        cells: list[str] = []
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in con.execute(f'select * from "{table}"'):
                cells.extend(str(v) for v in row)
        return "\n".join(cells)
    finally:
        con.close()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """LiteAgent's structlog output (JSON, DEBUG, redaction on) written to a buffer."""
    buffer = io.StringIO()
    liteagent_log.configure_logging("DEBUG", "json", force=True)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=buffer), cache_logger_on_first_use=False
    )
    try:
        yield buffer
    finally:
        structlog.reset_defaults()
        liteagent_log._configured = False
