"""Health checks for load balancers and orchestrators: database, Redis, disk, memory.

Each check answers HEALTHY, DEGRADED (serving, with reduced guarantees: Redis down means every
replica runs on its own in-process state) or UNHEALTHY (should not receive traffic: the
database is unreachable). ``HealthCheckRegistry.get_overall_status`` is the worst of them.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import psutil

from liteagent.runtime.redis_client import RedisClientWrapper

__all__ = [
    "DatabaseHealthCheck",
    "DiskSpaceHealthCheck",
    "ExternalServiceHealthCheck",
    "HealthCheck",
    "HealthCheckRegistry",
    "HealthCheckResult",
    "HealthStatus",
    "MemoryHealthCheck",
    "RedisHealthCheck",
]


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_RANK = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}


@dataclass(frozen=True)
class HealthCheckResult:
    name: str
    status: HealthStatus
    latency_ms: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "latency_ms": round(self.latency_ms, 2),
            "details": self.details,
        }


class HealthCheck(ABC):
    """One named check; ``run`` times it and turns an exception or a timeout into UNHEALTHY."""

    def __init__(self, name: str, *, timeout: float = 5.0) -> None:
        self.name = name
        self.timeout = timeout

    @abstractmethod
    async def probe(self) -> tuple[HealthStatus, dict[str, Any]]:
        """The status and details (may raise: that is UNHEALTHY)."""

    async def check(self) -> HealthCheckResult:
        start = time.perf_counter()
        try:
            status, details = await asyncio.wait_for(self.probe(), self.timeout)
        except TimeoutError:
            status, details = HealthStatus.UNHEALTHY, {"error": f"no answer in {self.timeout}s"}
        except Exception as exc:  # noqa: BLE001 (any failure of a probe is UNHEALTHY)
            status, details = HealthStatus.UNHEALTHY, {"error": type(exc).__name__}
        return HealthCheckResult(self.name, status, (time.perf_counter() - start) * 1000, details)


class DatabaseHealthCheck(HealthCheck):
    """``SELECT 1`` through a caller-supplied coroutine (e.g. on the run store's engine)."""

    def __init__(self, ping: Callable[[], Awaitable[object]], *, name: str = "database") -> None:
        super().__init__(name)
        self.ping = ping

    async def probe(self) -> tuple[HealthStatus, dict[str, Any]]:
        await self.ping()
        return HealthStatus.HEALTHY, {}


class RedisHealthCheck(HealthCheck):
    """``PING``. Not configured: healthy (in-process mode). Unreachable: DEGRADED, because
    every operation falls back to this process's state."""

    def __init__(self, redis: RedisClientWrapper, *, name: str = "redis") -> None:
        super().__init__(name)
        self.redis = redis

    async def probe(self) -> tuple[HealthStatus, dict[str, Any]]:
        if not self.redis.configured:
            return HealthStatus.HEALTHY, {"mode": "in-process"}
        if await self.redis.ping():
            return HealthStatus.HEALTHY, {"mode": self.redis.mode}
        return HealthStatus.DEGRADED, {
            "mode": self.redis.mode,
            "fallback": "in-process",
            "error": (self.redis.last_error or "").split(":", 1)[0],
        }


class ExternalServiceHealthCheck(HealthCheck):
    """An HTTP ``GET``: 2xx/3xx healthy; anything else, or no answer, ``failure_status``."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        failure_status: HealthStatus = HealthStatus.DEGRADED,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(name, timeout=timeout)
        self.url = url
        self.failure_status = failure_status

    async def probe(self) -> tuple[HealthStatus, dict[str, Any]]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(self.url)
        except httpx.HTTPError as exc:
            return self.failure_status, {"error": type(exc).__name__}
        ok = response.status_code < 400
        return (HealthStatus.HEALTHY if ok else self.failure_status), {
            "status_code": response.status_code
        }


class DiskSpaceHealthCheck(HealthCheck):
    """Free space where data is written: DEGRADED under ``warn_percent``, UNHEALTHY under
    ``fail_percent``."""

    def __init__(
        self, path: Path | str = ".", *, warn_percent: float = 10.0, fail_percent: float = 2.0
    ) -> None:
        super().__init__("disk")
        self.path = Path(path)
        self.warn_percent = warn_percent
        self.fail_percent = fail_percent

    async def probe(self) -> tuple[HealthStatus, dict[str, Any]]:
        usage = await asyncio.to_thread(shutil.disk_usage, self.path)
        free = 100.0 * usage.free / usage.total if usage.total else 0.0
        status = HealthStatus.HEALTHY
        if free < self.fail_percent:
            status = HealthStatus.UNHEALTHY
        elif free < self.warn_percent:
            status = HealthStatus.DEGRADED
        return status, {"free_percent": round(free, 1), "free_bytes": usage.free}


class MemoryHealthCheck(HealthCheck):
    """Available memory of the machine (or container): thresholds as for disk."""

    def __init__(self, *, warn_percent: float = 10.0, fail_percent: float = 3.0) -> None:
        super().__init__("memory")
        self.warn_percent = warn_percent
        self.fail_percent = fail_percent

    async def probe(self) -> tuple[HealthStatus, dict[str, Any]]:
        memory = psutil.virtual_memory()
        available = 100.0 * memory.available / memory.total
        status = HealthStatus.HEALTHY
        if available < self.fail_percent:
            status = HealthStatus.UNHEALTHY
        elif available < self.warn_percent:
            status = HealthStatus.DEGRADED
        rss = psutil.Process().memory_info().rss
        return status, {"available_percent": round(available, 1), "process_rss_bytes": rss}


class HealthCheckRegistry:
    """The checks a replica runs; all run concurrently."""

    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}

    def register(self, check: HealthCheck) -> None:
        self._checks[check.name] = check

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

    async def run_all(self) -> dict[str, HealthCheckResult]:
        checks = list(self._checks.values())
        results = await asyncio.gather(*(c.check() for c in checks))
        return {r.name: r for r in results}

    @staticmethod
    def overall(results: dict[str, HealthCheckResult]) -> HealthStatus:
        worst = HealthStatus.HEALTHY
        for result in results.values():
            if _RANK[result.status] > _RANK[worst]:
                worst = result.status
        return worst

    async def get_overall_status(self) -> HealthStatus:
        return self.overall(await self.run_all())

    async def report(self) -> dict[str, Any]:
        """``{"status": …, "checks": {name: {status, latency_ms, details}}}``."""
        results = await self.run_all()
        return {
            "status": self.overall(results).value,
            "checks": {name: r.to_dict() for name, r in sorted(results.items())},
        }
