"""The agent kind behind the handler: approval through plain chat, persistence, streaming."""

from __future__ import annotations

import asyncio
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from litellm.types.utils import ModelResponse

from liteagent.agents.run_store import RunStore
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from liteagent.storage import NoteRepository, get_database

SAVE = {
    "content": "I will save it.",
    "tool_calls": [
        {"name": "save_note", "arguments": {"title": "groceries", "text": 'buy <milk> & "eggs"'}}
    ],
}


class Chat:
    """One conversation with the handler, as Open WebUI would hold it."""

    def __init__(self, tmp: Path, chat_id: str | None = "chat-1", user: str = "alice") -> None:
        self.tmp = tmp
        self.db_url = f"sqlite+aiosqlite:///{tmp}/liteagent.db"
        self.chat_id = chat_id
        self.user = user
        self.messages: list[dict[str, Any]] = []
        self.handler: LiteAgentLLM | None = None

    def start(self, script: list[Any], **entry: Any) -> LiteAgentLLM:
        """A fresh handler (= a proxy process) whose model answers with ``script``."""
        path = self.tmp / f"script-{id(script)}.yaml"
        path.write_text(yaml.safe_dump(script))
        model = {
            "system_prompt": "You are a careful assistant.",
            "model": f"scripted/{path}",
            "tools": ["save_note", "list_notes", "calculator"],
            **entry,
        }
        self.handler = LiteAgentLLM(
            settings=Settings(database_url=self.db_url, agent_cache_size=8),
            catalog=parse_catalog({"models": {"bot": model}}),
        )
        return self.handler

    def kwargs(self) -> dict[str, Any]:
        headers = {"x-openwebui-user-id": self.user}
        if self.chat_id:
            headers["x-openwebui-chat-id"] = self.chat_id
        return {
            "model_response": ModelResponse(),
            "optional_params": {},
            "litellm_params": {"metadata": {"user_api_key_user_id": "owui", "headers": headers}},
        }

    async def say(self, text: str, *, stream: bool = False) -> str:
        assert self.handler is not None
        self.messages.append({"role": "user", "content": text})
        if stream:
            chunks = [
                c async for c in self.handler.astreaming("bot", self.messages, **self.kwargs())
            ]
            answer = "".join(c["text"] for c in chunks if isinstance(c, dict))
            self.last_chunks = chunks
        else:
            response = await self.handler.acompletion("bot", self.messages, **self.kwargs())
            answer = response.choices[0].message.content
        self.messages.append({"role": "assistant", "content": answer})
        return answer

    async def notes(self) -> list[tuple[str, str]]:
        repo = NoteRepository(get_database(self.db_url))
        return [(n.title, n.text) for n in await repo.list(owner=f"owui/{self.user}")]


def model_calls(handler: LiteAgentLLM) -> list[list[tuple[str, str | None]]]:
    runner = next(iter(handler.cache._lru.values()))
    return [[(m.role, m.content) for m in msgs] for msgs, _ in runner.provider.calls]


async def test_approval_survives_a_restart_and_runs_the_stored_call_once(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE])
    answer = await chat.say("Save a note: buy milk and eggs")
    assert answer.startswith("I will save it.")
    assert "Approval needed" in answer and "save_note" in answer and "approve" in answer
    assert await chat.notes() == []

    # a new process: nothing in memory, the model would now only write the final answer
    second = chat.start(["Done: saved as note #1."])
    final = await chat.say("approve")
    assert await chat.notes() == [("groceries", 'buy <milk> & "eggs"')]
    assert final.endswith("Done: saved as note #1.")
    assert "Saved note #1: groceries" in final  # the tool block carries the result
    [only_call] = model_calls(second)
    assert only_call[-1] == ("tool", "Saved note #1: groceries")  # the model saw the result

    # approving again does nothing, in a later turn or by re-sending the same message
    again = await chat.say("approve")
    assert "Nothing is waiting for your approval" in again
    chat.messages = chat.messages[:2]  # Open WebUI regenerates the answer to the "approve"
    replay = await chat.say("approve")
    assert "already answered" in replay
    assert len(await chat.notes()) == 1


async def test_reject_with_reason_reaches_the_model(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, "Understood, I did not save it."])
    await chat.say("Save a note")
    answer = await chat.say("reject: I changed my mind")
    assert answer.endswith("Understood, I did not save it.")
    assert await chat.notes() == []
    last_call = model_calls(chat.handler)[-1]  # type: ignore[arg-type]
    role, content = last_call[-1]
    assert role == "tool" and "I changed my mind" in (content or "")


async def test_other_text_is_feedback_and_cancel_aborts(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, SAVE])
    await chat.say("Save a note")
    answer = await chat.say("call it shopping instead")
    assert "Approval needed" in answer  # the model proposed again after the feedback
    fed_back = model_calls(chat.handler)[-1][-1]  # type: ignore[arg-type]
    assert "call it shopping instead" in (fed_back[1] or "")
    cancelled = await chat.say("cancel")
    assert "Cancelled" in cancelled
    assert await chat.notes() == []


async def test_regenerate_with_a_cut_history_starts_a_new_run(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, "Just answering now.", "There is nothing to approve."])
    await chat.say("Save a note")
    # Open WebUI regenerate: same chat id, history cut back before the first answer
    chat.messages = []
    answer = await chat.say("Save a note")
    assert answer == "Just answering now."
    # on this branch the earlier approval prompt does not exist: "approve" is a new turn
    assert await chat.say("approve") == "There is nothing to approve."
    assert await chat.notes() == []


async def test_two_simultaneous_approvals_run_the_call_once(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, "saved", "saved"])
    await chat.say("Save a note")
    handler = chat.handler
    assert handler is not None
    messages = [*chat.messages, {"role": "user", "content": "yes"}]
    results = await asyncio.gather(
        handler.acompletion("bot", messages, **chat.kwargs()),
        handler.acompletion("bot", messages, **chat.kwargs()),
    )
    texts = sorted(r.choices[0].message.content for r in results)
    assert len(await chat.notes()) == 1
    assert sum("already answered" in t for t in texts) == 1


async def test_stream_shows_status_then_tool_block_then_text(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start(
        [
            {"tool_calls": [{"name": "calculator", "arguments": {"expression": "12*7"}}]},
            "12 times 7 is 84.",
        ]
    )
    answer = await chat.say("What is 12*7?", stream=True)
    chunks = chat.last_chunks
    texts = [c["text"] for c in chunks if isinstance(c, dict) and c["text"]]
    events = [
        c["provider_specific_fields"]["event"]["data"]
        for c in chunks
        if isinstance(c, dict) and "event" in (c.get("provider_specific_fields") or {})
    ]
    # the very first chunk says work started (so a client that leaves is noticed at once)
    assert chunks[0]["provider_specific_fields"]["event"]["data"] == events[0]
    assert events[0] == {"description": "Working…", "done": False}
    assert events[1] == {"description": "Running calculator…", "done": False}
    assert events[2] == {"description": "Ran calculator", "done": True}
    assert texts[0].startswith('<details type="tool_calls" done="true"')
    assert "".join(texts[1:]) == "12 times 7 is 84."
    block = re.match(r"<details ([^>]*)>\n<summary>Tool Executed</summary>\n</details>\n", answer)
    assert block is not None
    attrs = dict(re.findall(r'(\w+)="(.*?)"', block.group(1)))
    assert attrs["name"] == "calculator"
    assert json.loads(json.loads(html.unescape(attrs["arguments"]))) == {"expression": "12*7"}
    assert json.loads(html.unescape(attrs["result"])) == "12*7 = 84"
    final = chunks[-1]
    assert final["usage"]["completion_tokens"] > 0


async def test_tool_block_attributes_are_escaped(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, "ok"], tools=[{"name": "save_note", "requires_approval": False}])
    answer = await chat.say("Save a note")
    block = re.search(r"<details [^\n]*>", answer)
    assert block is not None and answer.startswith("I will save it.\n<details")
    values = re.findall(r'(\w+)="(.*?)"', block.group(0))
    assert all('"' not in v and ">" not in v and "<" not in v for _, v in values)
    arguments = json.loads(json.loads(html.unescape(dict(values)["arguments"])))
    assert arguments["text"] == 'buy <milk> & "eggs"'


async def test_whole_conversation_reaches_the_model_trimmed_by_memory(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start(
        ["first", "second", "third"], memory={"strategy": "sliding_window", "window_size": 3}
    )
    await chat.say("one")
    await chat.say("two")
    await chat.say("three")
    calls = model_calls(chat.handler)  # type: ignore[arg-type]
    assert calls[1][1:] == [("user", "one"), ("assistant", "first"), ("user", "two")]
    assert calls[2][1:] == [("user", "two"), ("assistant", "second"), ("user", "three")]


async def test_task_requests_run_no_tools_and_store_nothing(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, "not json at all"])
    task = (
        '### Task:\nGenerate a concise title. Respond with JSON: {"title": "..."}\n'
        "<chat_history>\nUSER: How do I bake sourdough bread at home?\n</chat_history>"
    )
    first = await chat.say(task)
    assert json.loads(first) == {"title": "How do I bake sourdough bread"}  # model ignored
    chat.messages.clear()
    second = await chat.say(task)
    assert json.loads(second) == {"title": "How do I bake sourdough bread"}
    store = RunStore(get_database(chat.db_url))
    assert await store.version_of(session_key="owui/alice:chat:chat-1", owner="bot") is None
    assert await chat.notes() == []


async def test_plain_clients_resume_by_conversation(tmp_path: Path) -> None:
    chat = Chat(tmp_path, chat_id=None)
    chat.start([SAVE])
    await chat.say("Save a note please")
    chat.start(["saved it"])
    answer = await chat.say("yes")
    assert answer.endswith("saved it") and len(await chat.notes()) == 1


async def test_users_never_share_runs(tmp_path: Path) -> None:
    alice = Chat(tmp_path, user="alice")
    alice.start([SAVE])
    await alice.say("Save a note")
    mallory = Chat(tmp_path, user="mallory")
    mallory.messages = list(alice.messages)
    mallory.start(["I am just the model talking"])
    answer = await mallory.say("approve")
    assert answer == "I am just the model talking"
    assert await alice.notes() == [] and await mallory.notes() == []


@pytest.mark.parametrize("reply", ["yes", "Approve!", "OK"])
async def test_approval_words(tmp_path: Path, reply: str) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, "saved"])
    await chat.say("Save a note")
    await chat.say(reply)
    assert len(await chat.notes()) == 1


async def test_summary_memory_uses_the_agents_model_and_bills_it(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start(
        ["one", "They greeted.", "two", "They said hello twice.", "three"],
        memory={"strategy": "summary", "keep_last": 2},
    )
    await chat.say("hello")
    await chat.say("hello again")
    assert chat.handler is not None
    response = await chat.handler.acompletion(
        "bot", [*chat.messages, {"role": "user", "content": "and now?"}], **chat.kwargs()
    )
    assert response.choices[0].message.content == "three"
    calls = model_calls(chat.handler)
    summary_prompt, final = calls[3], calls[4]
    assert "user: hello\nassistant: one\nuser: hello again" in (summary_prompt[1][1] or "")
    assert final[1] == ("system", "Summary of the earlier conversation:\nThey said hello twice.")
    assert final[2:] == [("assistant", "two"), ("user", "and now?")]
    # usage covers both model calls of this request (the summary's 4 words + the answer's 1)
    assert response.usage.completion_tokens == 5


async def test_reasoning_is_reasoning_content_then_inline_after_a_tool_step(
    tmp_path: Path,
) -> None:
    chat = Chat(tmp_path)
    chat.start(
        [
            {
                "reasoning": "I should use the calculator.",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "2+2"}}],
            },
            {"reasoning": "Now I can answer.", "content": "It is 4."},
        ]
    )
    answer = await chat.say("2+2?", stream=True)
    reasoning = [
        c.choices[0].delta.reasoning_content
        for c in chat.last_chunks
        if not isinstance(c, dict) and c.choices[0].delta.reasoning_content
    ]
    assert "".join(reasoning) == "I should use the calculator."
    assert answer.startswith('<details type="tool_calls"')
    tail = answer.split("</details>\n", 1)[1]
    assert re.match(
        r'<details type="reasoning" done="true" duration="\d+">\n'
        r"<summary>Thought for \d+ seconds</summary>\n> Now I can answer.\n</details>\nIt is 4\.$",
        tail,
    ), tail


async def test_a_run_over_its_iteration_limit_says_why_it_stopped(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    calc = {"tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}]}
    chat.start([calc, calc], max_iterations=1)
    answer = await chat.say("loop forever", stream=True)
    assert answer.rstrip().endswith(
        "I had to stop: Stopped after 1 model calls without a final answer (max_iterations)."
    )
    assert "1+1 = 2" in answer  # the step that did run is shown


async def _hang_up(chat: Chat, messages: list[dict[str, Any]], when: str) -> None:
    """Stream ``messages`` and close the stream (Open WebUI's Stop) once ``when`` was sent."""
    assert chat.handler is not None
    stream = chat.handler.astreaming("bot", messages, **chat.kwargs())
    first = await anext(stream)
    assert first["provider_specific_fields"]["event"]["data"]["description"] == "Working…"
    async for chunk in stream:
        fields = chunk.get("provider_specific_fields") or {} if isinstance(chunk, dict) else {}
        status = (fields.get("event") or {}).get("data", {}).get("description", "")
        if when in status or (isinstance(chunk, dict) and when in chunk["text"]):
            break
    else:
        raise AssertionError(f"{when!r} never came")
    await stream.aclose()


async def _status(chat: Chat) -> str:
    store = RunStore(get_database(chat.db_url))
    record = await store.load_run(session_key="owui/alice:chat:chat-1", owner="bot")
    assert record is not None
    return record.state.status.value


async def test_stop_right_after_approve_gives_the_approval_back(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start([SAVE, "Saved it."])
    await chat.say("Save a note")
    approve = [*chat.messages, {"role": "user", "content": "approve"}]
    await _hang_up(chat, approve, when="Running save_note")  # claimed, nothing ran yet
    assert await chat.notes() == []
    assert await _status(chat) == "waiting_human"
    assert (await chat.say("approve")).endswith("Saved it.")  # the same reply again
    assert len(await chat.notes()) == 1


async def test_stop_after_the_approved_call_ran_is_finished_by_the_same_reply(
    tmp_path: Path,
) -> None:
    """The approved call ran, then the client left: the run pauses with the result kept, and
    the same reply again finishes it without running the call twice."""
    chat = Chat(tmp_path)
    chat.start([SAVE, "Saved it, note #1."])
    await chat.say("Save a note")
    approve = [*chat.messages, {"role": "user", "content": "approve"}]
    await _hang_up(chat, approve, when='name="save_note"')
    assert await chat.notes() == [("groceries", 'buy <milk> & "eggs"')]
    assert await _status(chat) == "paused"
    finished = await chat.say("approve")
    assert finished.endswith("Saved it, note #1.")
    assert len(await chat.notes()) == 1
    assert await _status(chat) == "completed"
    assert "Nothing is waiting for your approval" in await chat.say("approve")
    assert len(await chat.notes()) == 1


async def test_stop_during_a_new_run_saves_it_as_stopped(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    calc = {"tool_calls": [{"name": "calculator", "arguments": {"expression": "12*7"}}]}
    chat.start([calc, "Answered by a new run."])
    message = [{"role": "user", "content": "What is 12*7?"}]
    await _hang_up(chat, message, when='name="calculator"')
    assert await _status(chat) == "aborted"
    assert chat.handler is not None
    retry = await chat.handler.acompletion("bot", message, **chat.kwargs())
    # sent again, the message starts a new run; the stopped one stays stopped
    assert retry.choices[0].message.content == "Answered by a new run."
    assert await _status(chat) == "aborted"


async def test_a_crash_while_an_approved_call_ran_never_runs_it_twice(tmp_path: Path) -> None:
    """The process died after marking the call running (its outcome unknown): the same reply
    in a new process settles the call as interrupted and lets the model tell the person."""
    chat = Chat(tmp_path)
    chat.start([SAVE])
    await chat.say("Save a note")
    store = RunStore(get_database(chat.db_url))
    record = await store.load_run(session_key="owui/alice:chat:chat-1", owner="bot")
    assert record is not None
    # what a crash between "calls running" and "calls done" leaves behind
    from liteagent.agents import Agent, AgentConfig

    claimed = Agent(AgentConfig(agent_id="bot", purpose="x")).provide_human_response(
        record.state, "approve", approved=True, request_id=record.state.pending_request.request_id
    )
    claimed.metadata["running_calls"] = [c.id for c in claimed.queued_tool_calls]
    record.state = claimed
    from liteagent.proxy.runners.agent_chat import fingerprint

    record.answer_fingerprint = fingerprint(
        [*chat.messages, {"role": "user", "content": "approve"}]
    )
    record.paused_fingerprint = None
    await store.save(record, expected_version=record.version)
    chat.start(["The note may not have been saved; please check your notes."])
    answer = await chat.say("approve")
    assert answer.endswith("please check your notes.")
    assert await chat.notes() == []  # never run a second time (nor a first, here)
    assert await _status(chat) == "completed"


async def test_24_concurrent_proposals_in_one_chat_queue_and_none_fails(tmp_path: Path) -> None:
    """Same-chat races queue (one turn at a time per chat) instead of failing; the approval the
    last answer shows is the one that waits, and it runs once."""
    chat = Chat(tmp_path)
    handler = chat.start([SAVE] * 24 + ["Saved."])
    first = [{"role": "user", "content": "Save a note"}]
    results = await asyncio.gather(
        *(handler.acompletion("bot", first, **chat.kwargs()) for _ in range(24))
    )
    answers = [r.choices[0].message.content for r in results]
    assert all("Approval needed" in a for a in answers)
    assert await _status(chat) == "waiting_human"
    chat.messages = [*first, {"role": "assistant", "content": answers[-1]}]
    assert (await chat.say("approve")).endswith("Saved.")
    assert len(await chat.notes()) == 1


async def test_a_token_pasted_into_a_plain_agent_reaches_no_model_and_no_table(
    tmp_path: Path,
) -> None:
    """An agent without toolkits still never passes on a pasted credential: not to its model,
    not to the run store (also when the token is glued to a word)."""
    token = "glpat-Abcdefghijklmnopqrstuvwxyz012345"
    atlassian = "ATATT3xFfGF0abcdefghijklmnopqrstuvwxyz"
    chat = Chat(tmp_path)
    handler = chat.start([SAVE])
    await chat.say(f"Save a note with my token{token} and jira key x{atlassian} please")
    sent = json.dumps(model_calls(handler))
    assert token not in sent and atlassian not in sent
    assert "[credential removed]" in sent
    import sqlite3

    with sqlite3.connect(tmp_path / "liteagent.db") as db:
        cells = json.dumps([list(r) for r in db.execute("SELECT * FROM liteagent_agent_runs")])
    assert cells != "[]"
    assert token not in cells and atlassian not in cells


async def test_a_locked_database_is_a_retryable_503_and_loses_nothing(tmp_path: Path) -> None:
    import sqlite3

    from litellm.llms.custom_llm import CustomLLMError

    chat = Chat(tmp_path)
    handler = chat.start([SAVE, "Saved."])
    await chat.say("Save a note")  # paused, stored
    holder = sqlite3.connect(tmp_path / "liteagent.db", timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        messages = [*chat.messages, {"role": "user", "content": "approve"}]
        with pytest.raises(CustomLLMError) as err:
            await handler.acompletion("bot", messages, **chat.kwargs())
    finally:
        holder.rollback()
        holder.close()
    assert err.value.status_code == 503
    assert "busy or unavailable" in err.value.message and "Traceback" not in err.value.message
    assert await _status(chat) == "waiting_human"  # the approval is still there
    assert (await chat.say("approve")).endswith("Saved.")
    assert len(await chat.notes()) == 1


async def test_a_deleted_database_file_is_noticed_and_nothing_is_written_into_the_void(
    tmp_path: Path,
) -> None:
    """Deleting the SQLite file under a running process: the next turn logs the loss and writes
    into a new file on disk, not into the deleted one through a pooled connection."""
    import sqlite3

    from structlog.testing import capture_logs

    chat = Chat(tmp_path)
    chat.start([SAVE, SAVE])
    await chat.say("Save a note")
    for name in ("liteagent.db", "liteagent.db-wal", "liteagent.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    other = Chat(tmp_path, chat_id="chat-2")
    other.handler = chat.handler
    with capture_logs() as logs:
        await other.say("Save another note")
    assert any(e["event"] == "database_file_replaced" for e in logs)
    with sqlite3.connect(tmp_path / "liteagent.db") as db:
        rows = list(db.execute("SELECT status FROM liteagent_agent_runs"))
    assert rows == [("waiting_human",)]


async def test_a_stop_that_cuts_the_running_mark_short_gives_the_approval_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop arrives just as the "calls running" mark is written: the row has the mark, the
    request never learnt its new version. The approval is given back all the same (no call had
    started), and the next "approve" runs the call exactly once."""
    from liteagent.proxy.runners.agent import RUNNING_CALLS
    from liteagent.proxy.runners.agent_chat import fingerprint

    chat = Chat(tmp_path)
    chat.start([SAVE, "Saved."])
    await chat.say("Please remember: buy milk and eggs")
    real_save = RunStore.save
    cut: list[int] = []

    async def save_then_stop(self: RunStore, run: Any, *, expected_version: int | None) -> Any:
        if RUNNING_CALLS in run.state.metadata and not cut:
            copy = type(run)(**{**run.__dict__})
            await real_save(self, copy, expected_version=expected_version)  # landed...
            cut.append(copy.version)
            raise asyncio.CancelledError  # ...but the request was stopped before it knew
        return await real_save(self, run, expected_version=expected_version)

    monkeypatch.setattr(RunStore, "save", save_then_stop)
    with pytest.raises(asyncio.CancelledError):
        await chat.say("approve", stream=True)
    monkeypatch.setattr(RunStore, "save", real_save)
    assert cut  # the mark was written
    assert await chat.notes() == []  # nothing ran
    record = await RunStore(get_database(chat.db_url)).load_run(
        session_key="owui/alice:chat:chat-1", owner="bot"
    )
    assert record is not None and record.state.status.value == "waiting_human"
    assert record.paused_fingerprint == fingerprint(chat.messages[:-1])  # asked here...
    assert record.answer_fingerprint == fingerprint(chat.messages)  # ...or right below "approve"

    chat.messages.pop()  # the stopped "approve" got no answer; the person sends it again
    answer = await chat.say("approve")
    assert "Saved." in answer
    assert await chat.notes() == [("groceries", 'buy <milk> & "eggs"')]


async def test_tool_calls_and_approvals_are_counted_once(tmp_path: Path) -> None:
    from liteagent.runtime.metrics import metrics

    approvals = metrics.get_counter("approvals", {"decision": "approve"})
    saves = metrics.get_counter("tool_calls", {"tool": "save_note", "outcome": "ok"})
    chat = Chat(tmp_path)
    chat.start([SAVE, "saved", "saved"])
    await chat.say("Save a note")
    handler = chat.handler
    assert handler is not None
    messages = [*chat.messages, {"role": "user", "content": "yes"}]
    await asyncio.gather(  # "approve" twice at once: one decision, one call
        handler.acompletion("bot", messages, **chat.kwargs()),
        handler.acompletion("bot", messages, **chat.kwargs()),
    )
    assert metrics.get_counter("approvals", {"decision": "approve"}) == approvals + 1
    assert metrics.get_counter("tool_calls", {"tool": "save_note", "outcome": "ok"}) == saves + 1
