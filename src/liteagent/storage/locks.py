"""Locks shared by every replica of one PostgreSQL database (advisory locks).

``AdvisoryLocks.hold(key)`` holds a session-level ``pg_advisory_lock`` on a connection of its
own for as long as the block runs. Replicas asking for the same key queue in PostgreSQL; when
a holder dies (killed, crashed, network gone) its connection ends and PostgreSQL releases the
lock, so nobody waits for a dead replica. It fits ``liteagent.runtime.session_lock.LockBackend``
(one turn at a time per conversation across replicas) where there is no Redis.

Each lock held uses one database connection for its duration: size PostgreSQL's
``max_connections`` for the turns running at once.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from liteagent.errors import ConfigurationError
from liteagent.storage.database import Database

__all__ = ["AdvisoryLocks", "advisory_key"]


def advisory_key(key: str) -> int:
    """The signed 64-bit advisory-lock id of ``key`` (BLAKE2b, so every replica agrees)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"liteagent-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """Named locks across replicas on one PostgreSQL database.

    Args:
        database: A PostgreSQL ``Database`` (SQLite has no such locks: refused).

    Raises:
        ConfigurationError: ``database`` is not PostgreSQL.
    """

    def __init__(self, database: Database) -> None:
        if database.dialect != "postgresql":
            raise ConfigurationError(
                f"Locks shared by replicas need PostgreSQL; {database.url} is {database.dialect}."
            )
        # no pool: closing a lock's connection ends its session, so nothing stays locked
        self._engine: AsyncEngine = create_async_engine(database.engine.url, poolclass=NullPool)

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        lock_id = advisory_key(key)
        async with self._engine.connect() as conn:
            await conn.execute(select(func.pg_advisory_lock(lock_id)))
            await conn.commit()
            try:
                yield
            finally:
                # released now; should the connection be gone, its session took the lock along
                with contextlib.suppress(SQLAlchemyError):
                    await conn.execute(select(func.pg_advisory_unlock(lock_id)))
                    await conn.commit()

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold ``key`` while the block runs: ``async with locks.hold(key): …``."""
        return self._hold(key)

    async def dispose(self) -> None:
        """Close any connection still open."""
        await self._engine.dispose()
