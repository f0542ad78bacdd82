"""A2A out: catalog entries served by the A2A app, used with the SDK's own client over HTTP.

A catalog agent (scripted model) answers streaming and not; the shipped triage workflow pauses
for its human step and resumes on the next A2A message of the same context; an agent's approval
is answered over A2A and its call runs once; requests without the key are refused.
"""

from __future__ import annotations

import copy
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from a2a.client import ClientConfig, create_client
from a2a.helpers import get_message_text
from a2a.types import Message, Part, Role, SendMessageRequest, StreamResponse, TaskState

from liteagent.a2a_server import build_a2a_app, master_key_authenticator
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from tests.servers.http import serve_app

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-a2a-master-0123456789"
TECH = "Technical support here: clear the app cache and sign in again."
QUESTION = "I could not tell whether this is about billing or a technical problem"


def script(tmp: Path, name: str, items: list[Any]) -> str:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(items))
    return f"scripted/{path}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    triage = copy.deepcopy(
        yaml.safe_load((ROOT / "liteagent.yaml").read_text())["models"]["triage"]
    )
    triage["nodes"]["billing_desk"]["model"] = script(tmp_path, "billing", ["Billing."] * 5)
    triage["nodes"]["tech_support"]["model"] = script(tmp_path, "tech", [TECH] * 5)
    save = {
        "content": "",
        "tool_calls": [{"name": "save_note", "arguments": {"title": "a2a", "text": "hello"}}],
    }
    catalog = {
        "models": {
            "helper": {
                "description": "Answers briefly and keeps notes.",
                "system_prompt": "You help.",
                "model": script(tmp_path, "helper", ["Hello from the helper.", "Streamed hi."]),
                "tools": ["calculator", "save_note"],
            },
            "notes": {
                "system_prompt": "You keep notes.",
                "model": script(tmp_path, "notes", [save, "Saved it."]),
                "tools": ["save_note"],
            },
            "triage": triage,
        }
    }

    def new_handler() -> LiteAgentLLM:
        return LiteAgentLLM(
            settings=Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/liteagent.db"),
            catalog=parse_catalog(catalog),
        )

    holder: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    with serve_app(app) as url:

        def restart() -> None:
            """A new process on the same database: nothing of the old one in memory."""
            holder["app"] = build_a2a_app(
                new_handler(), public_url=url, authenticate=master_key_authenticator(KEY)
            )

        restart()
        yield url, restart


class Notes:
    """The notes table, read with the standard library (the server's database engine stays on
    the server's event loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def list(self, *, owner: str) -> list[tuple[str, str]]:
        if not self.path.exists():
            return []
        with sqlite3.connect(self.path) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "liteagent_notes" not in tables:
                return []
            query = "SELECT title, text FROM liteagent_notes WHERE owner = ? ORDER BY id"
            return [(r[0], r[1]) for r in conn.execute(query, (owner,))]


class Peer:
    """An A2A caller with the SDK's client, keeping its context like a real peer would."""

    def __init__(
        self, url: str, name: str, *, streaming: bool, headers: dict[str, str] | None = None
    ) -> None:
        self.url = f"{url}/{name}"
        self.streaming = streaming
        self.headers = {"Authorization": f"Bearer {KEY}", **(headers or {})}
        self.context_id = str(uuid.uuid4())
        self.task_id: str | None = None

    async def send(self, text: str) -> list[StreamResponse]:
        http = httpx.AsyncClient(headers=self.headers, timeout=60)
        config = ClientConfig(streaming=self.streaming, httpx_client=http)
        client = await create_client(self.url, client_config=config)
        message = Message(
            role=Role.ROLE_USER,
            message_id=str(uuid.uuid4()),
            context_id=self.context_id,
            task_id=self.task_id or "",
            parts=[Part(text=text)],
        )
        try:
            events = [
                e async for e in _iterate(client.send_message(SendMessageRequest(message=message)))
            ]
        finally:
            await client.close()
            await http.aclose()
        # a task waiting for input is continued by the next message; a finished one is not
        waiting = final_state(events) == TaskState.TASK_STATE_INPUT_REQUIRED
        self.task_id = task_id(events) if waiting else None
        return events


async def _iterate(events: AsyncIterator[StreamResponse]) -> AsyncIterator[StreamResponse]:
    async for event in events:
        yield event


def final_task(events: list[StreamResponse]) -> Any:
    tasks = [e.task for e in events if e.HasField("task")]
    return tasks[-1] if tasks else None


def task_id(events: list[StreamResponse]) -> str:
    ids = [e.status_update.task_id for e in events if e.HasField("status_update")]
    ids += [e.task.id for e in events if e.HasField("task")]
    return ids[-1]


def final_state(events: list[StreamResponse]) -> int:
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    task = final_task(events)
    return states[-1] if states else task.status.state


def final_text(events: list[StreamResponse]) -> str:
    updates = [e.status_update.status for e in events if e.HasField("status_update")]
    status = updates[-1] if updates else final_task(events).status
    return get_message_text(status.message)


def streamed_text(events: list[StreamResponse]) -> str:
    return "".join(
        part.text
        for e in events
        if e.HasField("artifact_update")
        for part in e.artifact_update.artifact.parts
    )


async def test_the_card_is_discovered_with_skills_from_the_tools(served: tuple[str, Any]) -> None:
    url, _ = served
    async with httpx.AsyncClient() as http:
        from a2a.client import A2ACardResolver

        card = await A2ACardResolver(http, f"{url}/helper").get_agent_card()
        index = (await http.get(f"{url}/")).json()
    assert card.name == "helper" and card.description == "Answers briefly and keeps notes."
    assert card.capabilities.streaming is True
    assert [s.id for s in card.skills] == ["calculator", "save_note"]
    assert card.supported_interfaces[0].url == f"{url}/helper"
    assert {a["name"] for a in index["agents"]} == {"helper", "notes", "triage"}


async def test_an_agent_answers_without_and_with_streaming(served: tuple[str, Any]) -> None:
    url, _ = served
    plain = Peer(url, "helper", streaming=False)
    events = await plain.send("Hi")
    assert final_state(events) == TaskState.TASK_STATE_COMPLETED
    assert final_text(events) == "Hello from the helper."

    streaming = Peer(url, "helper", streaming=True)
    events = await streaming.send("Hi again")
    assert any(e.HasField("artifact_update") for e in events)
    assert streamed_text(events) == "Streamed hi."
    assert final_state(events) == TaskState.TASK_STATE_COMPLETED
    assert final_text(events) == "Streamed hi."


@pytest.mark.parametrize(
    ("streaming", "same_task", "restart_between"),
    [(False, True, False), (True, True, False), (True, False, False), (False, True, True)],
)
async def test_a_workflow_waits_for_its_human_step_and_resumes_on_the_next_message(
    served: tuple[str, Any], streaming: bool, same_task: bool, restart_between: bool
) -> None:
    """The answer continues the waiting task (as A2A prescribes) or, from a peer that only
    keeps the context, comes as a new task of the same context; in the same process or after a
    restart (tasks and runs are in the database): each resumes the run."""
    url, _ = served
    peer = Peer(url, "triage", streaming=streaming)
    events = await peer.send("Hello, I need help with my account")
    assert final_state(events) == TaskState.TASK_STATE_INPUT_REQUIRED
    assert QUESTION in final_text(events)
    assert peer.task_id is not None
    if not same_task:
        peer.task_id = None
    if restart_between:
        served[1]()

    events = await peer.send("technical")
    assert final_state(events) == TaskState.TASK_STATE_COMPLETED
    assert final_text(events).endswith(TECH)


async def test_an_approval_is_answered_over_a2a_and_runs_once(
    served: tuple[str, Any], tmp_path: Path
) -> None:
    url, _ = served
    notes = Notes(tmp_path / "liteagent.db")
    peer = Peer(url, "notes", streaming=True)
    events = await peer.send("Save a note saying hello")
    assert final_state(events) == TaskState.TASK_STATE_INPUT_REQUIRED
    assert "Approval needed" in final_text(events)
    assert await notes.list(owner="default_user_id") == []

    events = await peer.send("approve")
    assert final_state(events) == TaskState.TASK_STATE_COMPLETED
    assert final_text(events).endswith("Saved it.")
    calls = [
        e.status_update.status.message
        for e in events
        if e.HasField("status_update") and len(e.status_update.status.message.parts) == 2
    ]
    assert [c.parts[1].data.struct_value["tool_call"]["name"] for c in calls] == ["save_note"]
    assert await notes.list(owner="default_user_id") == [("a2a", "hello")]
    events = await peer.send("approve")
    assert "Nothing is waiting for your approval" in final_text(events)
    assert len(await notes.list(owner="default_user_id")) == 1


async def test_requests_need_the_key(served: tuple[str, Any]) -> None:
    url, _ = served
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": "m1",
                "parts": [{"kind": "text", "text": "hi"}],
            }
        },
    }
    async with httpx.AsyncClient() as http:
        missing = await http.post(f"{url}/helper", json=body)
        wrong = await http.post(
            f"{url}/helper", json=body, headers={"Authorization": "Bearer sk-wrong"}
        )
        right = await http.post(
            f"{url}/helper", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
    assert missing.status_code == 401 and "Missing key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401 and "valid LiteLLM key" in wrong.json()["error"]["message"]
    assert right.status_code == 200
    result = right.json()["result"]  # the v0.3 method name answers in the v0.3 shape
    assert result["status"]["state"] == "completed"


async def test_people_behind_a_gateway_have_their_own_runs(
    served: tuple[str, Any], tmp_path: Path
) -> None:
    """A gateway names the person it calls for (``x-litellm-user-id``): another person's
    "approve", even in the same context, does not answer the first one's approval."""
    url, _ = served
    notes = Notes(tmp_path / "liteagent.db")
    alice = Peer(url, "notes", streaming=False, headers={"x-litellm-user-id": "alice"})
    events = await alice.send("Save a note saying hello")
    assert final_state(events) == TaskState.TASK_STATE_INPUT_REQUIRED

    mallory = Peer(url, "notes", streaming=False, headers={"x-litellm-user-id": "mallory"})
    mallory.context_id = alice.context_id
    events = await mallory.send("approve")
    assert "Nothing is waiting for your approval" in final_text(events)
    assert await notes.list(owner="default_user_id/alice") == []

    events = await alice.send("approve")
    assert final_state(events) == TaskState.TASK_STATE_COMPLETED
    assert await notes.list(owner="default_user_id/alice") == [("a2a", "hello")]


async def test_a_turn_the_handler_refuses_fails_with_its_reason(served: tuple[str, Any]) -> None:
    url, _ = served
    peer = Peer(url, "helper", streaming=False)
    peer.context_id = "c" * 400  # longer than a chat id may be (LITEAGENT_MAX_HEADER_CHARS)
    events = await peer.send("Hi")
    assert final_state(events) == TaskState.TASK_STATE_FAILED
    assert "too large" in final_text(events)
