"""Job records: every background job's status, attempts, result and error, in one table.

Both runners (Celery workers and the in-process default) write here, so ``liteagent jobs``
and any caller can see what ran, what is waiting for a retry and what failed. A webhook that
exhausted its retries stays as a ``dead_letter`` row (its payload kept, its headers redacted)
until ``cleanup_failed_webhooks`` removes it.

The table (``liteagent_jobs``) is part of LiteAgent's migrated schema in
``LITEAGENT_DATABASE_URL``, brought up to date on first use like the other tables; no secret is
ever stored in it (arguments and errors are redacted).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from liteagent.errors import ConfigurationError
from liteagent.redaction import redact_mapping, redact_text
from liteagent.storage.database import Database
from liteagent.storage.job_models import JobRecord

__all__ = [
    "Job",
    "JobRecord",
    "JobStatus",
    "JobStore",
]

MAX_ERROR_CHARS = 2000


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class JobStatus(StrEnum):
    """Where a job is."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD_LETTER = "dead_letter"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD_LETTER)


@dataclass(frozen=True)
class Job:
    """A job as read back from the table."""

    id: str
    name: str
    status: JobStatus
    args: dict[str, Any]
    attempts: int
    max_attempts: int
    result: Any
    error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_record(cls, row: JobRecord) -> Job:
        return cls(
            id=row.id,
            name=row.name,
            status=JobStatus(row.status),
            args=json.loads(row.args),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            result=json.loads(row.result) if row.result is not None else None,
            error=row.error,
            next_attempt_at=_aware(row.next_attempt_at),
            created_at=_aware(row.created_at) or row.created_at,
            updated_at=_aware(row.updated_at) or row.updated_at,
            finished_at=_aware(row.finished_at),
        )


def new_job_id() -> str:
    """A fresh job id (also used as the Celery task id)."""
    return uuid.uuid4().hex


def _safe_error(error: str) -> str:
    return redact_text(error)[:MAX_ERROR_CHARS]


class JobStore:
    """Reads and writes job records in one database.

    Args:
        url: A SQLAlchemy async URL (``LITEAGENT_DATABASE_URL``).
    """

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except Exception:  # noqa: BLE001 - any parse failure is a configuration error
            raise ConfigurationError(
                "LITEAGENT_DATABASE_URL is not a valid SQLAlchemy URL."
            ) from None
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite":
            # Workers run each job in a fresh event loop: no connection may outlive it.
            kwargs = {"poolclass": NullPool, "connect_args": {"timeout": 30}}
        self._url = url
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._ready = False

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[JobStore]:
        """A store for the duration of a block (its engine is disposed afterwards)."""
        store = cls(url)
        try:
            yield store
        finally:
            await store.close()

    async def close(self) -> None:
        await self.engine.dispose()

    async def _init(self) -> None:
        if self._ready:
            return
        # The schema is migrated by the storage layer (safe when several processes start at
        # once); its own engine is closed again, this store keeps its own connections.
        database = Database(self._url)
        try:
            await database.init()
        finally:
            await database.dispose()
        self._ready = True

    async def create(
        self, job_id: str, name: str, args: Mapping[str, Any], *, max_attempts: int
    ) -> Job:
        """Record a queued job (an existing record with this id is returned unchanged)."""
        await self._init()
        async with self._sessions() as session, session.begin():
            row = await session.get(JobRecord, job_id)
            if row is None:
                row = JobRecord(
                    id=job_id,
                    name=name,
                    status=JobStatus.QUEUED.value,
                    args=json.dumps(redact_mapping(args), default=str),
                    attempts=0,
                    max_attempts=max_attempts,
                    created_at=_now(),
                    updated_at=_now(),
                )
                session.add(row)
            return Job.from_record(row)

    async def get(self, job_id: str) -> Job | None:
        await self._init()
        async with self._sessions() as session:
            row = await session.get(JobRecord, job_id)
            return Job.from_record(row) if row is not None else None

    async def list(
        self, *, name: str | None = None, status: JobStatus | None = None, limit: int = 50
    ) -> list[Job]:
        """The newest jobs first, optionally of one task and one status."""
        await self._init()
        query = select(JobRecord).order_by(JobRecord.created_at.desc()).limit(limit)
        if name is not None:
            query = query.where(JobRecord.name == name)
        if status is not None:
            query = query.where(JobRecord.status == status.value)
        async with self._sessions() as session:
            return [Job.from_record(r) for r in (await session.scalars(query)).all()]

    async def _update(self, job_id: str, **values: Any) -> None:
        await self._init()
        async with self._sessions() as session, session.begin():
            row = await session.get(JobRecord, job_id)
            if row is None:
                return
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = _now()

    async def mark_running(self, job_id: str) -> int:
        """Count one more attempt; returns the attempt number."""
        await self._init()
        async with self._sessions() as session, session.begin():
            row = await session.get(JobRecord, job_id)
            if row is None:
                return 0
            row.attempts += 1
            row.status = JobStatus.RUNNING.value
            row.next_attempt_at = None
            row.updated_at = _now()
            return row.attempts

    async def mark_retrying(self, job_id: str, error: str, delay: float) -> None:
        await self._update(
            job_id,
            status=JobStatus.RETRYING.value,
            error=_safe_error(error),
            next_attempt_at=_now() + timedelta(seconds=delay),
        )

    async def mark_succeeded(self, job_id: str, result: Any) -> None:
        await self._update(
            job_id,
            status=JobStatus.SUCCEEDED.value,
            result=json.dumps(result, default=str),
            error=None,
            finished_at=_now(),
        )

    async def mark_failed(self, job_id: str, error: str, *, dead_letter: bool = False) -> None:
        status = JobStatus.DEAD_LETTER if dead_letter else JobStatus.FAILED
        await self._update(
            job_id, status=status.value, error=_safe_error(error), finished_at=_now()
        )

    async def delete_finished(
        self, *, name: str, statuses: tuple[JobStatus, ...], older_than: timedelta
    ) -> int:
        """Delete ``name`` jobs in ``statuses`` last updated before ``older_than`` ago."""
        await self._init()
        cutoff = _now() - older_than
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(JobRecord)
                .where(JobRecord.name == name)
                .where(JobRecord.status.in_([s.value for s in statuses]))
                .where(JobRecord.updated_at < cutoff)
            )
            return int(getattr(result, "rowcount", 0) or 0)
