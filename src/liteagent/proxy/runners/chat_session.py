"""One request's work on one stored conversation: what agent and workflow runs share.

A ``ChatSession`` loads the run stored for the chat (``RequestContext.session_key`` and the
entry's name), keeps the text it sent (so the conversation's fingerprints can be taken when the
turn ends), and writes the run back with compare-and-set: a run's first write takes the chat's
slot, a later write fails with ``StaleRunError`` when the row moved on meanwhile and is never
overwritten. It drives a run (``_drive``) under a watch for aborts from any replica, and has
what a stop leaves saved (``_save_cancelled``) before the chat's next turn starts. A stop is one
mechanism for both ways it comes: Open WebUI's Stop (the client goes away: nothing more can be
said) and an abort (the answer goes on): either leaves the same saved state, described by a
``StopReport``, from which an abort's answer says what was done and what the next message does
(``stopped_text``). The agent and workflow runners subclass it with their own decisions and
steps.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass
from typing import Generic

from liteagent.log import get_logger
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import RunEvent, RunFinished, StatusUpdate, TextDelta, ToolStep
from liteagent.proxy.runners.agent_chat import ChatTurn, fingerprint
from liteagent.runtime.run_control import RunWatch, run_control
from liteagent.runtime.session_lock import finish_turn_with, turn_key
from liteagent.storage import StaleRunError, VersionedRunStore
from liteagent.storage.runs import RunKind, RunT, StateT

__all__ = ["ABORTED", "ChatSession", "StopReport", "stopped_text"]

ABORTED = "Stopped: this run was aborted before it finished."
NOTHING_ELSE = "Nothing else was run."
START_AGAIN = "Send a new message to start again."

logger = get_logger(__name__)


@dataclass(frozen=True)
class StopReport:
    """What a stop left of a run (see ``ChatSession._save_cancelled``).

    Attributes:
        status: The status the run was saved with (its kind's own values), or ``None`` when
            nothing was saved.
        finished: Calls that had started and were let finish: their results are kept, and an
            abort's answer shows them.
        interrupted: Names of the calls (or steps) cut off while they ran: they may or may not
            have taken effect, and are not run again.
        not_run: Names of approved calls that had not started: they did not run.
        next_step: What the chat's next message does with the run (a sentence for the person).
    """

    status: str | None = None
    finished: tuple[ToolStep, ...] = ()
    interrupted: tuple[str, ...] = ()
    not_run: tuple[str, ...] = ()
    next_step: str = START_AGAIN


def _names(names: tuple[str, ...]) -> tuple[str, bool]:
    """``names`` for the person ("`a`", "`a` and `b`") and whether there are several."""
    quoted = [f"`{n}`" for n in dict.fromkeys(names)]
    if len(quoted) == 1:
        return quoted[0], False
    return ", ".join(quoted[:-1]) + " and " + quoted[-1], True


def stopped_text(report: StopReport) -> str:
    """What an aborted run's answer says: what was done, then what the next message does."""
    parts = [ABORTED]
    for names, one, several in (
        (
            tuple(s.name for s in report.finished),
            "{} was already running, so it was let finish (its result is above).",
            "{} were already running, so they were let finish (their results are above).",
        ),
        (
            report.interrupted,
            "{} was interrupted while running: it may or may not have taken effect.",
            "{} were interrupted while running: they may or may not have taken effect.",
        ),
        (report.not_run, "{} was not run.", "{} were not run."),
    ):
        if names:
            shown, plural = _names(names)
            parts.append((several if plural else one).format(shown))
    parts.append(NOTHING_ELSE)
    return " ".join(parts) + "\n\n" + report.next_step


class ChatSession(ABC, Generic[StateT, RunT]):
    """The shared part of one request's session (see the module docs).

    Args:
        ctx: The request.
        turn: The conversation as the client sent it.
        store: The run store (``None``: nothing is stored for this request).
        name: The catalog entry (the store's owner).
        kind: The kind of run (``AGENT_RUNS``, ``WORKFLOW_RUNS``): its run ids, stored records
            and log events (``agent_run_…``, ``workflow_run_…``).
        abort_poll_interval: Seconds between two looks for an abort of the run
            (``LITEAGENT_ABORT_POLL_INTERVAL``).
    """

    def __init__(
        self,
        ctx: RequestContext,
        turn: ChatTurn,
        store: VersionedRunStore[StateT, RunT] | None,
        name: str,
        kind: RunKind[StateT, RunT],
        *,
        abort_poll_interval: float,
    ) -> None:
        self.ctx = ctx
        self.abort_poll_interval = abort_poll_interval
        self.turn = turn
        self.store = store
        self.key = ctx.session_key
        self.name = name
        self.kind = kind
        self.emitted: list[str] = []
        self.stored: RunT | None = None
        self.run_id: str | None = None

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
            run_id,
            agent=self.name,
            owner=self.ctx.user_key,
            metadata={"model": self.ctx.model},
            interval=self.abort_poll_interval,
        )

    # ------------------------------------------------------------------ drive
    async def _drive(self, state: StateT) -> AsyncGenerator[RunEvent, None]:
        """Yield the events of ``_drive_steps(state)`` while watching the run for an abort.

        When the client goes away (Open WebUI's Stop) or an abort arrives, what the stop leaves
        is saved (``_save_cancelled``, the same for both) before the chat's next turn starts; an
        abort then ends the answer normally, saying what the stop left (``_stopped``); anything
        else is raised again.
        """
        self.run_id = self.kind.run_id(state)
        async with self._watch(self.run_id) as watch:
            try:
                async with (
                    aclosing(self._drive_steps(state)) as steps,
                    aclosing(watch.guard(steps)) as events,
                ):
                    async for event in events:
                        yield event
            except (asyncio.CancelledError, GeneratorExit) as exc:
                aborted = isinstance(exc, asyncio.CancelledError) and watch.absorb()
                # this task cannot await any more: the rest runs in a task of its own, and the
                # chat's next turn waits for it
                rest = asyncio.ensure_future(self._save_cancelled())
                finish_turn_with(turn_key(self.name, self.key), rest)
                report = await asyncio.shield(rest)
                if not aborted:
                    raise
                # an abort (from any replica): the run is stopped, the answer ends normally
                for event in self._stopped(report):
                    yield event

    @abstractmethod
    def _drive_steps(self, state: StateT) -> AsyncGenerator[RunEvent, None]:
        """Step the run from ``state`` to its end or its next wait, with the events to send."""

    @abstractmethod
    async def _save_cancelled(self) -> StopReport:
        """Save the stored run as a stop at its phase leaves it (see ``_drive``); what was
        saved."""

    def _stopped(self, report: StopReport) -> list[RunEvent]:
        """The end of an answer whose run was aborted: the calls let finish, what the stop left
        and what the next message does (``stopped_text``), then ``RunFinished``."""
        metadata = {**self._finish_metadata(), "stopped": True}
        if report.status is not None:
            metadata["status"] = report.status
        return [
            StatusUpdate("Stopped", done=True),
            *report.finished,
            self._say(stopped_text(report)),
            RunFinished(metadata=metadata),
        ]

    @abstractmethod
    def _finish_metadata(self) -> dict[str, object]:
        """The response metadata of this request's answer (its model)."""

    # ------------------------------------------------------------------ the stored run
    async def _load(self) -> RunT | None:
        if self.store is None:
            return None
        self.stored = await self.store.load_run(session_key=self.key, owner=self.name)
        return self.stored

    def _record_for(self, state: StateT) -> RunT:
        """The stored record of the run of ``state``, holding ``state``: the loaded one, or a new
        one that will take the chat's slot on its first write."""
        record = self.stored
        if record is None or self.kind.run_id(record.state) != self.kind.run_id(state):
            record = self.kind.make(self.key, self.name, state)
            self.stored = record
        record.state = state
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
                f"{self.kind.event}_stale", owner=self.name, run_id=self.kind.run_id(record.state)
            )
            return False
        return True
