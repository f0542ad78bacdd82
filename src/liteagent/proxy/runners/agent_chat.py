"""How a chat request maps onto an agent run: the turn, reply words and fingerprints.

The conversation the client sends is the truth (Open WebUI's regenerate sends the same chat id
with the history cut). A stored run is tied to the conversation it belongs to by
*fingerprints*: hashes of the **user** turns (whitespace normalised, rendered ``<details>``
blocks removed). Assistant turns are deliberately left out: clients rebuild them from their own
stored copy (Open WebUI cuts them at text it takes for reasoning tags, re-renders our blocks,
appends sources), so our free text never comes back byte for byte, while the person's own
messages and the chat id do. A regenerated or edited history changes the user turns, so a
stale question is still never answered on another branch.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

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
    tool_exchange: list[ChatMessage] = field(default_factory=list)
    """The client's tool calls and their results after ``message`` (``client_tools`` only)."""

    @classmethod
    def from_context(cls, ctx: RequestContext, *, client_tools: bool = False) -> ChatTurn:
        """Split the client's messages; our earlier markup is removed from assistant turns.

        With ``client_tools``, assistant ``tool_calls`` and ``tool`` results that follow the
        last user message are kept as ``tool_exchange`` (the client ran its tools; the model
        continues from their results). Otherwise tool results read as user text.
        """
        messages = ctx.messages
        exchange: list[ChatMessage] = []
        if client_tools:
            last = max(i for i, m in enumerate(messages) if m["role"] == "user")
            after = messages[last + 1 :]
            exchange = [dict(m) for m in after if m["role"] in ("assistant", "tool")]
            if any(m["role"] == "tool" for m in exchange):
                rest = [m for m in after if m["role"] not in ("assistant", "tool")]
                messages = [*messages[: last + 1], *rest]
            else:
                exchange = []
        cleaned: list[ChatMessage] = []
        system: list[str] = []
        for msg in messages:
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
            tool_exchange=exchange,
        )

    def with_message(self) -> list[ChatMessage]:
        return [*self.history, {"role": "user", "content": self.message}]


# A turn's normal form is needed several times per request (the history's and the whole
# conversation's fingerprints, before and after the run): long texts are normalised once.
_LONG_TEXT = 4_096
_normal_cache: LRUCache[str, str] = LRUCache(maxsize=8)
_normal_lock = threading.Lock()


def _normal(text: str) -> str:
    long = len(text) >= _LONG_TEXT
    if long:
        with _normal_lock:
            cached = _normal_cache.get(text)
        if cached is not None:
            return cached
    # WORD JOINERs are what ``openwebui_safe`` adds to the text we send: ignore them
    normal = " ".join(strip_rendered_blocks(text).replace(WORD_JOINER, "").split())
    if long:
        with _normal_lock:
            _normal_cache[text] = normal
    return normal


# Past this much text, a request's turn is read off the event loop (stripping our rendered
# blocks and normalising a megabyte takes tens of milliseconds).
OFF_LOOP_CHARS = 64_000


def _read_turn(ctx: RequestContext, client_tools: bool) -> ChatTurn:
    turn = ChatTurn.from_context(ctx, client_tools=client_tools)
    fingerprint(turn.with_message())  # normalises every user turn into the cache
    return turn


async def read_turn(ctx: RequestContext, *, client_tools: bool = False) -> ChatTurn:
    """``ChatTurn.from_context``, in a worker thread for a large request.

    The user turns' normal forms are computed there too, so the fingerprints taken later on
    the event loop are cache hits.
    """
    size = sum(len(str(m.get("content") or "")) for m in ctx.messages)
    if size < OFF_LOOP_CHARS:
        return ChatTurn.from_context(ctx, client_tools=client_tools)
    return await asyncio.to_thread(_read_turn, ctx, client_tools)


def fingerprint(messages: list[ChatMessage]) -> str:
    """Hash of a conversation's user turns (rendered blocks and spacing ignored).

    Assistant turns do not count: what a client sends back of them is not what we sent (see the
    module docstring). Two requests of one chat with the same user turns are the same point of
    the conversation.
    """
    turns = [_normal(str(m.get("content") or "")) for m in messages if m.get("role") == "user"]
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
_TRAILING_MARKS = re.compile(r"[\s.!]*")


def _bare(text: str) -> str:
    """``text`` without its trailing spaces, dots and exclamation marks.

    Matched on the reversed text: a search for the run before the end would rescan every run
    of spaces inside the text, in quadratic time.
    """
    trailing = _TRAILING_MARKS.match(text[::-1])
    return text[: len(text) - trailing.end()] if trailing else text


@dataclass(frozen=True)
class Reply:
    """What the person's message means for the pending request."""

    kind: str  # "approve" | "reject" | "abort" | "answer"
    text: str


def parse_reply(message: str, request_type: str) -> Reply:
    """Read the person's answer to a pending request.

    - approvals: "approve" / "yes" / "ok" … approve; "reject: why" / "no, why" reject;
      "cancel" aborts the run; any other text rejects, with the text as feedback for the agent.
    - questions and clarifications: "cancel" aborts; anything else is the answer.
    """
    text = message.strip()
    word = _bare(text.lower()).strip()
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
    """The message is a bare approval ("approve", "yes", "ok"…)."""
    return _bare(message.strip().lower()) in _APPROVE


def is_reply_word(message: str) -> bool:
    """The message reads as an answer to an approval request: approve, reject… or cancel."""
    word = _bare(message.strip().lower())
    if word in _APPROVE or word in _ABORT:
        return True
    return re.match(r"^(?:reject(?:ed)?|deny|denied|decline)\b", word) is not None


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
