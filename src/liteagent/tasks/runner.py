"""Run background jobs: in-process asyncio jobs (the default) or Celery workers.

``get_job_runner(settings)`` picks the runner: ``LITEAGENT_JOBS_BACKEND=celery`` (or ``auto``
with ``REDIS_URL`` / ``LITEAGENT_CELERY_BROKER_URL`` set and Celery installed) sends jobs to
Celery workers; otherwise they run as asyncio tasks in this process. Both run the same job
functions with the same retry policies and record the same job rows, so
``await runner.enqueue("deliver_webhook", webhook_url=…, event_type=…, payload=…)`` works the
same on one machine and on many.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from liteagent.errors import ConfigurationError, InvalidRequestError
from liteagent.log import get_logger
from liteagent.tasks.base import AttemptOutcome, JobDefinition, run_attempt
from liteagent.tasks.definitions import get_job, schedule
from liteagent.tasks.jobs import Job, JobStore, new_job_id

if TYPE_CHECKING:
    from celery import Celery

    from liteagent.config import Settings

__all__ = [
    "CeleryJobRunner",
    "InProcessJobRunner",
    "JobRunner",
    "check_arguments",
    "get_job_runner",
]

logger = get_logger(__name__)


class InvalidJobArgumentsError(InvalidRequestError, error_code="invalid_job_arguments"):
    """The arguments do not fit the job's signature."""


def check_arguments(definition: JobDefinition, kwargs: Mapping[str, Any]) -> None:
    """Refuse arguments the job's function would not accept (before anything is queued)."""
    signature = inspect.signature(definition.function)
    reserved = {"settings"} | ({definition.job_id_arg} if definition.job_id_arg else set())
    if reserved & set(kwargs):
        raise InvalidJobArgumentsError(
            f"{definition.name}: {', '.join(sorted(reserved & set(kwargs)))} cannot be passed."
        )
    extra = dict.fromkeys(reserved)
    try:
        signature.bind(**kwargs, **extra)
    except TypeError as exc:
        raise InvalidJobArgumentsError(f"{definition.name}: {exc}") from None


class JobRunner(Protocol):
    """Queues jobs and reports on them."""

    async def enqueue(self, name: str, /, **kwargs: Any) -> str:
        """Queue the job ``name`` with ``kwargs``; returns its id."""
        ...

    async def get(self, job_id: str) -> Job | None:
        """The job's record."""
        ...

    async def aclose(self) -> None:
        """Release resources (in-process: cancel running jobs)."""
        ...


class _RecordedJobs(ABC):
    """What both runners share: a job is checked and recorded in ``store`` before it starts."""

    backend: ClassVar[str]
    settings: Settings
    store: JobStore

    async def enqueue(self, name: str, /, **kwargs: Any) -> str:
        """Queue the job ``name`` with ``kwargs``; returns its id."""
        definition = get_job(name)
        check_arguments(definition, kwargs)
        job_id = new_job_id()
        policy = definition.policy(self.settings)
        await self.store.create(job_id, name, kwargs, max_attempts=policy.max_attempts)
        await self._start(definition, job_id, dict(kwargs))
        logger.info("job_queued", job_id=job_id, job=name, backend=self.backend)
        return job_id

    async def get(self, job_id: str) -> Job | None:
        """The job's record."""
        return await self.store.get(job_id)

    @abstractmethod
    async def _start(self, definition: JobDefinition, job_id: str, kwargs: dict[str, Any]) -> None:
        """Start the recorded job (a task of this process, or a message to the workers)."""


class InProcessJobRunner(_RecordedJobs):
    """Runs jobs as asyncio tasks of this process, with retries and backoff.

    Args:
        settings: Settings for the jobs.
        store: Where job rows go (default: ``LITEAGENT_DATABASE_URL``).
    """

    backend = "inprocess"

    def __init__(self, settings: Settings, *, store: JobStore | None = None) -> None:
        self.settings = settings
        self.store = store or JobStore(settings.database_url)
        self._own_store = store is None
        self._tasks: dict[str, asyncio.Task[AttemptOutcome]] = {}
        self._schedulers: list[asyncio.Task[None]] = []

    async def _start(self, definition: JobDefinition, job_id: str, kwargs: dict[str, Any]) -> None:
        self._tasks[job_id] = asyncio.create_task(
            self._run(definition, job_id, kwargs), name=f"job:{definition.name}:{job_id}"
        )

    async def _run(
        self, definition: JobDefinition, job_id: str, kwargs: dict[str, Any]
    ) -> AttemptOutcome:
        retries = 0
        try:
            while True:
                outcome = await run_attempt(
                    definition,
                    job_id,
                    kwargs,
                    store=self.store,
                    settings=self.settings,
                    retries_done=retries,
                )
                if outcome.kind != "retry":
                    return outcome
                await asyncio.sleep(outcome.delay)
                retries += 1
        finally:
            self._tasks.pop(job_id, None)

    async def wait(self, job_id: str) -> Job | None:
        """Wait until the job has finished (succeeded, failed or dead-lettered)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)
        return await self.store.get(job_id)

    def start_schedule(self) -> None:
        """Run the periodic jobs (data-source refresh, clean-ups) until ``aclose``."""
        for item in schedule(self.settings):
            self._schedulers.append(
                asyncio.create_task(self._every(item.name, item.every, item.kwargs))
            )

    async def _every(self, name: str, every: float, kwargs: dict[str, Any]) -> None:
        while True:
            await asyncio.sleep(every)
            await self.enqueue(name, **kwargs)

    async def aclose(self) -> None:
        pending = [*self._schedulers, *self._tasks.values()]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._schedulers.clear()
        if self._own_store:
            await self.store.close()


class CeleryJobRunner(_RecordedJobs):
    """Sends jobs to Celery workers on the Redis broker (``liteagent.tasks.celery_app``).

    Args:
        settings: Settings (the broker URL and the jobs' database).
        app: The Celery app (default: one built from ``settings``).
    """

    backend = "celery"

    def __init__(self, settings: Settings, *, app: Celery | None = None) -> None:
        from liteagent.tasks.celery_app import create_celery_app

        self.settings = settings
        self.app = app or create_celery_app(settings)
        self.store = JobStore(settings.database_url)

    async def _start(self, definition: JobDefinition, job_id: str, kwargs: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self.app.send_task, f"liteagent.{definition.name}", kwargs=kwargs, task_id=job_id
        )

    async def aclose(self) -> None:
        await self.store.close()


def celery_selected(settings: Settings) -> bool:
    """Whether jobs go to Celery under these settings."""
    if settings.jobs_backend == "inprocess":
        return False
    configured = settings.celery_broker_url is not None or settings.redis_url is not None
    installed = importlib.util.find_spec("celery") is not None
    if settings.jobs_backend == "celery":
        if not configured:
            raise ConfigurationError(
                "LITEAGENT_JOBS_BACKEND=celery needs REDIS_URL (or LITEAGENT_CELERY_BROKER_URL)."
            )
        if not installed:
            raise ConfigurationError(
                "LITEAGENT_JOBS_BACKEND=celery needs Celery: install the 'celery' extra "
                "(liteagent[celery])."
            )
        return True
    return configured and installed


def get_job_runner(settings: Settings) -> JobRunner:
    """The runner ``settings`` ask for (see the module docstring)."""
    if celery_selected(settings):
        return CeleryJobRunner(settings)
    return InProcessJobRunner(settings)
