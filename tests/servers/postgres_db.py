"""Scratch PostgreSQL databases on one embedded server, and the matching SQLAlchemy URLs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from liteagent.storage import Database


@contextmanager
def scratch_database(server_uri: str) -> Iterator[str]:
    """Create an empty database on the server at ``server_uri`` (a libpq URI, as
    ``embedded_postgres`` yields); yield its ``postgresql+psycopg://`` URL; drop it afterwards
    (closing whatever connections are left)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(server_uri).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server_uri, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@asynccontextmanager
async def replicas(url: str, count: int) -> AsyncIterator[list[Database]]:
    """``count`` independent ``Database`` objects (own engines and pools) on one URL, as that
    many proxy replicas would hold; all disposed afterwards."""
    databases = [Database(url) for _ in range(count)]
    try:
        yield databases
    finally:
        for database in databases:
            await database.dispose()
