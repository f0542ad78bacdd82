"""The Celery app: every job of ``liteagent.tasks`` as a task on the Redis broker.

    celery -A liteagent.tasks.celery_app worker --loglevel=INFO
    celery -A liteagent.tasks.celery_app beat

The broker is ``REDIS_URL`` (or ``LITEAGENT_CELERY_BROKER_URL``; ``rediss://`` uses TLS and
verifies the server's certificate). Tasks are acknowledged only after they finish
(``acks_late``) and given back when a worker dies mid-task (``reject_on_worker_lost``): a
message a killed worker had taken is delivered again once
``LITEAGENT_CELERY_VISIBILITY_TIMEOUT`` seconds have passed, so no job is lost (jobs must
therefore be idempotent: re-ingesting and re-delivering a webhook with the same delivery id
are). Results and failures are kept in the jobs table (``liteagent.tasks.jobs``), not in a
Celery result backend.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import TYPE_CHECKING, Any

from liteagent.config import ensure_offline_cost_map, get_settings
from liteagent.errors import ConfigurationError
from liteagent.log import get_logger
from liteagent.tasks.base import AttemptOutcome, JobDefinition, describe, run_attempt
from liteagent.tasks.definitions import JOBS, schedule
from liteagent.tasks.jobs import JobStore

if TYPE_CHECKING:
    from celery import Celery, Task

    from liteagent.config import Settings

__all__ = ["JobFailedError", "broker_url", "create_celery_app"]

ensure_offline_cost_map()

logger = get_logger(__name__)

INFRASTRUCTURE_RETRIES = 20
"""Times a job is queued again when the jobs database itself fails, before it is given up."""


class JobFailedError(Exception):
    """A job failed for good (its row says why); raised so that Celery logs it as failed."""


async def _attempt(
    definition: JobDefinition, job_id: str, kwargs: dict[str, Any], retries: int
) -> AttemptOutcome:
    settings = get_settings()
    async with JobStore.open(settings.database_url) as store:
        return await run_attempt(
            definition, job_id, kwargs, store=store, settings=settings, retries_done=retries
        )


_runner: tuple[int, asyncio.Runner] | None = None


def _run_in_worker_loop(coro: Any) -> Any:
    """Run ``coro`` on this worker process's own event loop.

    One loop per process (created after a prefork worker forks), reused by every task: clients
    cached by the agents and LLM providers stay bound to a loop that is still running.
    """
    global _runner
    if _runner is None or _runner[0] != os.getpid():
        _runner = (os.getpid(), asyncio.Runner())
    return _runner[1].run(coro)


def _register(app: Celery, definition: JobDefinition) -> None:
    def run(self: Task, **kwargs: Any) -> Any:
        try:
            outcome: AttemptOutcome = _run_in_worker_loop(
                _attempt(definition, self.request.id, kwargs, self.request.retries)
            )
        except Exception as exc:
            # The job's own failures are recorded by run_attempt; this is the jobs database
            # itself failing (down, locked). Queue the job again rather than lose it.
            if self.request.retries >= INFRASTRUCTURE_RETRIES:
                raise
            settings = get_settings()
            delay = min(
                settings.job_retry_backoff_max,
                settings.job_retry_backoff * 2 ** min(self.request.retries, 16),
            )
            logger.warning(
                "job_infrastructure_error", job=definition.name, error=describe(exc), delay_s=delay
            )
            raise self.retry(countdown=delay, max_retries=None) from None
        if outcome.kind == "retry":
            raise self.retry(countdown=outcome.delay, max_retries=None)
        if outcome.kind == "failed":
            raise JobFailedError(outcome.error)
        return outcome.result

    run.__name__ = run.__qualname__ = definition.name
    run.__doc__ = definition.function.__doc__
    app.task(
        name=f"liteagent.{definition.name}",
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,
        ignore_result=True,
        # Each app keeps its own tasks (tests and tools may build more than one app).
        shared=False,
    )(run)


def broker_url(settings: Settings) -> str | None:
    """Celery's broker URL: ``LITEAGENT_CELERY_BROKER_URL``, else ``REDIS_URL`` (``rediss://``
    when ``REDIS_SSL`` is true); ``None`` when neither is set.

    Raises:
        ConfigurationError: ``REDIS_MODE`` is not standalone and no broker URL of its own is set
            (Celery's Redis transport speaks to one server).
    """
    if settings.celery_broker_url is None:
        return None
    own = settings.celery_broker_url.get_secret_value()
    if settings.redis_url is None or own != settings.redis_url.get_secret_value():
        return own  # LITEAGENT_CELERY_BROKER_URL, used as given
    # The shared Redis (Settings fill the broker from REDIS_URL): its mode and TLS apply.
    if settings.redis_mode != "standalone":
        raise ConfigurationError(
            f"REDIS_MODE={settings.redis_mode}: Celery's Redis broker needs one standalone "
            "server; set LITEAGENT_CELERY_BROKER_URL to it."
        )
    url = settings.redis_url.get_secret_value()
    if settings.redis_ssl and url.startswith("redis://"):
        url = "rediss://" + url.removeprefix("redis://")
    return url


def create_celery_app(settings: Settings | None = None) -> Celery:
    """A Celery app for ``settings`` (default: the environment) with every job registered.

    Raises:
        ConfigurationError: No broker URL is set, or Celery is not installed.
    """
    try:
        from celery import Celery
    except ImportError:
        raise ConfigurationError(
            "Background jobs on workers need Celery: install the 'celery' extra "
            "(liteagent[celery])."
        ) from None
    settings = settings or get_settings()
    broker = broker_url(settings)
    if broker is None:
        raise ConfigurationError(
            "Celery workers need a broker: set REDIS_URL (or LITEAGENT_CELERY_BROKER_URL), e.g. "
            "redis://localhost:6379/0."
        )
    visibility = settings.celery_visibility_timeout
    app = Celery("liteagent", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue="liteagent",
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Look for messages of dead workers often enough to honour the timeout.
            "unacked_restore_interval": max(0.2, min(60.0, visibility / 4)),
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
        beat_schedule={
            f"liteagent-{item.name}": {
                "task": f"liteagent.{item.name}",
                "schedule": item.every,
                "kwargs": item.kwargs,
            }
            for item in schedule(settings)
        },
    )
    if broker.startswith("rediss://"):
        tls: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
        if settings.redis_ssl_ca_certs is not None:
            tls["ssl_ca_certs"] = str(settings.redis_ssl_ca_certs)
        app.conf.broker_use_ssl = tls
    for definition in JOBS.values():
        _register(app, definition)
    return app


def __getattr__(name: str) -> Any:
    # ``celery -A liteagent.tasks.celery_app`` looks for ``app``: built on first access, so
    # importing this module opens nothing and needs no broker.
    if name in ("app", "celery"):
        value = create_celery_app()
        globals()["app"] = globals()["celery"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
