"""Persistence: SQLAlchemy 2 async models, the engine, migrations, repositories.

- ``database``: ``Database`` (SQLite via aiosqlite, PostgreSQL via psycopg 3) and
  ``get_database``;
- ``migrate``: Alembic revisions applied at start-up under a lock (``liteagent db upgrade``);
- ``runs``: the one compare-and-set run store (``VersionedRunStore``), which the engine binds
  to its states: ``liteagent.agents.run_store.RunStore`` and
  ``liteagent.workflows.run_store.WorkflowRunStore``;
- ``credentials`` / ``repositories``: toolkit credentials and notes;
- ``locks``: ``AdvisoryLocks``, named locks shared by the replicas of one PostgreSQL.
"""

from liteagent.storage.base import Base
from liteagent.storage.credentials import CredentialRepository
from liteagent.storage.database import (
    DEFAULT_DATABASE_URL,
    Database,
    dispose_databases,
    get_database,
    init_db,
    storage_registry,
)
from liteagent.storage.locks import AdvisoryLocks
from liteagent.storage.repositories import Note, NoteRepository
from liteagent.storage.runs import RunKind, StaleRunError, VersionedRunStore

__all__ = [
    "DEFAULT_DATABASE_URL",
    "AdvisoryLocks",
    "Base",
    "CredentialRepository",
    "Database",
    "Note",
    "NoteRepository",
    "RunKind",
    "StaleRunError",
    "VersionedRunStore",
    "dispose_databases",
    "get_database",
    "init_db",
    "storage_registry",
]
