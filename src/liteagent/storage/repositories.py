"""Repositories: keyword-only data access on top of ``Database`` (the demo tools' notes).

Agent and workflow runs are the engine's bindings of ``liteagent.storage.runs``
(``liteagent.agents.run_store``, ``liteagent.workflows.run_store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from liteagent.storage.base import utcnow
from liteagent.storage.database import Database
from liteagent.storage.models import NoteRecord

__all__ = ["Note", "NoteRepository"]


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
