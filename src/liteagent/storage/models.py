"""Tables (SQLAlchemy 2.0 ``Mapped`` models)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liteagent.storage.database import Base


def _now() -> datetime:
    return datetime.now(UTC)


class AgentRunRecord(Base):
    """The latest agent run of one conversation (session) with one agent.

    ``state`` is the run's canonical JSON and ``state_hash`` its SHA-256 (checked on load).
    The fingerprints tie the run to the conversation the client sent: ``paused_fingerprint``
    is the history up to our question to the person, ``answer_fingerprint`` the history with the
    person's answer, ``final_fingerprint`` the history with our final reply. ``version`` makes
    writes compare-and-set, so two answers to one request cannot both be applied.
    """

    __tablename__ = "liteagent_agent_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_key: Mapped[str] = mapped_column(Text)
    agent: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(Text)
    state_hash: Mapped[str] = mapped_column(String(64))
    paused_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    final_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class NoteRecord(Base):
    """A note saved by the demo ``save_note`` tool, owned by one user."""

    __tablename__ = "liteagent_notes"
    __table_args__ = (Index("ix_liteagent_notes_owner", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
