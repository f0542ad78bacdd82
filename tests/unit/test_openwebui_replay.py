"""Replays of what a real Open WebUI 0.12.4 sent: approval, tasks, the client's own rewrites.

The requests are the recorded ones (headers, Open WebUI's 36 built-in tools, its task prompts,
the assistant turns it rebuilt from its storage); only the model behind the agent is scripted,
so the test knows what it proposes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from liteagent.agents.run_store import RunStore
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from liteagent.storage import NoteRepository, get_database
from tests.openwebui.markup import rewrite_tags_found
from tests.openwebui.recorded import OWNER, Recorded, replay, requests, scripted_assistant

SAVE = {
    "tool_calls": [{"name": "save_note", "arguments": {"title": "Groceries", "text": "buy milk"}}]
}
DEMO_CATALOG = yaml.safe_load((Path(__file__).resolve().parents[2] / "liteagent.yaml").read_text())


class Assistant:
    """The demo assistant's tools behind a handler (a proxy process) with a scripted model."""

    def __init__(self, tmp: Path, script: list[Any]) -> None:
        tools = ["calculator", "current_time", "convert_units", "save_note", "list_notes"]
        self.handler, self.db_url = scripted_assistant(tmp, script, tools)

    async def send(self, request: Recorded) -> str:
        text, _ = await replay(self.handler, request)
        return text

    async def notes(self) -> list[tuple[str, str]]:
        repo = NoteRepository(get_database(self.db_url))
        return [(n.title, n.text) for n in await repo.list(owner=OWNER)]

    async def status(self, chat_id: str) -> str | None:
        record = await RunStore(get_database(self.db_url)).load_run(
            session_key=f"{OWNER}:chat:{chat_id}", owner="assistant"
        )
        return record.state.status.value if record else None


def assert_nothing_rewritten(text: str) -> None:
    assert rewrite_tags_found(text) == [], "Open WebUI would hide or cut this text"


async def test_recorded_approval_with_default_reasoning_tags_saves_one_note(
    tmp_path: Path,
) -> None:
    bot = Assistant(tmp_path, [SAVE, "Saved your note."])
    title, ask, follow_ups, tags = requests("approval-request.json")
    assert json.loads(await bot.send(title)) == {"title": "Use the save_note tool to save"}
    asked = await bot.send(ask)
    assert "Approval needed" in asked and "save_note" in asked
    assert_nothing_rewritten(asked)
    assert await bot.status(ask.chat_id) == "waiting_human"
    assert "follow_ups" in json.loads(await bot.send(follow_ups))
    assert json.loads(await bot.send(tags)) == {"tags": ["General"]}
    assert len(bot.handler.cache) == 1  # the tasks built no runner of their own

    # Open WebUI cut our approval prompt at "<reason>" before sending it back
    approve, after = requests("approval-approve-default-reasoning-tags.json")
    assert approve.messages[1]["content"].endswith("**reject: ")
    answer = await bot.send(approve)
    assert 'name="save_note"' in answer and answer.rstrip().endswith("Saved your note.")
    assert await bot.notes() == [("Groceries", "buy milk")]
    assert await bot.status(approve.chat_id) == "completed"
    assert "follow_ups" in json.loads(await bot.send(after))

    # the same "approve" again (a client retry) and a later "approve" run nothing
    assert (await bot.send(approve)).startswith("This request was already answered")
    later = approve.with_messages(
        [
            *approve.messages,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "approve"},
        ]
    )
    assert "Nothing is waiting for your approval" in await bot.send(later)
    assert await bot.notes() == [("Groceries", "buy milk")]


async def test_recorded_approval_with_reasoning_tags_off_then_approve_twice(
    tmp_path: Path,
) -> None:
    bot = Assistant(tmp_path, [SAVE, "Saved your note."])
    approve = requests("approval-approve-reasoning-tags-off.json")[0]
    # the recording starts at "approve": its first turn, sent alone, is the original request
    asked = await bot.send(approve.with_messages(approve.messages[:1]))
    assert "Approval needed" in asked
    # the assistant turn Open WebUI sends back is its own copy of an older prompt's text
    assert approve.messages[1]["content"] != asked
    await bot.send(approve)
    assert await bot.notes() == [("Groceries", "buy milk")]
    [twice] = [r for r in requests("approval-approve-twice.json") if not r.is_task]
    assert twice.chat_id == approve.chat_id
    assert "Nothing is waiting for your approval" in await bot.send(twice)
    assert await bot.notes() == [("Groceries", "buy milk")]


def _cut_at_first_tag(text: str) -> str:
    return text.split("**reject", 1)[0]


REWRITES = {
    "cut": _cut_at_first_tag,
    "whitespace": lambda text: "  " + re.sub(r"\s+", " ", text) + "\n\n",
    "sources appended": lambda text: text + "\n\nSources\n1. README.md",
    "re-rendered": lambda text: text.replace("**", "__").replace("`", ""),
    "emptied": lambda text: "",
}


@pytest.mark.parametrize("rewrite", REWRITES)
async def test_what_clients_do_to_our_turn_does_not_lose_the_approval(
    tmp_path: Path, rewrite: str
) -> None:
    bot = Assistant(tmp_path, [SAVE, "Saved your note."])
    ask = requests("approval-request.json")[1]
    asked = await bot.send(ask)
    turn = REWRITES[rewrite](asked)
    messages = [*ask.messages, {"role": "assistant", "content": turn}]
    answer = await bot.send(ask.with_messages([*messages, {"role": "user", "content": "approve"}]))
    assert answer.rstrip().endswith("Saved your note.")
    assert await bot.notes() == [("Groceries", "buy milk")]


async def test_a_reply_on_another_branch_is_told_and_the_approval_keeps_waiting(
    tmp_path: Path,
) -> None:
    bot = Assistant(tmp_path, [SAVE, "Saved your note."])
    ask = requests("approval-request.json")[1]
    asked = await bot.send(ask)
    # the person edited their first message, then said "approve" on that new branch
    edited = [
        {"role": "user", "content": "Use the save_note tool to save the note: buy bread"},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "approve"},
    ]
    told = await bot.send(ask.with_messages(edited))
    assert "waiting in this chat" in told and "`save_note`" in told and "Nothing was run" in told
    assert await bot.status(ask.chat_id) == "waiting_human"
    assert await bot.notes() == []
    # approving below the request still works, once
    below = [*ask.messages, {"role": "assistant", "content": asked}]
    await bot.send(ask.with_messages([*below, {"role": "user", "content": "approve"}]))
    assert await bot.notes() == [("Groceries", "buy milk")]


async def test_bare_approve_in_a_new_chat_says_nothing_is_waiting(tmp_path: Path) -> None:
    bot = Assistant(tmp_path, ["I should not be asked."])
    ask = requests("approval-request.json")[1]
    told = await bot.send(ask.with_messages([{"role": "user", "content": "approve"}]))
    assert told == "Nothing is waiting for your approval in this chat; nothing was run."


async def test_regenerating_the_question_closes_the_old_one(tmp_path: Path) -> None:
    bot = Assistant(tmp_path, [SAVE, "Just an answer this time.", "Nothing to do."])
    ask = requests("approval-request.json")[1]
    await bot.send(ask)
    regenerated = await bot.send(ask)  # Open WebUI's regenerate: the same turns again
    assert regenerated == "Just an answer this time."
    assert await bot.status(ask.chat_id) == "aborted"
    messages = [*ask.messages, {"role": "assistant", "content": regenerated}]
    await bot.send(ask.with_messages([*messages, {"role": "user", "content": "yes"}]))
    assert await bot.notes() == []


@pytest.mark.parametrize(
    ("fixture", "model"),
    [
        ("approval-request.json", "assistant"),
        ("tool-calculator.json", "assistant"),
        ("rag-docs.json", "docs"),
        ("workflow-ask.json", "triage"),
        ("toolkit-token-pasted.json", "release-manager"),
    ],
)
async def test_recorded_task_requests_get_json_with_the_asked_key_and_no_model_call(
    tmp_path: Path, fixture: str, model: str
) -> None:
    """The demo catalog on the bundled model: every recorded task is answered from the chat
    history, without a model call, a runner or stored state."""
    catalog = parse_catalog(DEMO_CATALOG)
    handler = LiteAgentLLM(
        settings=Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"),
        catalog=catalog,
    )
    tasks = [r for r in requests(fixture) if r.is_task]
    assert tasks
    for task in tasks:
        answer = json.loads((await replay(handler, task))[0])
        prompt = task.messages[0]["content"]
        key = next(k for k in ("title", "tags", "follow_ups") if f'"{k}"' in prompt)
        assert list(answer) == [key], (fixture, prompt[:60])
    assert len(handler.cache) == 0
    assert handler.tasks._llms == {}
