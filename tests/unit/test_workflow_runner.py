"""The workflow kind behind the handler: branches, human steps across restarts, regenerate,
concurrent answers, task requests and what the stream looks like.

The graph is the shipped ``liteagent/triage`` demo; its two agents get scripted models here so
that each branch's answer is known.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from litellm.types.utils import ModelResponse

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = yaml.safe_load((ROOT / "liteagent.yaml").read_text())["models"]["triage"]
BILLING = "Billing desk here: the double charge will be refunded within 5 days."
TECH = "Technical support here: clear the app cache and sign in again."
QUESTION = "I could not tell whether this is about billing or a technical problem"
BLOCK = re.compile(r'<details type="workflow_node" done="true">\n<summary>(.*?)</summary>')


def write_script(tmp: Path, name: str, items: list[Any]) -> str:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(items))
    return f"scripted/{path}"


def triage_entry(tmp: Path, **overrides: Any) -> dict[str, Any]:
    entry = copy.deepcopy(SHIPPED)
    entry["nodes"]["billing_desk"]["model"] = write_script(tmp, "billing", [BILLING] * 10)
    entry["nodes"]["tech_support"]["model"] = write_script(tmp, "tech", [TECH] * 10)
    entry.update(overrides)
    return entry


class Chat:
    """One conversation with a handler, as Open WebUI would hold it."""

    def __init__(self, tmp: Path, chat_id: str | None = "chat-1", user: str = "alice") -> None:
        self.tmp = tmp
        self.db = tmp / "liteagent.db"
        self.chat_id = chat_id
        self.user = user
        self.messages: list[dict[str, Any]] = []
        self.handler: LiteAgentLLM | None = None
        self.chunks: list[Any] = []

    def start(self, catalog: dict[str, Any] | None = None) -> LiteAgentLLM:
        """A fresh handler: a new proxy process with nothing in memory."""
        self.handler = LiteAgentLLM(
            settings=Settings(database_url=f"sqlite+aiosqlite:///{self.db}", agent_cache_size=8),
            catalog=parse_catalog(catalog or {"models": {"triage": triage_entry(self.tmp)}}),
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

    async def send(self, messages: list[dict[str, Any]], *, stream: bool = False) -> str:
        assert self.handler is not None
        if stream:
            self.chunks = [
                c async for c in self.handler.astreaming("triage", messages, **self.kwargs())
            ]
            return "".join(c["text"] for c in self.chunks if isinstance(c, dict))
        response = await self.handler.acompletion("triage", messages, **self.kwargs())
        self.usage = response.usage
        return str(response.choices[0].message.content)

    async def say(self, text: str, *, stream: bool = False) -> str:
        self.messages.append({"role": "user", "content": text})
        answer = await self.send(self.messages, stream=stream)
        self.messages.append({"role": "assistant", "content": answer})
        return answer

    def rows(self) -> list[tuple[str, str]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "liteagent_workflow_runs" not in tables:
                return []
            return list(conn.execute("SELECT status, execution_id FROM liteagent_workflow_runs"))

    def statuses(self) -> list[str]:
        return [r[0] for r in self.rows()]


def summaries(answer: str) -> list[str]:
    return [html.unescape(s) for s in BLOCK.findall(answer)]


def events(chunks: list[Any]) -> list[dict[str, Any]]:
    return [
        c["provider_specific_fields"]["event"]
        for c in chunks
        if isinstance(c, dict) and (c.get("provider_specific_fields") or {}).get("event")
    ]


async def test_billing_words_route_to_the_billing_desk(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    answer = await chat.say("I was charged twice for my order and want a refund")
    assert answer.endswith(BILLING)
    assert summaries(answer) == [
        "Read the request (transform): i was charged twice for my order and want a refund",
        "Billing words (transform): true",
        "Technical words (transform): false",
        "One kind of signal? (condition): true",
        "Billing? (condition): true",
    ]
    assert TECH not in answer
    assert chat.statuses() == []  # nothing to resume: nothing is stored
    assert chat.usage.total_tokens > 0


async def test_technical_words_route_to_technical_support(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    answer = await chat.say("The app shows an error and crashes when I log in")
    assert answer.endswith(TECH)
    assert "Billing? (condition): false" in summaries(answer)
    assert BILLING not in answer


async def test_uncertain_request_asks_and_the_answer_resumes_after_a_restart(
    tmp_path: Path,
) -> None:
    chat = Chat(tmp_path)
    chat.start()
    asked = await chat.say("Hello, I need help with my account", stream=True)
    assert QUESTION in asked and '"Hello, I need help with my account"' in asked
    assert "Reply with one of: `billing`, `technical`" in asked
    assert "One kind of signal? (condition): false" in summaries(asked)
    assert {"type": "status", "data": {"description": "Waiting for your answer", "done": True}} in (
        events(chat.chunks)
    )
    assert chat.statuses() == ["waiting_human"]

    handler = chat.start()  # restart: a new handler with nothing in memory
    answer = await chat.say("Technical")
    assert answer.endswith(TECH)
    assert summaries(answer)[0] == "Ask which desk (human): you answered technical"
    assert chat.statuses() == ["completed"]
    # the agent got the original request, not the answer to the question
    runner = next(iter(handler.cache._lru.values()))
    [provider] = runner.nodes._providers.values()
    messages, _ = provider.calls[0]
    assert messages[-1].content == "Hello, I need help with my account"


async def test_answers_by_number_and_wrong_answers_are_asked_again(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    await chat.say("Can you help me?")
    again = await chat.say("the red one")
    assert again.startswith("Please answer with one of: billing, technical.")
    assert QUESTION in again
    assert chat.statuses() == ["waiting_human"]
    answer = await chat.say("1")  # the first option
    assert answer.endswith(BILLING)


async def test_cancel_ends_the_run(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    await chat.say("Can you help me?")
    answer = await chat.say("cancel")
    assert "Cancelled. Nothing else was run." in answer
    assert chat.statuses() == ["failed"]
    # the next message starts a new run, it does not answer the old question
    again = await chat.say("technical")
    assert QUESTION in again


async def test_regenerate_starts_a_new_run_and_a_repeated_answer_runs_nothing(
    tmp_path: Path,
) -> None:
    chat = Chat(tmp_path)
    chat.start()
    await chat.say("Can you help me?")
    [(_, first_run)] = chat.rows()

    # regenerate the question: same chat id, history cut back to the first message
    chat.messages = chat.messages[:1]
    asked = await chat.send(chat.messages)
    chat.messages.append({"role": "assistant", "content": asked})
    [(status, second_run)] = chat.rows()
    assert status == "waiting_human" and second_run != first_run

    answer = await chat.say("billing")
    assert answer.endswith(BILLING)
    # regenerate the answer to "billing": the same history again runs nothing twice
    replay = await chat.send(chat.messages[:-1])
    assert replay.startswith("This answer was already given, so nothing was run again.")
    assert replay.endswith(BILLING)
    assert summaries(replay) == []


async def test_an_edited_question_branch_does_not_answer_the_old_question(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    await chat.say("Can you help me?")
    # an edited first message: the stored question belongs to another branch
    chat.messages = []
    answer = await chat.say("My invoice is wrong")
    assert answer.endswith(BILLING)
    assert chat.statuses() == ["waiting_human"]  # the other branch's question is still there


async def test_two_simultaneous_answers_are_applied_once(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    await chat.say("Can you help me?")
    history = [*chat.messages, {"role": "user", "content": "billing"}]
    first, second = Chat(tmp_path), Chat(tmp_path)
    replicas = [first.start(), second.start()]
    answers = await asyncio.gather(first.send(history), second.send(history))
    assert sum(a.startswith("This answer was already given") for a in answers) == 1
    calls = 0
    for handler in replicas:
        for runner in handler.cache._lru.values():
            calls += sum(p.call_count for p in runner.nodes._providers.values())
    assert calls == 1  # the billing desk answered once
    assert chat.statuses() == ["completed"]


async def test_task_request_answers_json_and_stores_nothing(tmp_path: Path) -> None:
    task_model = write_script(tmp_path, "task", ['{"title": "Account help"}'])
    chat = Chat(tmp_path)
    chat.start({"models": {"triage": triage_entry(tmp_path, model=task_model)}})
    prompt = (
        '### Task:\nGenerate a title. Reply with JSON: {"title": "..."}\n'
        "<chat_history>\nUSER: Can you help me?\n</chat_history>"
    )
    answer = await chat.send([{"role": "user", "content": prompt}])
    assert json.loads(answer) == {"title": "Account help"}
    assert chat.rows() == []


async def test_stream_shows_steps_then_the_answer_token_by_token(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    answer = await chat.say("Please refund my payment", stream=True)
    statuses = [e["data"]["description"] for e in events(chat.chunks)]
    assert statuses[:2] == ["Working…", "Running triage…"]
    assert "Running Read the request…" in statuses and "Running Billing desk…" in statuses
    assert statuses[-1] == "Done"
    texts = [c["text"] for c in chat.chunks if isinstance(c, dict) and c["text"]]
    start = next(i for i, t in enumerate(texts) if t == "\nBilling")
    assert len(texts) - start > 5  # the answer arrives in pieces, as it is generated
    assert answer.endswith(BILLING)
    assert "Billing desk (agent)" not in answer  # the streamed answer is not repeated in a block
    assert chat.chunks[-1]["usage"]["total_tokens"] > 0


async def test_agent_nodes_reuse_catalog_agents_and_show_their_tool_calls(tmp_path: Path) -> None:
    calc = write_script(
        tmp_path,
        "calc",
        [
            {"tool_calls": [{"name": "calculator", "arguments": {"expression": "19*3"}}]},
            "That is 57 euros.",
        ],
    )
    entry = {
        "kind": "workflow",
        "nodes": {
            "start": {"type": "start"},
            "sum": {"type": "agent", "agent_id": "mathbot", "output_variable": "answer"},
            "end": {"type": "end", "output_variable": "answer"},
        },
        "edges": [{"from": "start", "to": "sum"}, {"from": "sum", "to": "end"}],
    }
    agent = {"system_prompt": "Compute prices.", "model": calc, "tools": ["calculator"]}
    chat = Chat(tmp_path)
    chat.start({"models": {"mathbot": agent, "triage": entry}})
    answer = await chat.say("3 items at 19 euros?")
    assert answer.endswith("That is 57 euros.")
    [block] = re.findall(r'<details type="tool_calls" done="true" ([^\n>]*)>', answer)
    attributes = dict(re.findall(r'(\w+)="(.*?)"', block))
    assert attributes["name"] == "calculator"
    assert json.loads(html.unescape(attributes["result"])) == "19*3 = 57"
    assert chat.usage.completion_tokens == 1 + 4  # both model calls are billed


async def test_a_changed_workflow_does_not_resume_an_old_question(tmp_path: Path) -> None:
    chat = Chat(tmp_path)
    chat.start()
    await chat.say("Can you help me?")
    changed = triage_entry(tmp_path)
    changed["nodes"]["confirm"]["prompt"] = "Billing or technical?"
    chat.start({"models": {"triage": changed}})
    answer = await chat.say("technical")
    assert answer.startswith("This workflow was changed since it asked you")
    assert "Billing or technical?" in answer  # a new run on "technical", which is uncertain


async def test_a_failing_agent_stops_the_workflow_with_the_reason(tmp_path: Path) -> None:
    entry = triage_entry(tmp_path)
    entry["nodes"]["billing_desk"]["model"] = write_script(tmp_path, "down", [{"error": "boom"}])
    chat = Chat(tmp_path)
    chat.start({"models": {"triage": entry}})
    answer = await chat.say("refund please")
    assert "The workflow stopped: Node 'billing_desk' (agent) failed:" in answer
    assert "boom" in answer
    assert "Billing desk (agent): failed" in "\n".join(summaries(answer))


@pytest.mark.parametrize("chat_id", [None])
async def test_without_a_chat_id_the_conversation_still_resumes(
    tmp_path: Path, chat_id: str | None
) -> None:
    chat = Chat(tmp_path, chat_id=chat_id)
    chat.start()
    await chat.say("Can you help me?")
    answer = await chat.say("technical")
    assert answer.endswith(TECH)
