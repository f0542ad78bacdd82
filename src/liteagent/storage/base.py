"""The declarative base and the columns every stored run shares.

Kept apart from ``database`` (the engine) and ``models`` (the tables) so that neither imports
the other: ``models`` → ``base`` ← ``database``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware time stored as UTC and read back aware on every database.

    SQLite keeps no zone (its value comes back naive), PostgreSQL answers in the session's
    zone: both are handed back as UTC, so a time read equals the time written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of LiteAgent's tables."""


class RunColumns:
    """Columns of a run row, one per (session, owner): agent runs and workflow runs.

    ``state`` is the run's canonical JSON and ``state_hash`` its SHA-256 (checked on load).
    The fingerprints tie the run to the conversation the client sent: ``paused_fingerprint``
    is the history up to our question to the person, ``answer_fingerprint`` the history with the
    person's answer, ``final_fingerprint`` the history with our final reply. ``version`` makes
    writes compare-and-set, so two answers to one request cannot both be applied.
    """

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(Text)
    state_hash: Mapped[str] = mapped_column(String(64))
    paused_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    final_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
