"""The background jobs, their retry policies and the periodic schedule (shared by both runners)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liteagent.errors import NotFoundError
from liteagent.tasks import datasource_tasks, llm_tasks, webhook_tasks
from liteagent.tasks.base import JobDefinition, RetryPolicy

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = ["JOBS", "ScheduledJob", "get_job", "schedule"]


def _no_retry(settings: Settings) -> RetryPolicy:
    return RetryPolicy(0, settings.job_retry_backoff, settings.job_retry_backoff_max)


def _retried(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        settings.job_max_retries, settings.job_retry_backoff, settings.job_retry_backoff_max
    )


def _webhook(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        settings.webhook_max_retries,
        settings.job_retry_backoff,
        settings.job_retry_backoff_max,
        dead_letter=True,
    )


JOBS: dict[str, JobDefinition] = {
    d.name: d
    for d in (
        JobDefinition("refresh_datasource", datasource_tasks.refresh_datasource, _retried),
        JobDefinition(
            "refresh_all_datasources", datasource_tasks.refresh_all_datasources, _no_retry
        ),
        JobDefinition(
            "cleanup_expired_datasources", datasource_tasks.cleanup_expired_datasources, _no_retry
        ),
        JobDefinition("process_chat_async", llm_tasks.process_chat_async, _retried),
        JobDefinition("batch_embed_documents", llm_tasks.batch_embed_documents, _no_retry),
        JobDefinition("summarize_conversation", llm_tasks.summarize_conversation, _no_retry),
        JobDefinition(
            "deliver_webhook", webhook_tasks.deliver_webhook, _webhook, job_id_arg="delivery_id"
        ),
        JobDefinition("cleanup_failed_webhooks", webhook_tasks.cleanup_failed_webhooks, _no_retry),
    )
}
"""Every background job by name (the Celery task of each is ``liteagent.<name>``)."""


class UnknownJobError(NotFoundError, error_code="job_not_found"):
    """No background job has that name."""


def get_job(name: str) -> JobDefinition:
    """The job called ``name``.

    Raises:
        UnknownJobError: There is none.
    """
    try:
        return JOBS[name]
    except KeyError:
        raise UnknownJobError(
            f"No background job '{name}'; available: {', '.join(sorted(JOBS))}."
        ) from None


@dataclass(frozen=True)
class ScheduledJob:
    """A job run every ``every`` seconds (Celery beat, or the in-process scheduler)."""

    name: str
    every: float
    kwargs: dict[str, Any] = field(default_factory=dict)


def schedule(settings: Settings) -> list[ScheduledJob]:
    """The periodic jobs: data-source refresh (``LITEAGENT_DATASOURCE_REFRESH_INTERVAL``, 0 =
    never), daily clean-up of expired knowledge bases, hourly clean-up of old dead letters."""
    jobs = [
        ScheduledJob("cleanup_expired_datasources", 86400.0),
        ScheduledJob("cleanup_failed_webhooks", 3600.0, {"hours_old": 24}),
    ]
    if settings.datasource_refresh_interval > 0:
        jobs.insert(
            0, ScheduledJob("refresh_all_datasources", settings.datasource_refresh_interval)
        )
    return jobs
