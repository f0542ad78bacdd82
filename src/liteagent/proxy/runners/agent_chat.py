"""How a chat request maps onto an agent run: the turn, reply words, fingerprints, task answers.

The conversation the client sends is the truth (Open WebUI's regenerate sends the same chat id
with the history cut). A stored run is tied to the exact conversation it belongs to by
*fingerprints*: hashes of the user and assistant turns, with our rendered ``<details>`` blocks
removed and whitespace normalised, so that what a client sends back matches what we sent.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from liteagent.llm.base import LLMMessage, content_to_text
from liteagent.proxy.context import RequestContext, strip_rendered_blocks
from liteagent.proxy.openwebui import WORD_JOINER

ChatMessage = dict[str, Any]


@dataclass(frozen=True)
class ChatTurn:
    """One request as a conversation: earlier turns, the new user message, client system text."""

    history: list[ChatMessage]
    message: str
    system: list[str] = field(default_factory=list)

    @classmethod
    def from_context(cls, ctx: RequestContext) -> ChatTurn:
        """Split the client's messages; our earlier markup is removed from assistant turns."""
        cleaned: list[ChatMessage] = []
        system: list[str] = []
        for msg in ctx.messages:
            role = msg["role"]
            text = content_to_text(msg.get("content")) or ""
            if role in ("system", "developer"):
                if text.strip():
                    system.append(text.strip())
            elif role == "assistant":
                text = strip_rendered_blocks(text).strip()
                if text:
                    cleaned.append({"role": "assistant", "content": text})
            elif role in ("tool", "function"):
                cleaned.append({"role": "user", "content": f"[tool result]\n{text}"})
            else:
                cleaned.append({"role": "user", "content": text})
        last_user = max(i for i, m in enumerate(cleaned) if m["role"] == "user")
        return cls(
            history=cleaned[:last_user],
            message=str(cleaned[last_user]["content"]),
            system=system,
        )

    def with_message(self) -> list[ChatMessage]:
        return [*self.history, {"role": "user", "content": self.message}]


def _normal(text: str) -> str:
    # WORD JOINERs are what ``openwebui_safe`` adds to the text we send: ignore them
    return " ".join(strip_rendered_blocks(text).replace(WORD_JOINER, "").split())


def fingerprint(messages: list[ChatMessage]) -> str:
    """Hash of a conversation's user and assistant turns (rendered blocks and spacing ignored)."""
    turns = [
        [m["role"], _normal(str(m.get("content") or ""))]
        for m in messages
        if m.get("role") in ("user", "assistant") and _normal(str(m.get("content") or ""))
    ]
    data = json.dumps(turns, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- replies
_APPROVE = {
    "approve",
    "approved",
    "yes",
    "y",
    "ok",
    "okay",
    "sure",
    "confirm",
    "confirmed",
    "go ahead",
    "do it",
    "proceed",
    "lgtm",
    "yes please",
    "run it",
}
_ABORT = {"cancel", "abort", "stop", "cancel it", "abort it"}
_REJECT = re.compile(r"^(?:reject(?:ed)?|no|deny|denied|decline|n)\b[\s:,.!-]*(.*)$", re.I | re.S)


@dataclass(frozen=True)
class Reply:
    """What the person's message means for the pending request."""

    kind: str  # "approve" | "reject" | "abort" | "answer"
    text: str


def parse_reply(message: str, request_type: str) -> Reply:
    """Read the person's answer to a pending request.

    - approvals: "approve" / "yes" / "ok" … approve; "reject: <reason>" / "no, <reason>" reject;
      "cancel" aborts the run; any other text rejects, with the text as feedback for the agent.
    - questions and clarifications: "cancel" aborts; anything else is the answer.
    """
    text = message.strip()
    word = re.sub(r"[\s.!]+$", "", text.lower()).strip()
    if word in _ABORT:
        return Reply("abort", text)
    if request_type != "approval":
        return Reply("answer", text)
    if word in _APPROVE:
        return Reply("approve", text)
    match = _REJECT.match(text)
    if match:
        return Reply("reject", match.group(1).strip() or "no reason given")
    return Reply("reject", text)


def is_approval_word(message: str) -> bool:
    return re.sub(r"[\s.!]+$", "", message.strip().lower()) in _APPROVE


# ----------------------------------------------------------------------------- task requests
_TASK_KEYS = ("follow_ups", "queries", "title", "tags", "text")
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def _task_key(prompt: str) -> str | None:
    found = [(prompt.find(f'"{key}"'), key) for key in _TASK_KEYS if f'"{key}"' in prompt]
    return min(found)[1] if found else None


def _chat_lines(prompt: str) -> list[str]:
    match = re.search(r"<chat_history>(.*?)</chat_history>", prompt, re.S)
    body = match.group(1) if match else ""
    return [
        line.split(":", 1)[1].strip()
        for line in body.splitlines()
        if line.strip().upper().startswith("USER:")
    ]


def task_answer_json(model_text: str, prompt: str) -> str:
    """Valid JSON for an Open WebUI task request (title, tags, follow-ups, queries…).

    The model's JSON object is used when it parses and has the key the task asks for; otherwise
    a plain answer is derived from the chat history, so the client always gets valid JSON.
    """
    key = _task_key(prompt)
    match = _JSON_OBJECT.search(model_text)
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and (key is None or key in data):
            return json.dumps(data, ensure_ascii=False)
    users = _chat_lines(prompt)
    first = users[0] if users else ""
    last = users[-1] if users else ""
    fallback: dict[str, Any]
    if key == "title":
        words = re.sub(r"\s+", " ", first).strip().split(" ")[:6]
        fallback = {"title": " ".join(words).strip(" .?!") or "New chat"}
    elif key == "tags":
        fallback = {"tags": ["General"]}
    elif key == "queries":
        fallback = {"queries": [last] if last else []}
    elif key == "follow_ups":
        fallback = {"follow_ups": []}
    elif key == "text":
        fallback = {"text": ""}
    else:
        fallback = {}
    return json.dumps(fallback, ensure_ascii=False)


def conversation(ctx: RequestContext, system_prompt: str | None) -> list[LLMMessage]:
    """The request as LLM messages: the entry's system prompt, the client's system text, then
    the cleaned history and the new user message (see ``ChatTurn.from_context``)."""
    turn = ChatTurn.from_context(ctx)
    out = [LLMMessage(role="system", content=system_prompt)] if system_prompt else []
    out += [LLMMessage(role="system", content=text) for text in turn.system]
    out += [
        LLMMessage(role="assistant" if m["role"] == "assistant" else "user", content=m["content"])
        for m in turn.with_message()
    ]
    return out
