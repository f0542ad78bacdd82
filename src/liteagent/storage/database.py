"""The async SQLAlchemy engine: SQLite (aiosqlite) by default, PostgreSQL (psycopg 3) to scale out.

``LITEAGENT_DATABASE_URL`` picks the database:

- ``sqlite+aiosqlite:///./liteagent.db`` (the default, one process or one host);
- ``postgresql+psycopg://user:password@host:5432/liteagent`` (psycopg 3, async), shared by
  several replicas. A bare ``postgresql://`` or ``postgres://`` URL (as hosting providers hand
  them out) is read as psycopg; ``postgresql+asyncpg://`` is refused with a clear error, since
  asyncpg is not a dependency and its URL options differ from libpq's.

Nothing connects at import time: ``get_database(url)`` builds one ``Database`` per URL on first
use, and the first session brings the schema to the newest migration
(``liteagent.storage.migrate``), safely when several replicas start at once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from liteagent.errors import ConfigurationError
from liteagent.log import get_logger
from liteagent.redaction import redact_text
from liteagent.registry import ProviderRegistry
from liteagent.storage.base import Base
from liteagent.storage.migrate import upgrade

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Base",
    "Database",
    "dispose_databases",
    "get_database",
    "init_db",
    "parse_url",
    "storage_registry",
]

logger = get_logger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./liteagent.db"
_PSYCOPG = "postgresql+psycopg"
_SUPPORTED = ("sqlite", "postgresql")


def parse_url(url: str) -> URL:
    """Parse and normalise a database URL (bare PostgreSQL URLs become psycopg ones).

    Raises:
        ConfigurationError: the URL does not parse, names asyncpg, or a database other than
            SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a configuration error
        raise ConfigurationError(
            f"LITEAGENT_DATABASE_URL is not a valid SQLAlchemy URL: {redact_text(str(exc))}"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername=_PSYCOPG)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername == "postgresql+asyncpg":
        raise ConfigurationError(
            f"Cannot use LITEAGENT_DATABASE_URL ({shown}): asyncpg is not installed; LiteAgent "
            "talks to PostgreSQL through psycopg 3. Write the same URL with "
            "postgresql+psycopg:// instead."
        )
    if parsed.get_backend_name() not in _SUPPORTED:
        raise ConfigurationError(
            f"Cannot use LITEAGENT_DATABASE_URL ({shown}): LiteAgent stores runs in SQLite "
            "(sqlite+aiosqlite://) or PostgreSQL (postgresql+psycopg://)."
        )
    return parsed


def _sqlite_pragmas(dbapi_connection: object, _: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers and one writer work at once; the timeout waits out a busy writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """An async engine plus a session factory for one URL."""

    def __init__(self, url: str = DEFAULT_DATABASE_URL, *, echo: bool = False) -> None:
        parsed = parse_url(url)
        self._file: str | None = None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(parsed.database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = str(path.resolve())
        self._identity: tuple[int, int] | None = None
        try:
            self.engine: AsyncEngine = create_async_engine(parsed, echo=echo, pool_pre_ping=True)
        except Exception as exc:  # noqa: BLE001 - e.g. a sync driver or a missing one
            raise ConfigurationError(
                "Cannot use LITEAGENT_DATABASE_URL "
                f"({parsed.render_as_string(hide_password=True)}): {redact_text(str(exc))}. "
                "Use an async driver: sqlite+aiosqlite or postgresql+psycopg."
            ) from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._ready = False
        self._lock = asyncio.Lock()

    @property
    def file(self) -> str | None:
        """The SQLite file's absolute path (``None`` for PostgreSQL or an in-memory SQLite)."""
        return self._file

    def _file_identity(self) -> tuple[int, int] | None:
        """(device, inode) of the SQLite file, ``None`` when it does not exist."""
        if self._file is None:
            return None
        try:
            stat = os.stat(self._file)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _file_replaced(self) -> bool:
        return self._file is not None and self._file_identity() != self._identity

    async def init(self) -> None:
        """Bring the schema to the newest migration (idempotent, safe across replicas).

        An SQLite file deleted or replaced while the process runs is noticed here, on the next
        session: the open connections would go on writing into a file nobody will read again,
        so they are closed, the loss is logged as an error, and the schema is built afresh
        where the file is now.
        """
        if self._ready and not self._file_replaced():
            return
        async with self._lock:
            if self._ready and self._file_replaced():
                logger.error("database_file_replaced", url=self.url)
                await self.engine.dispose()
                self._ready = False
            if self._ready:
                return
            await upgrade(self)
            self._identity = self._file_identity()
            self._ready = True
            logger.info("database_ready", url=self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success and rolled back on error."""
        await self.init()
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        """Close the engine's pooled connections."""
        await self.engine.dispose()


storage_registry: ProviderRegistry[Database] = ProviderRegistry(
    "storage backend", entry_point_group="liteagent.storage"
)
"""Database backends by SQLAlchemy backend name (``sqlite``, ``postgresql``): ``get(name,
url=...)`` opens one. Both built-ins are served by ``Database``."""
storage_registry.register_factory("sqlite", Database, "SQLite via aiosqlite (embedded default)")
storage_registry.register_factory("postgresql", Database, "PostgreSQL via psycopg 3")

_databases: dict[str, Database] = {}


def get_database(url: str = DEFAULT_DATABASE_URL) -> Database:
    """The process's ``Database`` for ``url`` (created on first use)."""
    database = _databases.get(url)
    if database is None:
        backend = parse_url(url).get_backend_name()
        database = _databases[url] = storage_registry.get(backend, url=url)
    return database


async def dispose_databases() -> None:
    """Close every pooled connection of the process's databases (at shutdown)."""
    databases = list(_databases.values())
    _databases.clear()
    for database in databases:
        await database.dispose()


async def init_db(url: str = DEFAULT_DATABASE_URL) -> None:
    """Bring the schema of ``url`` to the newest migration."""
    await get_database(url).init()
