"""The declarative base and the columns every stored run shares.

Kept apart from ``database`` (the engine) and ``models`` (the tables) so that neither imports
the other: ``models`` → ``base`` ← ``database``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
