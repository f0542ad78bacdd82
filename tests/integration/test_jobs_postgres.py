"""The jobs table on a real PostgreSQL (the compose set-up: postgresql+psycopg://…)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from liteagent.config import Settings
from liteagent.tasks import InProcessJobRunner, JobStatus, JobStore
from tests.servers.pgvector_server import embedded_postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with embedded_postgres() as url:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)


async def test_job_rows_on_postgresql(database_url: str) -> None:
    async with JobStore.open(database_url) as store:
        await store.create(
            "a" * 32, "deliver_webhook", {"headers": {"Authorization": "x"}}, max_attempts=3
        )
        assert await store.mark_running("a" * 32) == 1
        await store.mark_retrying("a" * 32, "RetryableJobError: HTTP 503", 0.5)
        job = await store.get("a" * 32)
        assert job is not None and job.status is JobStatus.RETRYING
        assert job.next_attempt_at is not None and job.next_attempt_at > job.updated_at
        assert job.args == {"headers": {"Authorization": "***"}}
        await store.mark_failed("a" * 32, "RetryableJobError: HTTP 503", dead_letter=True)
        assert [j.id for j in await store.list(status=JobStatus.DEAD_LETTER)] == ["a" * 32]
        removed = await store.delete_finished(
            name="deliver_webhook", statuses=(JobStatus.DEAD_LETTER,), older_than=timedelta(0)
        )
        assert removed == 1 and await store.get("a" * 32) is None


async def test_a_job_runs_against_postgresql(database_url: str, tmp_path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        LITEAGENT_DATABASE_URL=database_url,
        LITEAGENT_CATALOG=str(tmp_path / "none.yaml"),
    )
    (tmp_path / "none.yaml").write_text("models: {}\n")
    runner = InProcessJobRunner(settings)
    try:
        job = await runner.wait(await runner.enqueue("cleanup_failed_webhooks", hours_old=1))
    finally:
        await runner.aclose()
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.result == 0
