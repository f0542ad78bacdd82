"""Workflow runs served through the chat: one row per (session, workflow), compare-and-set.

A workflow run that waits for a person (a HUMAN node) is saved here with the conversation it
paused in, so that the next message of the same chat resumes it, after a restart or on another
replica. Writes carry the row ``version`` they expect, so two answers to one question cannot
both be applied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from liteagent.log import get_logger
from liteagent.storage.database import Base, Database
from liteagent.storage.repositories import StaleRunError
from liteagent.workflows.state import WorkflowState

__all__ = ["StoredWorkflowRun", "WorkflowRunRecord", "WorkflowRunStore", "workflow_record_id"]

logger = get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class WorkflowRunRecord(Base):
    """The latest run of one workflow in one conversation (session).

    ``state`` is the ``WorkflowState`` JSON and ``state_hash`` its ``compute_hash()`` (checked on
    load). Fingerprints tie the run to the conversation, as for agent runs:
    ``paused_fingerprint`` is the history up to our question, ``answer_fingerprint`` the history
    with the person's answer, ``final_fingerprint`` the history with our final reply.
    """

    __tablename__ = "liteagent_workflow_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_key: Mapped[str] = mapped_column(Text)
    workflow: Mapped[str] = mapped_column(String(128))
    execution_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(Text)
    state_hash: Mapped[str] = mapped_column(String(64))
    paused_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    final_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def workflow_record_id(session_key: str, workflow: str) -> str:
    """Primary key of a session's run of one workflow."""
    return hashlib.sha256(f"workflow\x1f{workflow}\x1f{session_key}".encode()).hexdigest()


@dataclass
class StoredWorkflowRun:
    """A workflow run as stored: its state, the conversation fingerprints and the row version."""

    session_key: str
    workflow: str
    state: WorkflowState
    version: int = 0
    paused_fingerprint: str | None = None
    answer_fingerprint: str | None = None
    final_fingerprint: str | None = None
    updated_at: datetime = field(default_factory=_now)


class WorkflowRunStore:
    """Persists workflow runs per (session, workflow) with compare-and-set writes."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def load(self, *, session_key: str, workflow: str) -> StoredWorkflowRun | None:
        """The stored run, or ``None`` (also when the stored state fails its hash check)."""
        async with self.database.session() as session:
            row = await session.get(WorkflowRunRecord, workflow_record_id(session_key, workflow))
            if row is None:
                return None
            try:
                state = WorkflowState.from_json(row.state)
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning(
                    "workflow_run_unreadable", workflow=workflow, error=type(exc).__name__
                )
                return None
            if state.compute_hash() != row.state_hash:
                logger.warning(
                    "workflow_run_hash_mismatch", workflow=workflow, execution_id=row.execution_id
                )
                return None
            return StoredWorkflowRun(
                session_key=session_key,
                workflow=workflow,
                state=state,
                version=row.version,
                paused_fingerprint=row.paused_fingerprint,
                answer_fingerprint=row.answer_fingerprint,
                final_fingerprint=row.final_fingerprint,
                updated_at=row.updated_at,
            )

    async def save(
        self, run: StoredWorkflowRun, *, expected_version: int | None
    ) -> StoredWorkflowRun:
        """Write ``run`` if the stored row still has ``expected_version`` (``None``: no row).

        Raises:
            StaleRunError: the row was written by someone else in between.
        """
        key = workflow_record_id(run.session_key, run.workflow)
        now = _now()
        values = {
            "execution_id": run.state.execution_id,
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
        run: StoredWorkflowRun,
        values: dict[str, Any],
        now: datetime,
        expected_version: int | None,
    ) -> int:
        async with self.database.session() as session:
            if expected_version is None:
                if await session.get(WorkflowRunRecord, key) is not None:
                    raise StaleRunError(key)
                session.add(
                    WorkflowRunRecord(
                        id=key,
                        session_key=run.session_key,
                        workflow=run.workflow,
                        version=1,
                        created_at=now,
                        **values,
                    )
                )
                new_version = 1
            else:
                result = await session.execute(
                    update(WorkflowRunRecord)
                    .where(
                        WorkflowRunRecord.id == key, WorkflowRunRecord.version == expected_version
                    )
                    .values(version=expected_version + 1, **values)
                )
                if getattr(result, "rowcount", 0) != 1:
                    raise StaleRunError(key)
                new_version = expected_version + 1
        return new_version

    async def put(self, run: StoredWorkflowRun) -> StoredWorkflowRun:
        """Write ``run`` whatever is stored (last writer wins); for fresh runs."""
        for _ in range(3):
            current = await self.load_version(session_key=run.session_key, workflow=run.workflow)
            try:
                return await self.save(run, expected_version=current)
            except StaleRunError:
                continue
        raise StaleRunError(workflow_record_id(run.session_key, run.workflow))

    async def load_version(self, *, session_key: str, workflow: str) -> int | None:
        """The stored row's version, or ``None`` when there is no row."""
        async with self.database.session() as session:
            result = await session.execute(
                select(WorkflowRunRecord.version).where(
                    WorkflowRunRecord.id == workflow_record_id(session_key, workflow)
                )
            )
            return result.scalar_one_or_none()
