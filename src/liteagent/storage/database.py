"""The async SQLAlchemy engine: SQLite (aiosqlite) by default, any async URL otherwise.

``LITEAGENT_DATABASE_URL`` picks the database, e.g. ``sqlite+aiosqlite:///./liteagent.db`` (the
default) or ``postgresql+psycopg://user:password@host/liteagent`` (psycopg 3). Nothing
connects at import time: ``get_database(url)`` builds one ``Database`` per URL on first use and
creates the tables the first time a session is opened.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from liteagent.errors import ConfigurationError
from liteagent.log import get_logger
from liteagent.redaction import redact_text

logger = get_logger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./liteagent.db"


class Base(DeclarativeBase):
    """Declarative base of LiteAgent's tables."""


def _sqlite_pragmas(dbapi_connection: object, _: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers and one writer work at once; the timeout waits out a busy writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """An async engine plus a session factory for one URL."""

    def __init__(self, url: str = DEFAULT_DATABASE_URL, *, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:  # noqa: BLE001 - any parse failure is a configuration error
            raise ConfigurationError(
                f"DATABASE_URL is not a valid SQLAlchemy URL: {redact_text(str(exc))}"
            ) from None
        self._file: str | None = None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(parsed.database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = str(path.resolve())
        self._identity: tuple[int, int] | None = None
        try:
            self.engine: AsyncEngine = create_async_engine(url, echo=echo, pool_pre_ping=True)
        except Exception as exc:  # noqa: BLE001 - e.g. a sync driver or a missing one
            raise ConfigurationError(
                f"Cannot use DATABASE_URL ({parsed.render_as_string(hide_password=True)}): "
                f"{redact_text(str(exc))}. Use an async driver such as sqlite+aiosqlite or "
                "postgresql+psycopg."
            ) from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.url = parsed.render_as_string(hide_password=True)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._ready = False
        self._lock = asyncio.Lock()

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
        """Create missing tables (idempotent).

        An SQLite file deleted or replaced while the process runs is noticed here, on the next
        session: the open connections would go on writing into a file nobody will read again,
        so they are closed, the loss is logged as an error, and the tables are created afresh
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
            from liteagent.storage import models  # noqa: F401  (registers the tables)

            async with self.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
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
        await self.engine.dispose()


_databases: dict[str, Database] = {}


def get_database(url: str = DEFAULT_DATABASE_URL) -> Database:
    """The process's ``Database`` for ``url`` (created on first use)."""
    database = _databases.get(url)
    if database is None:
        database = _databases[url] = Database(url)
    return database


async def init_db(url: str = DEFAULT_DATABASE_URL) -> None:
    """Create all tables for ``url``."""
    await get_database(url).init()
