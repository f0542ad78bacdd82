"""Health of the models of fallback chains: calls, failures, the last error, whose turn it is.

A fallback chain (``liteagent.llm.fallback``) counts, per model, its calls and failures (the
``least_errors`` strategy tries the model with the fewest failures first; ``get_status`` reports
them) and, for ``round_robin``, whose turn it is. Those counts live behind a
``ChainHealthBackend``:

- ``InMemoryChainHealth``: this process only (the zero-setup default);
- ``RedisChainHealth`` (in ``redis_backends``, imported only with Redis): one hash per chain
  in Redis, so failures seen by any replica steer every replica's chain away from the failing
  model and the round-robin turn is taken in turns by all (its in-process twin answers while
  Redis is unreachable).

``chain_health`` is the process-wide holder chains use; ``RuntimeServices.install`` points it at
Redis when ``REDIS_URL`` is set, as it does for circuit breakers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

__all__ = [
    "ChainHealth",
    "ChainHealthBackend",
    "InMemoryChainHealth",
    "ModelHealth",
    "apply",
    "chain_health",
]


@dataclass
class ModelHealth:
    """Calls and failures of one model within one chain."""

    requests: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_reason: str | None = None
    last_error: str | None = None


class ChainHealthBackend(Protocol):
    """Where chains keep their models' health."""

    async def record(
        self, chain: str, model: str, reason: str | None, error: str | None, *, counted: bool
    ) -> None:
        """A call of ``model`` ended: ``reason`` ``None`` is a success; ``counted`` False notes
        the reason without counting a request (a model skipped because its circuit is open)."""
        ...

    async def snapshot(self, chain: str, models: Sequence[str]) -> dict[str, ModelHealth]:
        """The health of each of ``models`` (zeros for one never called)."""
        ...

    async def next_turn(self, chain: str) -> int:
        """The round-robin turn for the next call (0, 1, 2… across every user of the chain)."""
        ...


def apply(h: ModelHealth, reason: str | None, error: str | None, *, counted: bool) -> None:
    """Count one call's outcome in ``h`` (see ``ChainHealthBackend.record``)."""
    if reason is None:
        h.requests += 1
        h.consecutive_failures = 0
        return
    if counted:
        h.requests += 1
        h.failures += 1
        h.consecutive_failures += 1
    h.last_reason, h.last_error = reason, error


class InMemoryChainHealth:
    """Chain health of this process."""

    def __init__(self) -> None:
        self.models: dict[tuple[str, str], ModelHealth] = {}
        self.turns: dict[str, int] = {}

    def get(self, chain: str, model: str) -> ModelHealth:
        return self.models.setdefault((chain, model), ModelHealth())

    async def record(
        self, chain: str, model: str, reason: str | None, error: str | None, *, counted: bool
    ) -> None:
        apply(self.get(chain, model), reason, error, counted=counted)

    async def snapshot(self, chain: str, models: Sequence[str]) -> dict[str, ModelHealth]:
        return {m: replace(self.get(chain, m)) for m in models}

    async def next_turn(self, chain: str) -> int:
        turn = self.turns.get(chain, 0)
        self.turns[chain] = turn + 1
        return turn


class ChainHealth:
    """The backend chains use (a holder, so ``install`` can swap it for every chain at once)."""

    def __init__(self, backend: ChainHealthBackend | None = None) -> None:
        self.backend: ChainHealthBackend = backend or InMemoryChainHealth()


chain_health = ChainHealth()
"""The process-wide holder (in-process until ``RuntimeServices.install`` points it at Redis)."""
