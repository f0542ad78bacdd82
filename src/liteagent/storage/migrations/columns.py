"""Columns the released revisions declare alike.

Revisions are history: what a helper here returns must never change, or an old revision would
create a different schema on a new database. A new shape gets a new helper.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["AWARE", "timestamps"]

AWARE = sa.DateTime(timezone=True)
"""A timezone-aware time (``TIMESTAMP WITH TIME ZONE`` on PostgreSQL)."""


def timestamps() -> list[sa.Column[object]]:
    """``created_at`` and ``updated_at``: aware times, both required."""
    return [
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("updated_at", AWARE, nullable=False),
    ]
