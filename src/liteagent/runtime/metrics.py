"""Prometheus metrics of runs, tools, approvals, LLM calls and circuit breakers.

``MetricsCollector`` owns its own ``CollectorRegistry`` (LiteLLM's metrics stay on theirs) and
defines every LiteAgent metric once. With several worker processes set
``PROMETHEUS_MULTIPROC_DIR`` (an empty folder shared by the workers, cleaned at start-up, as
``prometheus_client`` documents): each process then writes its values there and ``render()``
aggregates them all. With several replicas, Prometheus scrapes each replica and sums.

Metric names (all prefixed ``liteagent_``): ``runs_started_total``, ``runs_completed_total``,
``runs_failed_total``, ``runs_cancelled_total`` (label ``model``); ``tool_calls_total``
(``tool``, ``outcome``); ``approvals_total`` (``decision``); ``llm_calls_total`` (``provider``,
``outcome``); ``llm_fallbacks_total`` (``from_provider``, ``to_provider``);
``input_checks_total`` (``model``, ``check``, ``action``: flagged or blocked);
``run_duration_seconds`` and ``queue_wait_seconds`` histograms (``model``); ``circuit_state``
gauge (``circuit``; 0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE_LATEST", "MetricsCollector", "metrics"]

_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "runs_started": ("Runs started", ("model",)),
    "runs_completed": ("Runs that finished with an answer", ("model",)),
    "runs_failed": ("Runs that ended with an error", ("model",)),
    "runs_cancelled": ("Runs cancelled (client Stop, abort command)", ("model",)),
    "tool_calls": ("Tool calls", ("tool", "outcome")),
    "approvals": ("Human approval decisions", ("decision",)),
    "llm_calls": ("Calls to LLM providers", ("provider", "outcome")),
    "llm_fallbacks": ("Fallbacks from one provider to the next", ("from_provider", "to_provider")),
    "input_checks": (
        "Chat requests an input check flagged or blocked",
        ("model", "check", "action"),
    ),
}
_HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "run_duration_seconds": ("Run duration", ("model",)),
    "queue_wait_seconds": ("Time a turn waited for its chat's previous turn", ("model",)),
}
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, float("inf"))
_CIRCUIT_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class MetricsCollector:
    """The seeds' collector API on ``prometheus_client`` (plus typed helpers)."""

    def __init__(self) -> None:
        self._build()

    def _build(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {
            name: Counter(f"liteagent_{name}", doc, labels, registry=self.registry)
            for name, (doc, labels) in _COUNTERS.items()
        }
        self._histograms: dict[str, Histogram] = {
            name: Histogram(
                f"liteagent_{name}", doc, labels, registry=self.registry, buckets=_BUCKETS
            )
            for name, (doc, labels) in _HISTOGRAMS.items()
        }
        self._circuit = Gauge(
            "liteagent_circuit_state",
            "Circuit breaker state (0 closed, 1 half-open, 2 open)",
            ("circuit",),
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self._recent: dict[tuple[str, tuple[tuple[str, str], ...]], deque[float]] = {}

    # ------------------------------------------------------------------ seeds' API
    def increment(self, name: str, value: int = 1, labels: dict[str, str] | None = None) -> None:
        """Add ``value`` to counter ``name`` (one of the names in this module's docstring)."""
        counter = self._counters.get(name.removesuffix("_total"))
        if counter is None:
            raise ValueError(f"unknown counter '{name}'; known: {', '.join(sorted(_COUNTERS))}")
        (counter.labels(**labels) if labels else counter).inc(value)

    def get_counter(self, name: str, labels: dict[str, str] | None = None) -> int:
        """This process's value of counter ``name`` (0 if never incremented)."""
        metric = f"liteagent_{name.removesuffix('_total')}_total"
        value = self.registry.get_sample_value(metric, labels or {})
        return int(value or 0)

    def record_histogram(
        self, name: str, value: float, labels: dict[str, str] | None = None
    ) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            raise ValueError(f"unknown histogram '{name}'; known: {', '.join(sorted(_HISTOGRAMS))}")
        (histogram.labels(**labels) if labels else histogram).observe(value)
        key = (name, tuple(sorted((labels or {}).items())))
        self._recent.setdefault(key, deque(maxlen=1000)).append(value)

    def get_histogram(self, name: str, labels: dict[str, str] | None = None) -> list[float]:
        """The last (up to 1000) values this process recorded."""
        return list(self._recent.get((name, tuple(sorted((labels or {}).items()))), ()))

    def reset(self) -> None:
        """Forget every value (tests)."""
        self._build()

    # ------------------------------------------------------------------ typed helpers
    def run_started(self, model: str) -> None:
        self.increment("runs_started", labels={"model": model})

    def run_finished(self, model: str, outcome: str, duration: float | None = None) -> None:
        """``outcome``: ``completed``, ``failed`` or ``cancelled``."""
        self.increment(f"runs_{outcome}", labels={"model": model})
        if duration is not None:
            self.record_histogram("run_duration_seconds", duration, {"model": model})

    def tool_call(self, tool: str, outcome: str = "ok") -> None:
        self.increment("tool_calls", labels={"tool": tool, "outcome": outcome})

    def approval(self, decision: str) -> None:
        self.increment("approvals", labels={"decision": decision})

    def llm_call(self, provider: str, outcome: str = "ok") -> None:
        self.increment("llm_calls", labels={"provider": provider, "outcome": outcome})

    def llm_fallback(self, from_provider: str, to_provider: str) -> None:
        self.increment(
            "llm_fallbacks", labels={"from_provider": from_provider, "to_provider": to_provider}
        )

    def circuit_state(self, circuit: str, state: str) -> None:
        self._circuit.labels(circuit=circuit).set(_CIRCUIT_VALUES.get(state, 0.0))

    def observe_breakers(self, stats: dict[str, dict[str, Any]]) -> None:
        """Set the gauge from ``CircuitBreakerRegistry.get_all_stats()``."""
        for name, s in stats.items():
            self.circuit_state(name, str(s.get("state", "closed")))

    # ------------------------------------------------------------------ exposition
    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type (all worker processes in multiprocess
        mode, this process otherwise)."""
        if _multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


metrics = MetricsCollector()
"""The process-wide collector."""
