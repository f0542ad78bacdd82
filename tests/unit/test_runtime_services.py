"""Runtime services without Redis: settings, URIs, health, metrics, caches, endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from liteagent.config import Settings
from liteagent.runtime.cache import CacheConfig, InMemoryCache, LLMResponseCache
from liteagent.runtime.cache_manager import (
    CredentialsCache,
    EmbeddingCache,
    get_cached_or_compute,
)
from liteagent.runtime.endpoints import install_routes
from liteagent.runtime.health import (
    DiskSpaceHealthCheck,
    HealthCheck,
    HealthCheckRegistry,
    HealthStatus,
    RedisHealthCheck,
)
from liteagent.runtime.metrics import MetricsCollector
from liteagent.runtime.redis_backends import limits_storage_options, limits_storage_uri
from liteagent.runtime.redis_client import RedisClientWrapper, RedisNotConfiguredError
from liteagent.runtime.services import RuntimeServices
from liteagent.security.encryption import EncryptionService


def test_redis_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:pw@10.0.0.1:6380/2")
    monkeypatch.setenv("REDIS_MODE", "Cluster")
    monkeypatch.setenv("REDIS_SSL", "true")
    monkeypatch.setenv("REDIS_CLUSTER_NODES", "10.0.0.1:6380, 10.0.0.2:6380,")
    settings = Settings()
    assert settings.redis_mode == "cluster" and settings.redis_ssl
    assert settings.redis_cluster_nodes == ("10.0.0.1:6380", "10.0.0.2:6380")
    assert "pw" not in repr(settings)  # the URL may carry a password
    monkeypatch.setenv("REDIS_MODE", "replicated")
    with pytest.raises(ValueError, match="REDIS_MODE"):
        Settings()


def test_no_redis_url_means_in_process_everything() -> None:
    services = RuntimeServices(Settings(redis_url=None))
    assert not services.shared and not services.redis.configured
    with pytest.raises(RedisNotConfiguredError):
        services.redis.initialize()


def test_limits_uris_follow_the_mode() -> None:
    def wrapper(**kw: Any) -> RedisClientWrapper:
        return RedisClientWrapper(Settings(**kw))

    assert limits_storage_uri(wrapper(redis_url="redis://h:1/3")) == "async+redis://h:1/3"
    assert limits_storage_uri(wrapper(redis_url="rediss://h:1")) == "async+rediss://h:1"
    assert limits_storage_uri(wrapper(redis_url="redis://h:1", redis_ssl=True)).startswith(
        "async+rediss://"
    )
    sentinel = wrapper(
        redis_url="redis://:p%40ss@s1:26379/4",
        redis_mode="sentinel",
        redis_cluster_nodes=("s1:26379", "s2:26379"),
        redis_sentinel_master="primary",
    )
    assert (
        limits_storage_uri(sentinel) == "async+redis+sentinel://:p%40ss@s1:26379,s2:26379/primary"
    )
    assert limits_storage_options(sentinel)["db"] == 4
    cluster = wrapper(redis_url="redis://c1:7000", redis_mode="cluster")
    assert limits_storage_uri(cluster) == "async+redis+cluster://c1:7000"


def test_tls_settings_reach_the_connection() -> None:
    wrapper = RedisClientWrapper(
        Settings(redis_url="redis://h:1", redis_ssl=True, redis_ssl_ca_certs=Path("/nope/ca.pem"))
    )
    kwargs = wrapper._ssl_kwargs()
    assert kwargs == {"ssl": True, "ssl_cert_reqs": "required", "ssl_ca_certs": "/nope/ca.pem"}
    plain = RedisClientWrapper(Settings(redis_url="redis://h:1"))
    assert plain._ssl_kwargs() == {} and plain._get_ssl_context() is None


class _Fixed(HealthCheck):
    def __init__(self, name: str, status: HealthStatus | None) -> None:
        super().__init__(name, timeout=1.0)
        self.status = status

    async def probe(self) -> tuple[HealthStatus, dict[str, Any]]:
        if self.status is None:
            raise RuntimeError("boom")
        return self.status, {}


async def test_overall_health_is_the_worst_check() -> None:
    registry = HealthCheckRegistry()
    registry.register(_Fixed("a", HealthStatus.HEALTHY))
    assert await registry.get_overall_status() is HealthStatus.HEALTHY
    registry.register(_Fixed("b", HealthStatus.DEGRADED))
    assert await registry.get_overall_status() is HealthStatus.DEGRADED
    registry.register(_Fixed("c", None))  # a probe that raises is unhealthy
    report = await registry.report()
    assert report["status"] == "unhealthy"
    assert report["checks"]["c"]["details"] == {"error": "RuntimeError"}
    registry.unregister("c")
    assert await registry.get_overall_status() is HealthStatus.DEGRADED


async def test_disk_check_thresholds(tmp_path: Path) -> None:
    assert (
        await DiskSpaceHealthCheck(tmp_path, warn_percent=0, fail_percent=0).check()
    ).status is (HealthStatus.HEALTHY)
    full = DiskSpaceHealthCheck(tmp_path, warn_percent=101, fail_percent=101)
    assert (await full.check()).status is HealthStatus.UNHEALTHY


async def test_redis_check_without_redis_is_healthy_in_process() -> None:
    result = await RedisHealthCheck(RedisClientWrapper(Settings(redis_url=None))).check()
    assert result.status is HealthStatus.HEALTHY and result.details == {"mode": "in-process"}


async def test_redis_check_with_nothing_listening_is_degraded() -> None:
    from tests.servers.valkey import free_port

    wrapper = RedisClientWrapper(Settings(redis_url=f"redis://127.0.0.1:{free_port()}"))
    result = await RedisHealthCheck(wrapper).check()
    assert result.status is HealthStatus.DEGRADED
    assert result.details["fallback"] == "in-process"
    await wrapper.close()


def test_metrics_count_and_render() -> None:
    m = MetricsCollector()
    m.run_started("liteagent/helper")
    m.run_started("liteagent/helper")
    m.run_finished("liteagent/helper", "cancelled", duration=1.5)
    m.llm_call("openai", "error")
    m.llm_fallback("openai", "anthropic")
    m.tool_call("jira_search")
    m.approval("approved")
    m.circuit_state("openai/gpt", "open")
    assert m.get_counter("runs_started", {"model": "liteagent/helper"}) == 2
    assert m.get_counter("runs_cancelled_total", {"model": "liteagent/helper"}) == 1
    assert m.get_histogram("run_duration_seconds", {"model": "liteagent/helper"}) == [1.5]
    body, content_type = m.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert 'liteagent_runs_started_total{model="liteagent/helper"} 2.0' in text
    assert 'liteagent_llm_fallbacks_total{from_provider="openai",to_provider="anthropic"}' in text
    assert 'liteagent_circuit_state{circuit="openai/gpt"} 2.0' in text
    with pytest.raises(ValueError, match="unknown counter"):
        m.increment("runs_exploded")
    m.reset()
    assert m.get_counter("runs_started", {"model": "liteagent/helper"}) == 0


def test_in_memory_cache_ttl_lru_and_stats() -> None:
    cache = InMemoryCache(CacheConfig(max_size=2, default_ttl=60))
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1
    cache.set("c", 3)  # b was least recently used
    assert not cache.exists("b") and cache.exists("a")
    cache.set("gone", 4, ttl=0)
    assert cache.get("gone") is None
    assert cache.get_stats()["hits"] == 1
    llm = LLMResponseCache(cache)
    messages = [{"role": "user", "content": "hi"}]
    llm.cache_response(messages, "m", {"text": "hello"})
    assert llm.get_cached_response(messages, "m") == {"text": "hello"}
    assert llm.get_cached_response(messages, "other") is None
    assert llm.invalidate(messages, "m") and llm.get_cached_response(messages, "m") is None


async def test_shared_caches_in_process() -> None:
    embeddings = EmbeddingCache()
    await embeddings.set_embedding("text", "minilm", [1, 2.5])
    assert await embeddings.get_embedding("text", "minilm") == [1.0, 2.5]
    calls = 0

    async def compute() -> list[float]:
        nonlocal calls
        calls += 1
        return [0.5]

    for _ in range(2):
        assert await get_cached_or_compute(embeddings, "k", compute) == [0.5]
    assert calls == 1


async def test_credentials_reach_redis_only_encrypted() -> None:
    plain = CredentialsCache(redis=RedisClientWrapper(Settings(redis_url="redis://h:1")))
    assert plain.redis is None  # no cipher: never leaves the process
    cipher = EncryptionService(EncryptionService().get_key())
    sealed = CredentialsCache(cipher=cipher)
    encoded = sealed.encode({"token": "glpat-secret"})
    assert "glpat-secret" not in encoded and sealed.decode(encoded) == {"token": "glpat-secret"}
    await sealed.set_provider_credentials("jira", {"token": "t"})
    assert await sealed.get_provider_credentials("jira") == {"token": "t"}
    await sealed.invalidate_provider("jira")
    assert await sealed.get_provider_credentials("jira") is None


async def test_health_and_metrics_routes_on_a_fastapi_app() -> None:
    services = RuntimeServices(Settings(redis_url=None), database_ping=lambda: asyncio.sleep(0))
    app = FastAPI()

    @app.get("/{anything:path}")
    async def catch_all(anything: str) -> dict[str, str]:  # like a UI mount
        return {"caught": anything}

    assert install_routes(app, services)
    assert not install_routes(app, services)  # once
    services.metrics.run_started("liteagent/x")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        health = await client.get("/liteagent/health")
        assert health.status_code == 200
        body = health.json()
        assert set(body["checks"]) == {"database", "disk", "memory", "redis"}
        assert body["checks"]["redis"]["details"] == {"mode": "in-process"}
        assert (await client.get("/liteagent/health/live")).json() == {"status": "alive"}
        scraped = await client.get("/liteagent/metrics")
        assert 'liteagent_runs_started_total{model="liteagent/x"}' in scraped.text

    async def broken() -> None:
        raise ConnectionError("database gone")

    failing = RuntimeServices(Settings(redis_url=None), database_ping=broken)
    app2 = FastAPI()
    install_routes(app2, failing)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app2), base_url="http://proxy"
    ) as client:
        down = await client.get("/liteagent/health")
        assert down.status_code == 503 and down.json()["checks"]["database"]["status"] == (
            "unhealthy"
        )


def test_metrics_of_several_worker_processes_add_up(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR each worker writes its values there; a scrape of any
    worker shows the sum."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = "from liteagent.runtime.metrics import metrics; metrics.run_started('liteagent/x')"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=120)
    scrape = (
        "from liteagent.runtime.metrics import metrics; metrics.run_started('liteagent/x'); "
        "print(metrics.render()[0].decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", scrape], env=env, check=True, timeout=120, capture_output=True
    ).stdout.decode()
    assert 'liteagent_runs_started_total{model="liteagent/x"} 3.0' in out
