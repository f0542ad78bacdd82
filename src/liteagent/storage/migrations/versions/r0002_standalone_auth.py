"""Users, API keys and refresh tokens of the standalone management API (``liteagent api``).

Secrets are never stored: passwords as salted scrypt hashes, API keys as SHA-256 hashes (plus
a short display prefix), refresh tokens by their ``jti`` only.

Revision ID: 0002_auth
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from liteagent.storage.migrations.columns import AWARE, timestamps

revision = "0002_auth"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _user_id() -> sa.Column[object]:
    """The user a key or a token belongs to (removed with the user)."""
    return sa.Column(
        "user_id",
        sa.String(36),
        sa.ForeignKey("liteagent_users.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "liteagent_users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("roles", sa.String(512), nullable=False),
        sa.Column("team_id", sa.String(128), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *timestamps(),
    )
    op.create_table(
        "liteagent_api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        _user_id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("expires_at", AWARE, nullable=True),
        sa.Column("revoked_at", AWARE, nullable=True),
    )
    op.create_index("ix_liteagent_api_keys_user_id", "liteagent_api_keys", ["user_id"])
    op.create_table(
        "liteagent_refresh_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        _user_id(),
        sa.Column("expires_at", AWARE, nullable=False),
        sa.Column("used_at", AWARE, nullable=True),
        sa.Column("created_at", AWARE, nullable=False),
    )
    op.create_index("ix_liteagent_refresh_tokens_user_id", "liteagent_refresh_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_table("liteagent_refresh_tokens")
    op.drop_table("liteagent_api_keys")
    op.drop_table("liteagent_users")
