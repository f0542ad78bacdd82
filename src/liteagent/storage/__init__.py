"""Persistence: SQLAlchemy 2 async models, the engine, repositories."""

from liteagent.storage.credentials import CredentialRepository
from liteagent.storage.database import (
    DEFAULT_DATABASE_URL,
    Base,
    Database,
    get_database,
    init_db,
)
from liteagent.storage.repositories import (
    Note,
    NoteRepository,
    RunStore,
    StaleRunError,
    StoredRun,
    run_record_id,
)
from liteagent.storage.workflow_runs import (
    StoredWorkflowRun,
    WorkflowRunStore,
    workflow_record_id,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Base",
    "CredentialRepository",
    "Database",
    "Note",
    "NoteRepository",
    "RunStore",
    "StaleRunError",
    "StoredRun",
    "StoredWorkflowRun",
    "WorkflowRunStore",
    "get_database",
    "init_db",
    "run_record_id",
    "workflow_record_id",
]
