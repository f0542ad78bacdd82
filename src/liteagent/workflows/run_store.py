"""Workflow runs served through the chat: one row per (session, workflow), compare-and-set.

A workflow run that waits for a person (a HUMAN node) is saved here with the conversation it
paused in, so that the next message of the same chat resumes it, after a restart or on another
replica. It is the store of ``liteagent.storage.runs`` bound to ``liteagent_workflow_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from liteagent.storage.database import Database
from liteagent.storage.models import WorkflowRunRecord
from liteagent.storage.runs import RunFields, RunKind, VersionedRunStore
from liteagent.workflows.state import WorkflowState

__all__ = [
    "WORKFLOW_RUNS",
    "StoredWorkflowRun",
    "WorkflowRunRecord",
    "WorkflowRunStore",
    "workflow_record_id",
]


@dataclass
class StoredWorkflowRun(RunFields):
    """A workflow run as stored: its state, the conversation fingerprints and the row version."""

    session_key: str
    workflow: str
    state: WorkflowState


WORKFLOW_RUNS: RunKind[WorkflowState, StoredWorkflowRun] = RunKind(
    table=WorkflowRunRecord.__table__,  # type: ignore[arg-type]
    owner_column="workflow",
    run_id_column="execution_id",
    parse=WorkflowState.from_json,
    make=StoredWorkflowRun,
    key_prefix=("workflow",),
)


def workflow_record_id(session_key: str, workflow: str) -> str:
    """Primary key of a session's run of one workflow."""
    return WORKFLOW_RUNS.record_id(session_key, workflow)


class WorkflowRunStore(VersionedRunStore[WorkflowState, StoredWorkflowRun]):
    """Workflow runs per (session, workflow) with compare-and-set writes."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, WORKFLOW_RUNS)
