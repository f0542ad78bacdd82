"""A stop while a call the person approved is running, through the handler with the requests a
real Open WebUI 0.12.4 sent (tests/openwebui): Open WebUI's Stop (the request is cancelled) or
an abort (``POST /liteagent/runs/<id>/abort``, the answer goes on).

Either leaves the same saved state: the approved call is let finish (never cut off halfway)
and its result kept, the run is paused, and an approval right below the stopped answer (or
the same reply again) finishes it without running the call twice. An abort's answer says so;
after Open WebUI's Stop, whose answer was cut, the next message says what had run. A stop
before the approved call started gives the approval back, and the answer says the call was
not run and waits for the approval again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from liteagent.agents.builtin_tools import tool_registry
from liteagent.agents.run_store import RunStore
from liteagent.agents.tools import FunctionTool
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from liteagent.proxy.events import ToolStep
from liteagent.proxy.runners.agent_stop import ASK_AGAIN, FINISH_LATER, LEFT_UNFINISHED
from liteagent.proxy.runners.chat_session import StopReport, stopped_text
from liteagent.runtime.run_control import run_control
from liteagent.storage import get_database
from tests.openwebui.recorded import (
    OWNER,
    Recorded,
    handler_kwargs,
    replay,
    requests,
    scripted_assistant,
)

SEND = {"tool_calls": [{"name": "send_invoice", "arguments": {"customer": "ACME"}}]}
FINAL = "I sent the invoice to ACME."
SENT = "Invoice sent to ACME."


class Invoices:
    """The approved tool's side: it starts, then waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.sent: list[str] = []


@pytest.fixture
def invoices() -> Iterator[Invoices]:
    state = Invoices()

    tool = FunctionTool(held_tool(state, "send_invoice", "Invoice"), requires_human_approval=True)
    tool_registry.register_factory("send_invoice", lambda context=None, **_: tool, "test")
    try:
        yield state
    finally:
        tool_registry.unregister("send_invoice")


class Bot:
    """The recorded Open WebUI chat against an assistant whose model is scripted."""

    def __init__(self, tmp: Path, script: list[Any]) -> None:
        self.handler, self.db_url = scripted_assistant(tmp, script, ["send_invoice", "calculator"])
        self.ask = requests("approval-request.json")[1]  # the chat's first message
        self.messages = self.ask.messages

    def request(self, text: str) -> Recorded:
        """The next user message of the chat, as Open WebUI sends it."""
        self.messages = [*self.messages, {"role": "user", "content": text}]
        return self.ask.with_messages(self.messages)

    def answered(self, text: str) -> None:
        self.messages = [*self.messages, {"role": "assistant", "content": text}]

    async def say(self, text: str) -> str:
        answer, _ = await replay(self.handler, self.request(text))
        self.answered(answer)
        return answer

    async def stream(self, request: Recorded) -> AsyncIterator[dict[str, Any]]:
        call = handler_kwargs(request)
        async for chunk in self.handler.astreaming("assistant", request.messages, **call):
            if isinstance(chunk, dict):
                yield chunk

    async def stored(self) -> Any:
        record = await RunStore(get_database(self.db_url)).load_run(
            session_key=f"{OWNER}:chat:{self.ask.chat_id}", owner="assistant"
        )
        assert record is not None
        return record

    def model_calls(self) -> list[list[tuple[str, str | None]]]:
        runner = next(iter(self.handler.cache._lru.values()))
        return [[(m.role, m.content) for m in msgs] for msgs, _ in runner.provider.calls]


def status_of(chunk: dict[str, Any]) -> str:
    event = (chunk.get("provider_specific_fields") or {}).get("event") or {}
    return str(event.get("data", {}).get("description", ""))


@contextlib.contextmanager
def abort_receipt() -> Iterator[asyncio.Event]:
    """An event set when the watching replica receives an abort (its ``run_abort_received``)."""
    seen = asyncio.Event()

    def note(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if event.get("event") == "run_abort_received":
            seen.set()
        return event

    with structlog.testing.capture_logs(processors=[note]):
        yield seen


async def _asked(bot: Bot) -> str:
    asked = await bot.say("Send the invoice to ACME")
    assert "Approval needed" in asked and "send_invoice" in asked
    return asked


async def test_an_abort_while_the_approved_call_runs_says_it_ran_and_approve_finishes_it(
    tmp_path: Path, invoices: Invoices
) -> None:
    bot = Bot(tmp_path, [SEND, FINAL, "Nothing else to do."])
    await _asked(bot)
    approve = bot.request("approve")
    chunks: list[dict[str, Any]] = []

    async def stream() -> None:
        async for chunk in bot.stream(approve):
            chunks.append(chunk)

    with abort_receipt() as received:
        streaming = asyncio.create_task(stream())
        await asyncio.wait_for(invoices.started.wait(), 30)
        run_id = (await bot.stored()).state.run_id
        assert await run_control.abort(run_id, owner=OWNER)
        await asyncio.wait_for(received.wait(), 30)
        assert not streaming.done()  # the approved call is let finish, never cut off halfway
        invoices.release.set()
        await asyncio.wait_for(streaming, 30)
    assert not invoices.cancelled.is_set() and invoices.sent == ["ACME"]

    answer = "".join(c["text"] for c in chunks)
    block = answer.index('name="send_invoice"')  # the call's block, with its result
    assert "Invoice sent to ACME." in answer[block:].split("</details>")[0]
    said = stopped_text(
        StopReport(
            "paused",
            finished=(ToolStep("call_0", "send_invoice", "", SENT),),
            next_step=FINISH_LATER,
        )
    )
    assert answer.endswith(said) and FINAL not in answer
    assert said == (
        "Stopped: this run was aborted before it finished. `send_invoice` was already running, "
        "so it was let finish (its result is above). Nothing else was run.\n\n"
        "Reply **approve** to let me finish this request from there (nothing that ran is run "
        "again), or send a new message to leave it."
    )
    assert "Stopped" in [status_of(c) for c in chunks]
    assert (await bot.stored()).state.status.value == "paused"  # what the answer says
    bot.answered(answer)

    # what it told: "approve" right below finishes the request, the call is not run again
    finished = await bot.say("approve")
    assert finished.endswith(FINAL) and invoices.sent == ["ACME"]
    assert bot.model_calls()[-1][-1] == ("tool", SENT)  # the model got the kept result
    assert (await bot.stored()).state.status.value == "completed"
    assert "Nothing is waiting for your approval" in await bot.say("approve")
    assert invoices.sent == ["ACME"]


async def test_after_an_abort_a_new_message_is_told_what_had_run(
    tmp_path: Path, invoices: Invoices
) -> None:
    bot = Bot(tmp_path, [SEND, "Yes: the invoice went to ACME."])
    await _asked(bot)
    approve = bot.request("approve")
    text: list[str] = []

    async def stream() -> None:
        async for chunk in bot.stream(approve):
            text.append(chunk["text"])

    with abort_receipt() as received:
        streaming = asyncio.create_task(stream())
        await asyncio.wait_for(invoices.started.wait(), 30)
        assert await run_control.abort((await bot.stored()).state.run_id)
        await asyncio.wait_for(received.wait(), 30)
        invoices.release.set()
        await asyncio.wait_for(streaming, 30)
    bot.answered("".join(text))

    # "send a new message to leave it": the run is closed, the new one knows what ran
    answer = await bot.say("Did the invoice go out?")
    note = LEFT_UNFINISHED.format(ran="`send_invoice` had already run")
    assert note == (
        "_Your earlier request was stopped before it finished and is dropped now; of what you "
        "approved, `send_invoice` had already run._"
    )
    assert answer.startswith(note + "\n\n") and answer.endswith("Yes: the invoice went to ACME.")
    seen = bot.model_calls()[-1]
    assert any(role == "assistant" and SENT in (content or "") for role, content in seen)
    assert invoices.sent == ["ACME"]
    record = await bot.stored()
    assert record.state.status.value == "aborted"  # the stopped run is closed for good


async def test_openwebui_stop_while_the_approved_call_runs_then_approve_finishes_it(
    tmp_path: Path, invoices: Invoices
) -> None:
    """Open WebUI's Stop cancels the request: nothing more can be said in its answer. The
    call is let finish all the same, and the approval typed again below the cut answer
    finishes the request with the kept result instead of starting a new run."""
    bot = Bot(tmp_path, [SEND, FINAL])
    await _asked(bot)
    approve = bot.request("approve")
    text: list[str] = []

    async def stream() -> None:
        async for chunk in bot.stream(approve):
            text.append(chunk["text"])

    streaming = asyncio.create_task(stream())
    await asyncio.wait_for(invoices.started.wait(), 30)
    streaming.cancel()  # Open WebUI's Stop: the proxy cancels the request
    invoices.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(streaming, 30)
    assert not invoices.cancelled.is_set() and invoices.sent == ["ACME"]
    assert (await bot.stored()).state.status.value == "paused"
    bot.answered("".join(text))  # what Open WebUI kept of the cut answer

    finished = await bot.say("approve")
    assert finished.endswith(FINAL) and invoices.sent == ["ACME"]
    # the cut answer never showed the call: the finishing answer does, with its result
    block = finished.split("</details>")[0]
    assert '<details type="tool_calls" done="true"' in block and 'name="send_invoice"' in block
    assert "Invoice sent to ACME." in block
    assert bot.model_calls()[-1][-1] == ("tool", SENT)
    assert (await bot.stored()).state.status.value == "completed"


async def test_openwebui_stop_then_another_message_says_what_had_run(
    tmp_path: Path, invoices: Invoices
) -> None:
    bot = Bot(tmp_path, [SEND, "12"])
    await _asked(bot)
    approve = bot.request("approve")

    async def stream() -> None:
        async for _ in bot.stream(approve):
            pass

    streaming = asyncio.create_task(stream())
    await asyncio.wait_for(invoices.started.wait(), 30)
    streaming.cancel()
    invoices.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(streaming, 30)
    bot.answered("")
    answer = await bot.say("What is 3*4?")
    assert answer.startswith(LEFT_UNFINISHED.format(ran="`send_invoice` had already run"))
    assert answer.endswith("12") and invoices.sent == ["ACME"]


async def test_an_abort_before_the_approved_call_started_gives_the_approval_back(
    tmp_path: Path, invoices: Invoices
) -> None:
    bot = Bot(tmp_path, [SEND, FINAL])
    await _asked(bot)
    approve = bot.request("approve")
    text: list[str] = []
    with abort_receipt() as received:
        async for chunk in bot.stream(approve):
            text.append(chunk["text"])
            if status_of(chunk) == "Running send_invoice…":
                # the approval is claimed, the call not started: abort while we hold this chunk
                assert await run_control.abort((await bot.stored()).state.run_id)
                await asyncio.wait_for(received.wait(), 30)
    assert not invoices.started.is_set()
    answer = "".join(text)
    said = stopped_text(StopReport("waiting_human", not_run=("send_invoice",), next_step=ASK_AGAIN))
    assert answer.endswith(said)
    assert "`send_invoice` was not run. Nothing else was run." in said
    assert "waiting for your approval again: reply **approve**" in said
    assert (await bot.stored()).state.status.value == "waiting_human"
    bot.answered(answer)

    # as it says: "approve" right below runs the call, once
    running = asyncio.create_task(bot.say("approve"))
    await asyncio.wait_for(invoices.started.wait(), 30)
    invoices.release.set()
    assert (await asyncio.wait_for(running, 30)).endswith(FINAL)
    assert invoices.sent == ["ACME"]
    assert "Nothing is waiting for your approval" in await bot.say("approve")
    assert invoices.sent == ["ACME"]


async def test_an_abort_after_a_workflow_answer_says_the_step_was_cut_and_starts_over(
    tmp_path: Path, invoices: Invoices
) -> None:
    """The workflow kind goes through the same stop: the person's answer resumed the run, an
    agent step's tool was running (workflow agents get no approval tools, so it is
    cancelled); the answer names the step, the run is stored as stopped, and the next message
    starts the workflow again as the answer says."""
    unapproved = FunctionTool(held_tool(invoices, "send_draft", "Draft"))
    tool_registry.register_factory("send_draft", lambda context=None, **_: unapproved, "test")
    call = {"tool_calls": [{"name": "send_draft", "arguments": {"customer": "ACME"}}]}
    sender = {
        "system_prompt": "Send the draft.",
        "model": f"scripted/{_script(tmp_path, 'sender', [call, 'never said'])}",
        "tools": ["send_draft"],
    }
    entry = {
        "kind": "workflow",
        "nodes": {
            "start": {"type": "start"},
            "ask": {"type": "human", "prompt": "Which customer?", "output_variable": "who"},
            "send": {"type": "agent", "agent_id": "sender", "label": "Send the draft"},
            "end": {"type": "end"},
        },
        "edges": [
            {"from": "start", "to": "ask"},
            {"from": "ask", "to": "send"},
            {"from": "send", "to": "end"},
        ],
    }
    handler = LiteAgentLLM(
        settings=Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/liteagent.db"),
        catalog=parse_catalog({"models": {"sender": sender, "drafts": entry}}),
    )
    first = requests("approval-request.json")[1]
    chat = {**first.body, "model": "drafts"}
    turns: list[dict[str, Any]] = [{"role": "user", "content": "Send the draft invoice"}]

    async def send(text: list[str] | None = None) -> str:
        request = Recorded(first.n, first.headers, {**chat, "messages": list(turns)})
        out: list[str] = []
        async for chunk in handler.astreaming(
            "drafts", request.messages, **handler_kwargs(request)
        ):
            if isinstance(chunk, dict):
                (text if text is not None else out).append(chunk["text"])
        return "".join(text if text is not None else out)

    try:
        assert "Which customer?" in await send()
        turns += [{"role": "assistant", "content": "Which customer?"}]
        turns += [{"role": "user", "content": "ACME"}]
        text: list[str] = []
        streaming = asyncio.create_task(send(text))
        await asyncio.wait_for(invoices.started.wait(), 30)
        tasks = run_control.tasks.local.tasks.values()  # the runs registered in this process
        [run_id] = [t.task_id for t in tasks if t.agent_id == "drafts"]
        assert await run_control.abort(run_id)
        await asyncio.wait_for(streaming, 30)
        assert invoices.cancelled.is_set() and invoices.sent == []
        answer = "".join(text)
        said = stopped_text(StopReport("failed", interrupted=("Send the draft",)))
        assert answer.endswith(said) and "never said" not in answer
        assert "`Send the draft` was interrupted while running: it may or may not" in said
        assert said.endswith("Send a new message to start again.")
        assert _workflow_runs(tmp_path) == [("failed", run_id)]  # stored as stopped

        # as it says: the next message starts the workflow again
        turns += [{"role": "assistant", "content": answer}]
        turns += [{"role": "user", "content": "Send the draft invoice again"}]
        assert (await send()).startswith("Which customer?")
        [(status, again)] = _workflow_runs(tmp_path)
        assert status == "waiting_human" and again != run_id
    finally:
        tool_registry.unregister("send_draft")
        await handler.aclose()


def held_tool(invoices: Invoices, name: str, what: str) -> Callable[..., Any]:
    """A tool ``name`` that starts, then waits until the test lets it finish (or cancels it)."""

    async def held(customer: str) -> str:
        invoices.started.set()
        try:
            await invoices.release.wait()
        except asyncio.CancelledError:
            invoices.cancelled.set()
            raise
        invoices.sent.append(customer)
        return f"{what} sent to {customer}."

    held.__name__ = held.__qualname__ = name
    held.__doc__ = f"Send the {what.lower()} to a customer (something that cannot be taken back)."
    return held


def _workflow_runs(tmp: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp / "liteagent.db") as db:
        return list(db.execute("SELECT status, execution_id FROM liteagent_workflow_runs"))


def _script(tmp: Path, name: str, items: list[Any]) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(items))
    return path


async def test_openwebui_stop_before_the_approved_call_started_then_approve_below_runs_it(
    tmp_path: Path, invoices: Invoices
) -> None:
    bot = Bot(tmp_path, [SEND, FINAL])
    await _asked(bot)
    approve = bot.request("approve")
    call = handler_kwargs(approve)
    stream = bot.handler.astreaming("assistant", approve.messages, **call)
    async for chunk in stream:
        if isinstance(chunk, dict) and status_of(chunk) == "Running send_invoice…":
            break  # claimed, not started: Open WebUI's Stop closes the response here
    await stream.aclose()
    assert not invoices.started.is_set()
    assert (await bot.stored()).state.status.value == "waiting_human"
    bot.answered("")  # what Open WebUI kept of the cut answer

    # the approval was given back: "approve" below the cut answer runs the call, once
    running = asyncio.create_task(bot.say("approve"))
    await asyncio.wait_for(invoices.started.wait(), 30)
    invoices.release.set()
    assert (await asyncio.wait_for(running, 30)).endswith(FINAL)
    assert invoices.sent == ["ACME"]
