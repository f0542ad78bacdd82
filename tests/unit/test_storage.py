"""The run store: round trips, compare-and-set writes, integrity check."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from liteagent.agents import AgentState, AgentStatus
from liteagent.agents.run_store import RunStore, StoredRun
from liteagent.errors import ConfigurationError
from liteagent.storage import Database, StaleRunError
from liteagent.storage.database import parse_url
from liteagent.storage.models import AgentRunRecord


@pytest.fixture
async def store(tmp_path: Path) -> RunStore:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/sub/dir/runs.db")
    yield RunStore(database)
    await database.dispose()


async def test_round_trip_and_compare_and_set(store: RunStore) -> None:
    state = AgentState(agent_id="bot", status=AgentStatus.WAITING_HUMAN, metadata={"k": [1, 2]})
    run = await store.save(
        StoredRun("s1", "bot", state, paused_fingerprint="fp"), expected_version=None
    )
    assert run.version == 1
    loaded = await store.load_run(session_key="s1", owner="bot")
    assert loaded is not None and loaded.state == state and loaded.paused_fingerprint == "fp"
    assert await store.load_run(session_key="s1", owner="other") is None
    with pytest.raises(StaleRunError):
        await store.save(StoredRun("s1", "bot", state), expected_version=None)  # exists already
    loaded.state = AgentState(agent_id="bot", status=AgentStatus.COMPLETED)
    await store.save(loaded, expected_version=1)
    with pytest.raises(StaleRunError):
        await store.save(loaded, expected_version=1)  # someone wrote version 2 meanwhile
    assert (await store.load_run(session_key="s1", owner="bot")).version == 2  # type: ignore[union-attr]


async def test_a_tampered_state_is_not_loaded(store: RunStore) -> None:
    state = AgentState(agent_id="bot")
    await store.save(StoredRun("s2", "bot", state), expected_version=None)
    tampered = AgentState(agent_id="bot", status=AgentStatus.RUNNING, run_id=state.run_id)
    async with store.database.session() as session:
        await session.execute(update(AgentRunRecord).values(state=tampered.to_json()))
    assert await store.load_run(session_key="s2", owner="bot") is None


def test_bad_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="not a valid SQLAlchemy URL"):
        Database("::nonsense::")
    with pytest.raises(ConfigurationError, match="async driver"):
        Database("sqlite:///sync-driver.db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:pw@db:5432/liteagent",
        "postgres://app:pw@db:5432/liteagent",
        "postgresql+psycopg://app:pw@db:5432/liteagent",
    ],
)
def test_postgres_urls_use_psycopg(url: str) -> None:
    parsed = parse_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database) == ("db", 5432, "liteagent")


def test_unsupported_urls_say_what_to_use_without_the_password() -> None:
    with pytest.raises(ConfigurationError, match=r"postgresql\+psycopg://") as asyncpg:
        parse_url("postgresql+asyncpg://app:hunter2@db/liteagent")
    assert "hunter2" not in str(asyncpg.value) and "asyncpg is not installed" in str(asyncpg.value)
    with pytest.raises(ConfigurationError, match="SQLite") as mysql:
        parse_url("mysql+aiomysql://app:hunter2@db/liteagent")
    assert "hunter2" not in str(mysql.value)
