"""Persistence: SQLAlchemy 2 async models, the engine, migrations, repositories.

- ``database``: ``Database`` (SQLite via aiosqlite, PostgreSQL via psycopg 3) and
  ``get_database``;
- ``migrate``: Alembic revisions applied at start-up under a lock (``liteagent db upgrade``);
- ``runs``: the one compare-and-set run store, bound to agent runs (``RunStore``) and workflow
  runs (``WorkflowRunStore``);
- ``credentials`` / ``repositories``: toolkit credentials and notes;
- ``locks``: ``AdvisoryLocks``, named locks shared by the replicas of one PostgreSQL.
"""

from liteagent.storage.base import Base
from liteagent.storage.credentials import CredentialRepository
from liteagent.storage.database import (
    DEFAULT_DATABASE_URL,
    Database,
    get_database,
    init_db,
)
from liteagent.storage.locks import AdvisoryLocks
from liteagent.storage.repositories import (
    Note,
    NoteRepository,
    RunStore,
    StoredRun,
    run_record_id,
)
from liteagent.storage.runs import StaleRunError, VersionedRunStore
from liteagent.storage.workflow_runs import (
    StoredWorkflowRun,
    WorkflowRunStore,
    workflow_record_id,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "AdvisoryLocks",
    "Base",
    "CredentialRepository",
    "Database",
    "Note",
    "NoteRepository",
    "RunStore",
    "StaleRunError",
    "StoredRun",
    "StoredWorkflowRun",
    "VersionedRunStore",
    "WorkflowRunStore",
    "get_database",
    "init_db",
    "run_record_id",
    "workflow_record_id",
]
