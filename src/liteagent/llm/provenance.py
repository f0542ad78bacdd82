"""Which model answered: provenance of LLM responses, and a per-request record of it.

Every response that went through a fallback chain carries a ``Provenance``: the model the chain
tried first (``requested_model``), the model that answered (``model``) and the failed attempts in
between, each with its ``FallbackReason``.

``record_llm_calls()`` collects the provenance of every LLM call made inside it (in the same
task or in tasks started from it), whatever engine made the call. The proxy handler wraps each
request in it to report the answering model in the response and its logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "FallbackAttempt",
    "FallbackReason",
    "Provenance",
    "note_llm_call",
    "provenance_headers",
    "record_llm_calls",
    "summarize_calls",
]


class FallbackReason(StrEnum):
    """Why a model of a chain did not answer."""

    ERROR = "error"
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"
    CAPACITY = "capacity"
    UNAVAILABLE = "unavailable"
    CIRCUIT_OPEN = "circuit_open"
    CONTEXT_WINDOW = "context_window"


@dataclass(frozen=True)
class FallbackAttempt:
    """One model that was tried and did not answer."""

    model: str
    reason: FallbackReason
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"model": self.model, "reason": self.reason.value, "error": self.error}


@dataclass(frozen=True)
class Provenance:
    """Requested versus actual model of one LLM call.

    Attributes:
        requested_model: The model the chain tried first for this call.
        model: The model that answered.
        attempts: Models tried before it, in order, with the reason each failed.
        chain: The chain's name (a named chain of the catalog, or the models joined).
    """

    requested_model: str
    model: str
    attempts: tuple[FallbackAttempt, ...] = ()
    chain: str | None = None

    @property
    def fallback_used(self) -> bool:
        return self.model != self.requested_model

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested_model": self.requested_model,
            "model": self.model,
            "fallback_used": self.fallback_used,
            "attempts": [a.to_dict() for a in self.attempts],
            "chain": self.chain,
        }


_calls: ContextVar[list[Provenance] | None] = ContextVar("liteagent_llm_calls", default=None)


@contextmanager
def record_llm_calls() -> Iterator[list[Provenance]]:
    """Collect the provenance of every LLM call made inside the block, in call order."""
    calls: list[Provenance] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        try:
            _calls.reset(token)
        except ValueError:  # closed from another context (an async generator finalised late)
            _calls.set(None)


def note_llm_call(provenance: Provenance) -> None:
    """Add one call to the innermost ``record_llm_calls`` block, if any."""
    calls = _calls.get()
    if calls is not None:
        calls.append(provenance)


def summarize_calls(calls: list[Provenance], default_model: str | None = None) -> dict[str, Any]:
    """Response metadata for a run's LLM calls (what the proxy returns as ``liteagent``).

    ``model`` is the model that produced the final answer (the last call), ``requested_model``
    the one the entry asked for first; ``attempts`` lists every model that failed on the way,
    with its reason (error texts stay in the logs). Without recorded calls (an in-process model
    called directly) ``default_model`` is both.
    """
    if not calls:
        if default_model is None:
            return {}
        return {
            "model": default_model,
            "requested_model": default_model,
            "fallback_used": False,
            "attempts": [],
            "llm_calls": 0,
        }
    return {
        "model": calls[-1].model,
        "requested_model": calls[0].requested_model,
        "fallback_used": any(c.fallback_used for c in calls),
        "attempts": [
            {"model": a.model, "reason": a.reason.value} for c in calls for a in c.attempts
        ],
        "llm_calls": len(calls),
    }


def provenance_headers(summary: dict[str, Any]) -> dict[str, str]:
    """``x-liteagent-*`` response headers for a ``summarize_calls`` result."""
    if not summary:
        return {}
    return {
        "x-liteagent-model": str(summary["model"]),
        "x-liteagent-requested-model": str(summary["requested_model"]),
        "x-liteagent-fallback": "true" if summary["fallback_used"] else "false",
    }
