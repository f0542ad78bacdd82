"""The background jobs' table, until now created by the job store itself on first use.

A database where the job store already made it holds it with this very shape: it is adopted
(nothing is created) and from here on migrated like the other tables.

Revision ID: 0004_jobs
Revises: 0003_management_api
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from liteagent.storage.migrations.columns import AWARE, timestamps

revision = "0004_jobs"
down_revision: str | None = "0003_management_api"
branch_labels: str | None = None
depends_on: str | None = None

_INDEX = "ix_liteagent_jobs_name_status"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "liteagent_jobs" not in inspector.get_table_names():
        op.create_table(
            "liteagent_jobs",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("args", sa.Text(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("max_attempts", sa.Integer(), nullable=False),
            sa.Column("result", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("next_attempt_at", AWARE, nullable=True),
            *timestamps(),
            sa.Column("finished_at", AWARE, nullable=True),
        )
    if _INDEX not in {index["name"] for index in inspector.get_indexes("liteagent_jobs")}:
        op.create_index(_INDEX, "liteagent_jobs", ["name", "status", "updated_at"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="liteagent_jobs")
    op.drop_table("liteagent_jobs")
