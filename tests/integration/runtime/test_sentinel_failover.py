"""Sentinel mode through a failover: the master is killed, the Sentinel promotes its replica,
and the runtime carries on (in-process meanwhile), then uses the new master, where the state
written before the failover still is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from liteagent.config import Settings
from liteagent.runtime.health import HealthStatus
from liteagent.runtime.services import RuntimeServices
from tests.servers.valkey import SentinelSetup, client_for, start_sentinel, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sentinel_with_replica() -> Iterator[SentinelSetup]:
    with start_sentinel("failover-master", with_replica=True) as setup:
        yield setup


async def test_failover_to_the_replica(sentinel_with_replica: SentinelSetup) -> None:
    setup = sentinel_with_replica
    assert setup.replica is not None
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{setup.sentinel_port}/0",
        redis_mode="sentinel",
        redis_sentinel_master=setup.master_name,
    )
    services, other = RuntimeServices(settings), RuntimeServices(settings)
    try:
        await services.tasks.start_task("run-before", "liteagent/helper", "alice")
        assert services.redis.available
        replica = client_for(setup.replica.port)
        await asyncio.to_thread(
            wait_for, lambda: bool(replica.keys("liteagent:task:*")), what="replicated"
        )

        setup.master.terminate()  # SIGKILL
        # served in-process while the Sentinel notices and promotes the replica
        await services.tasks.start_task("run-during", "liteagent/helper", "alice")
        assert await services.tasks.set_stop_flag("run-during", "alice")
        await asyncio.to_thread(
            wait_for,
            lambda: setup.master_port() == setup.replica.port,  # type: ignore[union-attr]
            timeout=60,
            what="the replica promoted",
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await services.health.report())["status"] != HealthStatus.HEALTHY.value:
            assert loop.time() < deadline, "never healthy on the new master"
            await asyncio.sleep(0.2)
        # the new master has what was written before the failover, for every replica
        info = await other.tasks.get_task("run-before")
        assert info is not None and info.owner_id == "alice"
        assert await other.tasks.set_stop_flag("run-before", "alice")
        assert await services.tasks.is_stopped("run-before")
        assert services.redis.available and other.redis.available
        replica.close()
    finally:
        await services.aclose()
        await other.aclose()
