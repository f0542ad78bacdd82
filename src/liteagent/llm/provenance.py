"""Which model answered: provenance of LLM responses, and a per-request record of it.

Every response that went through a fallback chain carries a ``Provenance``: the model the chain
tried first (``requested_model``), the model that answered (``model``) and the failed attempts in
between, each with its ``FallbackReason``.

Every model call is an ``LLMCall``: its provenance and its token usage (recorded by
``liteagent.llm.metering``, once per call, whichever provider answered). ``record_llm_calls()``
collects the calls made inside its block (in the same task or in tasks started from it);
``record_llm_calls_of(stream, calls)`` does the same for the steps of an async iterator, which
the proxy's consumers may drive from different tasks. The proxy handler records each request's
calls to report the answering model, the number of calls and their cost in the response and its
logs (``summarize_calls``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from liteagent.llm.streams import iterate_in_context

__all__ = [
    "FallbackAttempt",
    "FallbackReason",
    "LLMCall",
    "Provenance",
    "ProvenanceView",
    "note_llm_call",
    "provenance_headers",
    "record_llm_calls",
    "record_llm_calls_of",
    "summarize_calls",
]

T = TypeVar("T")


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


class ProvenanceView:
    """Read-through access to the ``provenance`` of something that carries one (a call, a
    chain's result)."""

    provenance: Provenance

    @property
    def model(self) -> str:
        return self.provenance.model

    @property
    def requested_model(self) -> str:
        return self.provenance.requested_model

    @property
    def fallback_used(self) -> bool:
        return self.provenance.fallback_used

    @property
    def attempts(self) -> tuple[FallbackAttempt, ...]:
        return self.provenance.attempts


@dataclass(frozen=True)
class LLMCall(ProvenanceView):
    """One model call of a run: which model answered it, and the tokens it used."""

    provenance: Provenance
    prompt_tokens: int = 0
    completion_tokens: int = 0


CallPrice = Callable[[LLMCall], float]
"""The cost of one call in USD (see ``liteagent.llm.pricing.CallPricer``)."""

_calls: ContextVar[list[LLMCall] | None] = ContextVar("liteagent_llm_calls", default=None)


@contextmanager
def record_llm_calls() -> Iterator[list[LLMCall]]:
    """Collect every LLM call made inside the block, in call order."""
    calls: list[LLMCall] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        try:
            _calls.reset(token)
        except ValueError:  # closed from another context (an async generator finalised late)
            _calls.set(None)


def record_llm_calls_of(stream: AsyncIterator[T], calls: list[LLMCall]) -> AsyncGenerator[T, None]:
    """Iterate ``stream``, collecting into ``calls`` every LLM call it makes.

    Unlike a ``record_llm_calls`` block opened inside an async generator, this holds when the
    consumer drives each step from a different task (LiteLLM's proxy fetches the first chunk
    of a stream in a task of its own): the recording is set for the duration of each step
    only, so the calls of that step, and of the tasks it starts, land in ``calls``.
    """
    return iterate_in_context(stream, _calls, calls)


def note_llm_call(call: LLMCall | Provenance) -> None:
    """Add one call to the innermost recording (``record_llm_calls``), if any."""
    calls = _calls.get()
    if calls is not None:
        calls.append(call if isinstance(call, LLMCall) else LLMCall(call))


def summarize_calls(
    calls: list[LLMCall], default_model: str | None = None, *, price: CallPrice | None = None
) -> dict[str, Any]:
    """Response metadata for a run's LLM calls (what the proxy returns as ``liteagent``).

    ``model`` is the model that produced the final answer (the last call), ``requested_model``
    the one the entry asked for first; ``attempts`` lists every model that failed on the way,
    with its reason (error texts stay in the logs); ``llm_calls`` counts the calls. With
    ``price``, ``cost`` is the sum of the calls' costs in USD. Without recorded calls (a run
    that needed no model) ``default_model`` is both models.
    """
    cost = {"cost": math.fsum(price(c) for c in calls)} if price is not None else {}
    if not calls:
        if default_model is None:
            return {}
        return {
            "model": default_model,
            "requested_model": default_model,
            "fallback_used": False,
            "attempts": [],
            "llm_calls": 0,
            **cost,
        }
    return {
        "model": calls[-1].model,
        "requested_model": calls[0].requested_model,
        "fallback_used": any(c.fallback_used for c in calls),
        "attempts": [
            {"model": a.model, "reason": a.reason.value} for c in calls for a in c.attempts
        ],
        "llm_calls": len(calls),
        **cost,
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
