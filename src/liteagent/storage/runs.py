"""One compare-and-set store for runs that wait for a person: agent runs and workflow runs.

A run lives in one row per (conversation, owner), where the owner is an agent or a workflow.
Every write names the row ``version`` it expects and bumps it; a write against any other
version raises ``StaleRunError`` and changes nothing. Each write is a single statement, so it is
race-free on PostgreSQL with any number of replicas:

- ``save(run, expected_version=None)``: the slot must be empty (``INSERT … ON CONFLICT DO
  NOTHING``): of simultaneous first saves exactly one wins, the others get ``StaleRunError``;
- ``save(run, expected_version=v)``: the row must still be at ``v`` (``UPDATE … WHERE version =
  v``); use the version of the row you loaded from the slot, also when ``run`` is a new run
  taking the slot over from an older one;
- ``put(run)``: take the slot whatever it holds (``INSERT … ON CONFLICT DO UPDATE``), logging a
  warning when that overwrites a write this caller did not see. Prefer ``save``.

``RunStore`` (agents) and ``WorkflowRunStore`` (workflows) are this store bound to a table and a
state type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Executable, Table, select, update

from liteagent.log import get_logger
from liteagent.storage.base import utcnow
from liteagent.storage.database import Database
from liteagent.storage.sql import upsert

__all__ = [
    "RunFields",
    "RunKind",
    "RunState",
    "StaleRunError",
    "StoredRunLike",
    "VersionedRunStore",
]

logger = get_logger(__name__)


class StaleRunError(Exception):
    """The stored run changed since it was loaded (someone else answered or moved it on)."""


class RunState(Protocol):
    """What the store needs of a run's state (``AgentState``, ``WorkflowState``)."""

    @property
    def status(self) -> Enum: ...

    def to_json(self) -> str: ...

    def compute_hash(self) -> str: ...


StateT = TypeVar("StateT", bound=RunState)


class StoredRunLike(Protocol[StateT]):
    """A run as stored: ``StoredRun`` and ``StoredWorkflowRun`` (plus an owner attribute named
    like the table's owner column)."""

    session_key: str
    state: StateT
    version: int
    paused_fingerprint: str | None
    answer_fingerprint: str | None
    final_fingerprint: str | None
    updated_at: datetime


RunT = TypeVar("RunT", bound=StoredRunLike[Any])


@dataclass(kw_only=True)
class RunFields:
    """The row fields a stored run carries besides its key and state (keyword-only).

    Attributes:
        version: The row version this run was loaded at or last written as (0: never stored).
        paused_fingerprint: The conversation up to our question to the person.
        answer_fingerprint: The conversation with the person's answer.
        final_fingerprint: The conversation with our final reply.
        updated_at: When the row was last written.
    """

    version: int = 0
    paused_fingerprint: str | None = None
    answer_fingerprint: str | None = None
    final_fingerprint: str | None = None
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class RunKind(Generic[StateT, RunT]):
    """How one kind of run maps onto its table: the one binding each engine makes.

    Attributes:
        table: The table, with the ``RunColumns`` plus the two below.
        owner_column: Column naming the owner (``agent`` / ``workflow``), and the stored run's
            attribute of the same name.
        run_id_column: Column holding the state's run id (``run_id`` / ``execution_id``), and
            the state's attribute of the same name.
        parse: State from its JSON (may raise ``ValueError``, ``KeyError``, ``TypeError``).
        make: Builds a stored run from (session key, owner, state).
        key_prefix: Parts hashed before the owner and the session key into a row's id.
    """

    table: Table
    owner_column: str
    run_id_column: str
    parse: Callable[[str], StateT]
    make: Callable[[str, str, StateT], RunT]
    key_prefix: tuple[str, ...] = ()

    @property
    def event(self) -> str:
        """Prefix of log events (``agent_run`` → ``agent_run_hash_mismatch``)."""
        return f"{self.owner_column}_run"

    def record_id(self, session_key: str, owner: str) -> str:
        """Primary key of a session's run of one owner."""
        return hashlib.sha256(
            "\x1f".join((*self.key_prefix, owner, session_key)).encode()
        ).hexdigest()

    def owner(self, run: RunT) -> str:
        """The owner of a stored run."""
        return str(getattr(run, self.owner_column))

    def run_id(self, state: StateT) -> str:
        """The run id of a state."""
        return str(getattr(state, self.run_id_column))


class VersionedRunStore(Generic[StateT, RunT]):
    """Runs of one kind per (session, owner) with compare-and-set writes."""

    def __init__(self, database: Database, kind: RunKind[StateT, RunT]) -> None:
        self.database = database
        self.kind = kind

    async def load_run(self, *, session_key: str, owner: str) -> RunT | None:
        """The stored run, or ``None`` (also when the stored state is unreadable or fails its
        hash check: a tampered row is never resumed)."""
        kind, table = self.kind, self.kind.table
        async with self.database.session() as session:
            result = await session.execute(
                select(table).where(table.c.id == kind.record_id(session_key, owner))
            )
            row = result.mappings().one_or_none()
        if row is None:
            return None
        run_id = row[kind.run_id_column]
        try:
            state = kind.parse(row["state"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning(f"{kind.event}_unreadable", owner=owner, error=type(exc).__name__)
            return None
        if state.compute_hash() != row["state_hash"]:
            logger.warning(f"{kind.event}_hash_mismatch", owner=owner, run_id=run_id)
            return None
        run = kind.make(session_key, owner, state)
        run.version = row["version"]
        run.paused_fingerprint = row["paused_fingerprint"]
        run.answer_fingerprint = row["answer_fingerprint"]
        run.final_fingerprint = row["final_fingerprint"]
        run.updated_at = row["updated_at"]
        return run

    async def version_of(self, *, session_key: str, owner: str) -> int | None:
        """The stored row's version, or ``None`` when the slot is empty."""
        table = self.kind.table
        async with self.database.session() as session:
            result = await session.execute(
                select(table.c.version).where(table.c.id == self.kind.record_id(session_key, owner))
            )
            version: int | None = result.scalar_one_or_none()
            return version

    def _values(self, run: RunT, now: datetime) -> dict[str, Any]:
        return {
            self.kind.run_id_column: self.kind.run_id(run.state),
            "status": str(run.state.status.value),
            "state": run.state.to_json(),
            "state_hash": run.state.compute_hash(),
            "paused_fingerprint": run.paused_fingerprint,
            "answer_fingerprint": run.answer_fingerprint,
            "final_fingerprint": run.final_fingerprint,
            "updated_at": now,
        }

    def _insert_values(self, key: str, run: RunT, now: datetime) -> dict[str, Any]:
        return {
            "id": key,
            "session_key": run.session_key,
            self.kind.owner_column: self.kind.owner(run),
            "version": 1,
            "created_at": now,
            **self._values(run, now),
        }

    async def save(self, run: RunT, *, expected_version: int | None) -> RunT:
        """Write ``run`` if the stored row is still at ``expected_version`` (``None``: no row).

        Returns ``run`` with its new ``version`` and ``updated_at``.

        Raises:
            StaleRunError: the row is not at ``expected_version`` (someone else wrote it, or a
                simultaneous first save won); nothing was written.
        """
        table = self.kind.table
        key = self.kind.record_id(run.session_key, self.kind.owner(run))
        now = utcnow()
        async with self.database.session() as session:
            statement: Executable
            if expected_version is None:
                statement = (
                    upsert(table, self.database.dialect)
                    .values(**self._insert_values(key, run, now))
                    .on_conflict_do_nothing(index_elements=[table.c.id])
                    .returning(table.c.version)
                )
                new_version = 1
            else:
                statement = (
                    update(table)
                    .where(table.c.id == key, table.c.version == expected_version)
                    .values(version=expected_version + 1, **self._values(run, now))
                    .returning(table.c.version)
                )
                new_version = expected_version + 1
            # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT
            if (await session.execute(statement)).scalar_one_or_none() is None:
                raise StaleRunError(key)
        run.version = new_version
        run.updated_at = now
        return run

    async def put(self, run: RunT) -> RunT:
        """Write ``run`` whatever the slot holds, in one statement (no retries needed).

        For a run's first write when the caller did not load the slot. When the row had moved
        on since ``run.version`` (another writer), the overwrite is logged as a warning: use
        ``save`` with the loaded version to get ``StaleRunError`` instead.
        """
        table = self.kind.table
        key = self.kind.record_id(run.session_key, self.kind.owner(run))
        now = utcnow()
        statement = (
            upsert(table, self.database.dialect)
            .values(**self._insert_values(key, run, now))
            .on_conflict_do_update(
                index_elements=[table.c.id],
                set_={**self._values(run, now), "version": table.c.version + 1},
            )
            .returning(table.c.version)
        )
        async with self.database.session() as session:
            new_version = int((await session.execute(statement)).scalar_one())
        if run.version and new_version != run.version + 1:
            logger.warning(
                f"{self.kind.event}_overwritten",
                owner=self.kind.owner(run),
                run_id=self.kind.run_id(run.state),
                expected_version=run.version,
                overwritten_version=new_version - 1,
            )
        run.version = new_version
        run.updated_at = now
        return run
