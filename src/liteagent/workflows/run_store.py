"""Workflow runs served through the chat: one row per (session, workflow), compare-and-set.

A workflow run that waits for a person (a HUMAN node) is saved here with the conversation it
paused in, so that the next message of the same chat resumes it, after a restart or on another
replica. It is the store of ``liteagent.storage.runs`` bound to ``liteagent_workflow_runs``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from liteagent.storage.database import Database
from liteagent.storage.models import WorkflowRunRecord
from liteagent.storage.runs import RunFields, RunKind, VersionedRunStore
from liteagent.workflows.state import WorkflowState

__all__ = ["StoredWorkflowRun", "WorkflowRunRecord", "WorkflowRunStore", "workflow_record_id"]


def workflow_record_id(session_key: str, workflow: str) -> str:
    """Primary key of a session's run of one workflow."""
    return hashlib.sha256(f"workflow\x1f{workflow}\x1f{session_key}".encode()).hexdigest()


@dataclass
class StoredWorkflowRun(RunFields):
    """A workflow run as stored: its state, the conversation fingerprints and the row version."""

    session_key: str
    workflow: str
    state: WorkflowState

    @property
    def owner(self) -> str:
        """The workflow (the store's owner column)."""
        return self.workflow


def _execution_id(state: WorkflowState) -> str:
    return state.execution_id


WORKFLOW_RUNS: RunKind[WorkflowState, StoredWorkflowRun] = RunKind(
    event="workflow_run",
    table=WorkflowRunRecord.__table__,  # type: ignore[arg-type]
    owner_column="workflow",
    run_id_column="execution_id",
    record_id=workflow_record_id,
    parse=WorkflowState.from_json,
    run_id=_execution_id,
    make=StoredWorkflowRun,
)


class WorkflowRunStore(VersionedRunStore[WorkflowState, StoredWorkflowRun]):
    """Workflow runs per (session, workflow) with compare-and-set writes."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, WORKFLOW_RUNS)

    async def load(self, *, session_key: str, workflow: str) -> StoredWorkflowRun | None:
        """The stored run, or ``None`` (also when the stored state fails its hash check)."""
        return await self.load_run(session_key=session_key, owner=workflow)

    async def load_version(self, *, session_key: str, workflow: str) -> int | None:
        """The stored row's version, or ``None`` when there is no row."""
        return await self.version_of(session_key=session_key, owner=workflow)
