"""Schema migrations (Alembic), applied safely when several replicas start at once.

The revisions ship inside the package (``liteagent/storage/migrations``), so a wheel or a
container image carries them. ``upgrade`` runs when a process first opens the database and from
``liteagent db upgrade``:

- PostgreSQL: the upgrade runs under a session-level advisory lock, so replicas starting together
  take turns; whoever comes second finds the schema at head and does nothing.
- SQLite: a lock file beside the database (``<file>.migrate.lock``) does the same for processes
  on one host.

Databases created before migrations existed (tables made by ``create_all``) are adopted: the
first revision creates only the tables that are missing and records the revision.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import AsyncFileLock
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from liteagent.log import get_logger

__all__ = [
    "ADVISORY_LOCK_KEY",
    "Migration",
    "alembic_config",
    "current",
    "head",
    "upgrade",
]

logger = get_logger(__name__)

SCRIPT_LOCATION = "liteagent.storage:migrations"
# pg_advisory_lock key of LiteAgent's migrations (the bytes of "liteagnt" as a signed bigint).
ADVISORY_LOCK_KEY = int.from_bytes(b"liteagnt", "big", signed=True)


class Database(Protocol):
    """What migrating needs of a ``liteagent.storage.Database`` (kept as a protocol so that this
    module does not import the engine module, which calls it)."""

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def file(self) -> str | None: ...

    @property
    def url(self) -> str: ...


class Migration(NamedTuple):
    """What one ``upgrade`` call found and left: revisions before and after (``None``: none)."""

    before: str | None
    after: str | None


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the packaged revisions, bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the installed package knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "the packaged migrations have no head"
    return revision


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current(database: Database) -> str | None:
    """The revision the database is at (``None`` before the first upgrade)."""
    async with database.engine.connect() as conn:
        return await conn.run_sync(_current)


def _upgrade(connection: Connection, revision: str) -> tuple[str | None, str | None]:
    """Upgrade under the PostgreSQL advisory lock; returns (revision before, revision after)."""
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        connection.commit()
    try:
        before = _current(connection)
        connection.commit()
        known = {
            script.revision
            for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
        }
        if before is not None and before not in known:
            # a newer release migrated this database (a rolling upgrade): leave its schema be
            logger.warning("database_schema_newer", revision=before)
            return before, before
        command.upgrade(alembic_config(connection), revision)
        connection.commit()
        return before, _current(connection)
    finally:
        connection.rollback()
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()


async def upgrade(database: Database, revision: str = "head") -> Migration:
    """Bring ``database`` to ``revision`` (default: the newest).

    Safe to call from several processes at once (see the module docstring).
    """
    if database.file is not None:
        async with AsyncFileLock(f"{database.file}.migrate.lock"):
            before, after = await _run(database, revision)
    else:
        before, after = await _run(database, revision)
    if before != after:
        logger.info("database_migrated", url=database.url, before=before, after=after)
    return Migration(before, after)


async def _run(database: Database, revision: str) -> tuple[str | None, str | None]:
    async with database.engine.connect() as conn:
        return await conn.run_sync(_upgrade, revision)
