"""Repositories: keyword-only data access on top of ``Database``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from liteagent.agents.state import AgentState
from liteagent.log import get_logger
from liteagent.storage.database import Database
from liteagent.storage.models import AgentRunRecord, NoteRecord

logger = get_logger(__name__)


class StaleRunError(Exception):
    """The stored run changed since it was loaded (someone else answered or moved it on)."""


def run_record_id(session_key: str, agent: str) -> str:
    """Primary key of a session's run with one agent."""
    return hashlib.sha256(f"{agent}\x1f{session_key}".encode()).hexdigest()


@dataclass
class StoredRun:
    """A run as stored: its state plus the conversation fingerprints and the row version."""

    session_key: str
    agent: str
    state: AgentState
    version: int = 0
    paused_fingerprint: str | None = None
    answer_fingerprint: str | None = None
    final_fingerprint: str | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class RunStore:
    """Persists agent runs per (session, agent) with compare-and-set writes."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def load(self, *, session_key: str, agent: str) -> StoredRun | None:
        """The stored run, or ``None`` (also when the stored state fails its hash check)."""
        async with self.database.session() as session:
            row = await session.get(AgentRunRecord, run_record_id(session_key, agent))
            if row is None:
                return None
            state = AgentState.from_json(row.state)
            if state.compute_hash() != row.state_hash:
                logger.warning("agent_run_hash_mismatch", agent=agent, run_id=row.run_id)
                return None
            return StoredRun(
                session_key=session_key,
                agent=agent,
                state=state,
                version=row.version,
                paused_fingerprint=row.paused_fingerprint,
                answer_fingerprint=row.answer_fingerprint,
                final_fingerprint=row.final_fingerprint,
                updated_at=row.updated_at,
            )

    async def save(self, run: StoredRun, *, expected_version: int | None) -> StoredRun:
        """Write ``run`` if the stored row still has ``expected_version`` (``None``: no row).

        Returns the run with its new version.

        Raises:
            StaleRunError: the row was written by someone else in between.
        """
        key = run_record_id(run.session_key, run.agent)
        now = datetime.now(UTC)
        values = {
            "run_id": run.state.run_id,
            "status": run.state.status.value,
            "state": run.state.to_json(),
            "state_hash": run.state.compute_hash(),
            "paused_fingerprint": run.paused_fingerprint,
            "answer_fingerprint": run.answer_fingerprint,
            "final_fingerprint": run.final_fingerprint,
            "updated_at": now,
        }
        try:
            new_version = await self._write(key, run, values, now, expected_version)
        except IntegrityError:  # a concurrent first save of the same run won the insert
            raise StaleRunError(key) from None
        run.version = new_version
        run.updated_at = now
        return run

    async def _write(
        self,
        key: str,
        run: StoredRun,
        values: dict[str, Any],
        now: datetime,
        expected_version: int | None,
    ) -> int:
        async with self.database.session() as session:
            if expected_version is None:
                if await session.get(AgentRunRecord, key) is not None:
                    raise StaleRunError(key)
                session.add(
                    AgentRunRecord(
                        id=key,
                        session_key=run.session_key,
                        agent=run.agent,
                        version=1,
                        created_at=now,
                        **values,
                    )
                )
                new_version = 1
            else:
                result = await session.execute(
                    update(AgentRunRecord)
                    .where(AgentRunRecord.id == key, AgentRunRecord.version == expected_version)
                    .values(version=expected_version + 1, **values)
                )
                if getattr(result, "rowcount", 0) != 1:
                    raise StaleRunError(key)
                new_version = expected_version + 1
        return new_version

    async def put(self, run: StoredRun) -> StoredRun:
        """Write ``run`` whatever is stored (last writer wins); for fresh runs."""
        current = await self.load_version(session_key=run.session_key, agent=run.agent)
        try:
            return await self.save(run, expected_version=current)
        except StaleRunError:
            current = await self.load_version(session_key=run.session_key, agent=run.agent)
            return await self.save(run, expected_version=current)

    async def load_version(self, *, session_key: str, agent: str) -> int | None:
        async with self.database.session() as session:
            result = await session.execute(
                select(AgentRunRecord.version).where(
                    AgentRunRecord.id == run_record_id(session_key, agent)
                )
            )
            return result.scalar_one_or_none()


@dataclass(frozen=True)
class Note:
    id: int
    title: str
    text: str
    created_at: datetime


class NoteRepository:
    """Notes of the demo ``save_note`` / ``list_notes`` tools, scoped to one owner."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, *, owner: str, title: str, text: str) -> Note:
        async with self.database.session() as session:
            row = NoteRecord(owner=owner, title=title, text=text, created_at=datetime.now(UTC))
            session.add(row)
            await session.flush()
            return Note(row.id, row.title, row.text, row.created_at)

    async def list(self, *, owner: str, limit: int = 20) -> list[Note]:
        async with self.database.session() as session:
            result = await session.execute(
                select(NoteRecord)
                .where(NoteRecord.owner == owner)
                .order_by(NoteRecord.id.desc())
                .limit(limit)
            )
            return [Note(r.id, r.title, r.text, r.created_at) for r in result.scalars()]
