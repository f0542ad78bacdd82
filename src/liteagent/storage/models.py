"""Tables (SQLAlchemy 2.0 ``Mapped`` models). Their schema is owned by the Alembic migrations in
``liteagent.storage.migrations``: a change here needs a new revision there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liteagent.storage.base import Base, RunColumns, UTCDateTime, utcnow

__all__ = [
    "AgentRunRecord",
    "Base",
    "NoteRecord",
    "ToolkitCredentialRecord",
    "WorkflowRunRecord",
]


class AgentRunRecord(RunColumns, Base):
    """The latest agent run of one conversation (session) with one agent."""

    __tablename__ = "liteagent_agent_runs"

    agent: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64))


class WorkflowRunRecord(RunColumns, Base):
    """The latest run of one workflow in one conversation (session)."""

    __tablename__ = "liteagent_workflow_runs"

    workflow: Mapped[str] = mapped_column(String(128))
    execution_id: Mapped[str] = mapped_column(String(64))


class NoteRecord(Base):
    """A note saved by the demo ``save_note`` tool, owned by one user."""

    __tablename__ = "liteagent_notes"
    __table_args__ = (Index("ix_liteagent_notes_owner", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ToolkitCredentialRecord(Base):
    """One user's credentials for one toolkit (Jira, GitLab, Google Drive…).

    ``secret`` holds the credential fields as JSON encrypted with ``EncryptionService``
    (``enc:v1:…``); nothing else in the row is secret. ``user_key`` is ``RequestContext.user_key``.
    """

    __tablename__ = "liteagent_toolkit_credentials"
    __table_args__ = (
        UniqueConstraint("user_key", "toolkit", name="uq_liteagent_toolkit_credentials_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(512))
    toolkit: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
