"""The management API's tables: providers, agents and data sources defined at run time, and the
run-time catalog's version counter (polled by the replicas).

Revision ID: 0003_management_api
Revises: 0002_auth
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from liteagent.storage.migrations.columns import AWARE, timestamps

revision = "0003_management_api"
down_revision: str | None = "0002_auth"
branch_labels: str | None = None
depends_on: str | None = None


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("owner", sa.String(512), nullable=False),
        *timestamps(),
    ]


def upgrade() -> None:
    op.create_table(
        "liteagent_api_providers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("provider_type", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=True),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column("api_key", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_stamps(),
    )
    op.create_table(
        "liteagent_api_agents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("provider_id", sa.String(36), nullable=True),
        sa.Column("definition", sa.Text(), nullable=False),
        *_stamps(),
    )
    op.create_table(
        "liteagent_api_datasources",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("source_type", sa.String(16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        *_stamps(),
        sa.Column("fetched_at", AWARE, nullable=True),
    )
    op.create_table(
        "liteagent_catalog_version",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", AWARE, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "liteagent_catalog_version",
        "liteagent_api_datasources",
        "liteagent_api_agents",
        "liteagent_api_providers",
    ):
        op.drop_table(table)
