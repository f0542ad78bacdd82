"""Tables (SQLAlchemy 2.0 ``Mapped`` models). Their schema is owned by the Alembic migrations in
``liteagent.storage.migrations``: a change here needs a new revision there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liteagent.storage.base import Base, RunColumns, UTCDateTime, utcnow
from liteagent.storage.catalog_models import (
    ApiAgentRecord,
    ApiDataSourceRecord,
    ApiProviderRecord,
    CatalogVersionRecord,
)

__all__ = [
    "AgentRunRecord",
    "ApiAgentRecord",
    "ApiDataSourceRecord",
    "ApiKeyRecord",
    "ApiProviderRecord",
    "Base",
    "CatalogVersionRecord",
    "NoteRecord",
    "RefreshTokenRecord",
    "ToolkitCredentialRecord",
    "UserRecord",
    "WorkflowRunRecord",
    "migrated_name",
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


class UserRecord(Base):
    """A user of the standalone management API (``liteagent api``).

    ``password_hash`` is a salted scrypt hash (``liteagent.security.passwords``); ``roles`` are
    role names separated by commas (``admin`` makes the user an administrator).
    """

    __tablename__ = "liteagent_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(512), default="")
    team_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKeyRecord(Base):
    """A management API key of one user. Only its SHA-256 hash is stored (the key itself is
    shown once, when it is created), plus ``prefix``: its first characters, for display."""

    __tablename__ = "liteagent_api_keys"
    __table_args__ = (Index("ix_liteagent_api_keys_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("liteagent_users.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RefreshTokenRecord(Base):
    """A refresh token issued to a user, by its ``jti`` claim (the token itself is not stored).

    A refresh token works once: using it sets ``used_at`` (compare-and-set, so two replicas
    cannot both accept it) and a new one is issued. A used one presented again revokes every
    refresh token of the user (a stolen token was replayed).
    """

    __tablename__ = "liteagent_refresh_tokens"
    __table_args__ = (Index("ix_liteagent_refresh_tokens_user_id", "user_id"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("liteagent_users.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def migrated_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's ``include_name`` filter: only the tables above, which the migrations own.

    Other tables may share the database (Agno's history, pgvector's collections, the jobs
    table, the A2A task store): comparisons and autogenerated revisions leave them alone.
    """
    return type_ != "table" or name in Base.metadata.tables
