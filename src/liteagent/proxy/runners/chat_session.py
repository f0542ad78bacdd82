"""One request's work on one stored conversation: what agent and workflow runs share.

A ``ChatSession`` loads the run stored for the chat (``RequestContext.session_key`` and the
entry's name), keeps the text it sent (so the conversation's fingerprints can be taken when the
turn ends), and writes the run back with compare-and-set: a run's first write takes the chat's
slot, a later write fails with ``StaleRunError`` when the row moved on meanwhile and is never
overwritten. The agent and workflow runners subclass it with their own decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar

from liteagent.log import get_logger
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import TextDelta
from liteagent.proxy.runners.agent_chat import ChatTurn, fingerprint
from liteagent.runtime.run_control import RunWatch, run_control
from liteagent.storage import StaleRunError, VersionedRunStore
from liteagent.storage.runs import StoredRunLike

__all__ = ["ABORTED", "ChatSession"]

ABORTED = "Stopped: this run was aborted before it finished. Nothing else was run."

logger = get_logger(__name__)

RunT = TypeVar("RunT", bound=StoredRunLike[Any])


class ChatSession(Generic[RunT]):
    """The shared part of one request's session (see the module docs).

    Args:
        ctx: The request.
        turn: The conversation as the client sent it.
        store: The run store (``None``: nothing is stored for this request).
        name: The catalog entry (the store's owner).
        event: Prefix of log events (``agent_run``, ``workflow_run``).
    """

    def __init__(
        self,
        ctx: RequestContext,
        turn: ChatTurn,
        store: VersionedRunStore[Any, RunT] | None,
        name: str,
        event: str,
    ) -> None:
        self.ctx = ctx
        self.turn = turn
        self.store = store
        self.key = ctx.session_key
        self.name = name
        self.event = event
        self.emitted: list[str] = []
        self.stored: RunT | None = None

    # ------------------------------------------------------------------ text
    def _text(self, text: str) -> TextDelta:
        self.emitted.append(text)
        return TextDelta(text)

    def _say(self, text: str) -> TextDelta:
        """``text`` as a paragraph of its own."""
        sofar = "".join(self.emitted)
        if not sofar.strip() or sofar.endswith("\n\n"):
            sep = ""
        else:
            sep = "\n" if sofar.endswith("\n") else "\n\n"
        return self._text(sep + text)

    def _watch(self, run_id: str) -> AbstractAsyncContextManager[RunWatch]:
        """Register the run so an abort from any replica (``liteagent.runtime.run_control``)
        cancels it here."""
        return run_control.watch(
            run_id, agent=self.name, owner=self.ctx.user_key, metadata={"model": self.ctx.model}
        )

    # ------------------------------------------------------------------ the stored run
    async def _load(self) -> RunT | None:
        if self.store is None:
            return None
        self.stored = await self.store.load_run(session_key=self.key, owner=self.name)
        return self.stored

    def _record_for(self, run_id: str, make: Callable[[], RunT]) -> RunT:
        """The stored record of the run ``run_id``: the loaded one, or a new one (``make``)
        that will take the chat's slot on its first write."""
        record = self.stored
        if record is None or self.store is None or self.store.kind.run_id(record.state) != run_id:
            record = make()
            self.stored = record
        return record

    async def _write(self, record: RunT, *, final: bool, waiting: bool) -> bool:
        """Write ``record`` (compare-and-set). With ``final``, the turn's conversation (the
        client's messages and what this request answered) is fingerprinted: as the question a
        reply must follow (``waiting``) or as a finished exchange. ``False`` when the stored run
        moved on meanwhile: it is never overwritten."""
        assert self.store is not None
        if final:
            reply = {"role": "assistant", "content": "".join(self.emitted)}
            conversation = fingerprint([*self.turn.with_message(), reply])
            record.paused_fingerprint = conversation if waiting else None
            record.final_fingerprint = None if waiting else conversation
        try:
            if record.version:
                await self.store.save(record, expected_version=record.version)
            else:
                await self.store.put(record)
        except StaleRunError:
            logger.warning(
                f"{self.event}_stale", owner=self.name, run_id=self.store.kind.run_id(record.state)
            )
            return False
        return True
