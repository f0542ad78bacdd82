"""Background jobs: data-source refresh, async chat, batch embeddings, summaries, webhooks.

The same job functions run as in-process asyncio jobs (the default: one machine, nothing to
set up) or as Celery tasks on the Redis broker (``REDIS_URL``; workers started with
``celery -A liteagent.tasks.celery_app worker``). Every job leaves a row in the jobs table with
its status, attempts, result and error (``liteagent jobs``).
"""

from liteagent.tasks.base import (
    JobDefinition,
    PermanentJobError,
    RetryableJobError,
    RetryPolicy,
    backoff_delay,
)
from liteagent.tasks.datasource_tasks import (
    cleanup_expired_datasources,
    refresh_all_datasources,
    refresh_datasource,
)
from liteagent.tasks.definitions import JOBS, ScheduledJob, get_job, schedule
from liteagent.tasks.jobs import Job, JobRecord, JobStatus, JobStore
from liteagent.tasks.llm_tasks import (
    batch_embed_documents,
    process_chat_async,
    summarize_conversation,
)
from liteagent.tasks.runner import (
    CeleryJobRunner,
    InProcessJobRunner,
    JobRunner,
    get_job_runner,
)
from liteagent.tasks.webhook_tasks import (
    cleanup_failed_webhooks,
    deliver_webhook,
    sign,
    verify_signature,
)

__all__ = [
    "JOBS",
    "CeleryJobRunner",
    "InProcessJobRunner",
    "Job",
    "JobDefinition",
    "JobRecord",
    "JobRunner",
    "JobStatus",
    "JobStore",
    "PermanentJobError",
    "RetryPolicy",
    "RetryableJobError",
    "ScheduledJob",
    "backoff_delay",
    "batch_embed_documents",
    "cleanup_expired_datasources",
    "cleanup_failed_webhooks",
    "deliver_webhook",
    "get_job",
    "get_job_runner",
    "process_chat_async",
    "refresh_all_datasources",
    "refresh_datasource",
    "schedule",
    "sign",
    "summarize_conversation",
    "verify_signature",
]
