"""Repositories: keyword-only data access on top of ``Database``.

Agent runs (``RunStore``) are the compare-and-set store of ``liteagent.storage.runs`` bound to
``liteagent_agent_runs``; notes are the demo tools' rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from liteagent.agents.state import AgentState
from liteagent.storage.base import utcnow
from liteagent.storage.database import Database
from liteagent.storage.models import AgentRunRecord, NoteRecord
from liteagent.storage.runs import RunFields, RunKind, StaleRunError, VersionedRunStore

__all__ = ["Note", "NoteRepository", "RunStore", "StaleRunError", "StoredRun", "run_record_id"]


def run_record_id(session_key: str, agent: str) -> str:
    """Primary key of a session's run with one agent."""
    return hashlib.sha256(f"{agent}\x1f{session_key}".encode()).hexdigest()


@dataclass
class StoredRun(RunFields):
    """A run as stored: its state plus the conversation fingerprints and the row version."""

    session_key: str
    agent: str
    state: AgentState

    @property
    def owner(self) -> str:
        """The agent (the store's owner column)."""
        return self.agent


def _run_id(state: AgentState) -> str:
    return state.run_id


AGENT_RUNS: RunKind[AgentState, StoredRun] = RunKind(
    event="agent_run",
    table=AgentRunRecord.__table__,  # type: ignore[arg-type]
    owner_column="agent",
    run_id_column="run_id",
    record_id=run_record_id,
    parse=AgentState.from_json,
    run_id=_run_id,
    make=StoredRun,
)


class RunStore(VersionedRunStore[AgentState, StoredRun]):
    """Agent runs per (session, agent) with compare-and-set writes (``storage.runs``)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, AGENT_RUNS)

    async def load(self, *, session_key: str, agent: str) -> StoredRun | None:
        """The stored run, or ``None`` (also when the stored state fails its hash check)."""
        return await self.load_run(session_key=session_key, owner=agent)

    async def load_version(self, *, session_key: str, agent: str) -> int | None:
        """The stored row's version, or ``None`` when there is no row."""
        return await self.version_of(session_key=session_key, owner=agent)


@dataclass(frozen=True)
class Note:
    """A saved note."""

    id: int
    title: str
    text: str
    created_at: datetime


class NoteRepository:
    """Notes of the demo ``save_note`` / ``list_notes`` tools, scoped to one owner.

    Adding a note is one ``INSERT`` with a database-assigned id: safe from any number of
    replicas at once.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, *, owner: str, title: str, text: str) -> Note:
        """Save a note for ``owner``."""
        async with self.database.session() as session:
            row = NoteRecord(owner=owner, title=title, text=text, created_at=utcnow())
            session.add(row)
            await session.flush()
            return Note(row.id, row.title, row.text, row.created_at)

    async def list(self, *, owner: str, limit: int = 20) -> list[Note]:
        """The owner's newest notes first."""
        async with self.database.session() as session:
            result = await session.execute(
                select(NoteRecord)
                .where(NoteRecord.owner == owner)
                .order_by(NoteRecord.id.desc())
                .limit(limit)
            )
            return [Note(r.id, r.title, r.text, r.created_at) for r in result.scalars()]
