"""LiteAgent's tables: agent runs, workflow runs, notes, toolkit credentials.

Databases made before migrations existed (by ``create_all``) already hold some or all of these
tables with this very shape: only the missing ones are created, so such a database is adopted.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from liteagent.storage.migrations.columns import AWARE, timestamps

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _run_columns(owner: str, run_id: str) -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("session_key", sa.Text(), nullable=False),
        sa.Column(owner, sa.String(128), nullable=False),
        sa.Column(run_id, sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("paused_fingerprint", sa.String(64), nullable=True),
        sa.Column("answer_fingerprint", sa.String(64), nullable=True),
        sa.Column("final_fingerprint", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *timestamps(),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "liteagent_agent_runs" not in existing:
        op.create_table("liteagent_agent_runs", *_run_columns("agent", "run_id"))
    if "liteagent_workflow_runs" not in existing:
        op.create_table("liteagent_workflow_runs", *_run_columns("workflow", "execution_id"))
    if "liteagent_notes" not in existing:
        op.create_table(
            "liteagent_notes",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("owner", sa.String(512), nullable=False),
            sa.Column("title", sa.String(200), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("created_at", AWARE, nullable=False),
        )
        op.create_index("ix_liteagent_notes_owner", "liteagent_notes", ["owner"])
    if "liteagent_toolkit_credentials" not in existing:
        op.create_table(
            "liteagent_toolkit_credentials",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("user_key", sa.String(512), nullable=False),
            sa.Column("toolkit", sa.String(64), nullable=False),
            sa.Column("secret", sa.Text(), nullable=False),
            *timestamps(),
            sa.UniqueConstraint(
                "user_key", "toolkit", name="uq_liteagent_toolkit_credentials_user"
            ),
        )


def downgrade() -> None:
    for table in (
        "liteagent_toolkit_credentials",
        "liteagent_notes",
        "liteagent_workflow_runs",
        "liteagent_agent_runs",
    ):
        op.drop_table(table)
