"""Agent runs served through the chat: one row per (session, agent), compare-and-set.

An agent run that waits for a person (an approval, a question) is saved here with the
conversation it paused in, so that the next message of the same chat resumes it, after a
restart or on another replica. It is the store of ``liteagent.storage.runs`` bound to
``liteagent_agent_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from liteagent.agents.state import AgentState
from liteagent.storage.database import Database
from liteagent.storage.models import AgentRunRecord
from liteagent.storage.runs import RunFields, RunKind, VersionedRunStore

__all__ = ["AGENT_RUNS", "RunStore", "StoredRun", "run_record_id"]


@dataclass
class StoredRun(RunFields):
    """A run as stored: its state plus the conversation fingerprints and the row version."""

    session_key: str
    agent: str
    state: AgentState


AGENT_RUNS: RunKind[AgentState, StoredRun] = RunKind(
    table=AgentRunRecord.__table__,  # type: ignore[arg-type]
    owner_column="agent",
    run_id_column="run_id",
    parse=AgentState.from_json,
    make=StoredRun,
)


def run_record_id(session_key: str, agent: str) -> str:
    """Primary key of a session's run with one agent."""
    return AGENT_RUNS.record_id(session_key, agent)


class RunStore(VersionedRunStore[AgentState, StoredRun]):
    """Agent runs per (session, agent) with compare-and-set writes (``storage.runs``)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, AGENT_RUNS)
