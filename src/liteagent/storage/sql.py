"""``INSERT … ON CONFLICT`` for the two databases LiteAgent supports: PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["Upsert", "upsert"]

Upsert = postgresql.Insert | sqlite.Insert


def upsert(table: Table, dialect: str) -> Upsert:
    """An ``INSERT`` into ``table`` that accepts ``on_conflict_do_nothing`` / ``_do_update``.

    Args:
        table: The table written to.
        dialect: ``"postgresql"`` or ``"sqlite"`` (``Database.dialect``; others are refused
            when the ``Database`` is built).
    """
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
