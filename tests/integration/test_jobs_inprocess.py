"""Background jobs in-process (the embedded default): no broker, no Celery worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from liteagent.config import Settings, get_settings
from liteagent.tasks import InProcessJobRunner, Job, get_job_runner
from liteagent.tasks.runner import InvalidJobArgumentsError
from tests.integration import job_scenarios as sc
from tests.integration.jobs_support import WebhookReceiver, wait_until, write_project
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = pytest.mark.integration


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai_server: tuple[OpenAIWireServer, str]
) -> Iterator[dict[str, str]]:
    values = write_project(tmp_path)
    values["OPENAI_BASE_URL"] = openai_server[1]
    values["LITEAGENT_KNOWLEDGE_RETENTION_DAYS"] = "1"
    monkeypatch.delenv("REDIS_URL", raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


@pytest.fixture
async def harness(env: dict[str, str], tmp_path: Path) -> AsyncIterator[sc.Harness]:
    settings = Settings()
    runner = get_job_runner(settings)
    assert isinstance(runner, InProcessJobRunner)

    async def finished(job_id: str) -> Job:
        job = await runner.wait(job_id)
        assert job is not None and job.status.finished
        return job

    yield sc.Harness(runner.enqueue, finished, runner.get, settings, tmp_path)
    await runner.aclose()


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    hook = WebhookReceiver()
    with serve_app(hook.app) as url:
        yield hook, url


async def test_refresh_datasources(harness: sc.Harness) -> None:
    await sc.refresh_datasources(harness)


async def test_refresh_unknown_datasource(harness: sc.Harness) -> None:
    await sc.refresh_unknown_datasource_fails_once(harness)


async def test_cleanup_expired_datasources(harness: sc.Harness) -> None:
    await sc.cleanup_expired_datasources(harness)


async def test_process_chat(harness: sc.Harness, openai_server: Any) -> None:
    await sc.process_chat(harness, openai_server[0])
    await sc.process_chat_unknown_agent(harness)


async def test_batch_embed(harness: sc.Harness) -> None:
    await sc.batch_embed(harness)


async def test_summarize(harness: sc.Harness, openai_server: Any) -> None:
    await sc.summarize(harness, openai_server[0])


async def test_webhook_retried_then_delivered(harness: sc.Harness, receiver: Any) -> None:
    await sc.webhook_retried_then_delivered(harness, *receiver)


async def test_webhook_dead_letter(harness: sc.Harness, receiver: Any) -> None:
    await sc.webhook_dead_letter(harness, *receiver)


async def test_webhook_refused_url(harness: sc.Harness, receiver: Any) -> None:
    await sc.webhook_refused_url(harness, receiver[0])


async def test_bad_arguments_are_refused_before_queueing(harness: sc.Harness) -> None:
    with pytest.raises(InvalidJobArgumentsError, match="refresh_datasource"):
        await harness.enqueue("refresh_datasource", source="handbook")
    with pytest.raises(InvalidJobArgumentsError, match="settings"):
        await harness.enqueue("refresh_all_datasources", settings=None)
    with pytest.raises(Exception, match="No background job 'nope'"):
        await harness.enqueue("nope")


async def test_webhook_without_secret_is_a_dead_letter(
    harness: sc.Harness, receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITEAGENT_WEBHOOK_SECRET", "")
    runner = InProcessJobRunner(Settings())
    try:
        job = await runner.wait(
            await runner.enqueue(
                "deliver_webhook", webhook_url=f"{receiver[1]}/hook", event_type="x", payload={}
            )
        )
    finally:
        await runner.aclose()
    assert job is not None and job.status.value == "dead_letter" and job.attempts == 1
    assert "LITEAGENT_WEBHOOK_SECRET is not set" in (job.error or "")
    assert receiver[0].deliveries == []


async def test_in_process_schedule_runs_the_periodic_jobs(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITEAGENT_DATASOURCE_REFRESH_INTERVAL", "0.5")
    runner = InProcessJobRunner(Settings())
    runner.start_schedule()
    try:

        async def refreshed() -> bool:
            jobs = await runner.store.list(name="refresh_all_datasources")
            return any(
                j.status.value == "succeeded" and j.result["refreshed"] == ["handbook"]
                for j in jobs
            )

        await wait_until(refreshed, what="a scheduled refresh of the handbook")
    finally:
        await runner.aclose()
