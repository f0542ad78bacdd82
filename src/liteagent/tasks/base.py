"""What a job is: an async function, its retry policy, and the outcome of one attempt.

The same ``JobDefinition`` runs in a Celery worker and in the in-process runner; both call
:func:`run_attempt`, which records the attempt and decides between success, a retry after an
exponential backoff, and failure (a dead letter for webhooks).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from liteagent.errors import LiteAgentError
from liteagent.log import get_logger
from liteagent.redaction import redact_text
from liteagent.tasks.jobs import JobStore

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = [
    "AttemptOutcome",
    "JobDefinition",
    "PermanentJobError",
    "RetryPolicy",
    "RetryableJobError",
    "backoff_delay",
    "is_retryable",
    "run_attempt",
]

logger = get_logger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


class RetryableJobError(Exception):
    """The attempt failed in a way that may go away (network, 5xx, a source that failed)."""


class PermanentJobError(Exception):
    """The attempt failed for good (bad input, a refused URL): no retry."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a job is retried and how long it waits in between.

    The n-th retry waits ``min(backoff_max, backoff * 2**(n-1))`` seconds.
    """

    max_retries: int = 0
    backoff: float = 30.0
    backoff_max: float = 600.0
    dead_letter: bool = False

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1


def backoff_delay(policy: RetryPolicy, retry_number: int) -> float:
    """Seconds to wait before retry ``retry_number`` (1 = the first retry)."""
    return float(min(policy.backoff_max, policy.backoff * 2 ** max(0, retry_number - 1)))


def is_retryable(exc: BaseException) -> bool:
    """Whether a failure may go away on its own.

    Explicit ``PermanentJobError`` / ``RetryableJobError`` decide; a LiteAgent error with a 4xx
    status other than 408/429 (bad input, not found, not configured) is permanent; anything
    else (network errors, 5xx, timeouts) is retried.
    """
    if isinstance(exc, PermanentJobError):
        return False
    if isinstance(exc, RetryableJobError):
        return True
    if isinstance(exc, LiteAgentError):
        status = exc.status_code
        return not (400 <= status < 500 and status not in (408, 429))
    return True


@dataclass(frozen=True)
class JobDefinition:
    """A background job: its name, its async function and its retry policy."""

    name: str
    function: JobFunction
    policy: Callable[[Settings], RetryPolicy]
    job_id_arg: str | None = None
    """A keyword argument of ``function`` that receives the job id (stable across retries)."""


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt came to."""

    kind: Literal["succeeded", "retry", "failed"]
    result: Any = None
    delay: float = 0.0
    error: str | None = None


def describe(exc: BaseException) -> str:
    """A short, redacted description of a failure (no stack trace, no secret)."""
    message = exc.message if isinstance(exc, LiteAgentError) else str(exc)
    return redact_text(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


async def run_attempt(
    definition: JobDefinition,
    job_id: str,
    kwargs: Mapping[str, Any],
    *,
    store: JobStore,
    settings: Settings,
    retries_done: int,
) -> AttemptOutcome:
    """Run one attempt of a job and record it.

    Args:
        definition: The job.
        job_id: Its record's id (created when missing, e.g. for a beat-scheduled task).
        kwargs: The function's arguments.
        store: Where the record lives.
        settings: Settings for the job and its retry policy.
        retries_done: Retries already made (0 on the first attempt).
    """
    policy = definition.policy(settings)
    await store.create(job_id, definition.name, kwargs, max_attempts=policy.max_attempts)
    attempt = await store.mark_running(job_id)
    log = logger.bind(job_id=job_id, job=definition.name, attempt=attempt)
    log.info("job_started")
    try:
        extra: dict[str, Any] = {"settings": settings}
        if definition.job_id_arg is not None:
            extra[definition.job_id_arg] = job_id
        result = await definition.function(**kwargs, **extra)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, retried or dead-lettered
        error = describe(exc)
        if is_retryable(exc) and retries_done < policy.max_retries:
            delay = backoff_delay(policy, retries_done + 1)
            await store.mark_retrying(job_id, error, delay)
            log.warning("job_retry_scheduled", error=error, delay_s=delay)
            return AttemptOutcome("retry", delay=delay, error=error)
        await store.mark_failed(job_id, error, dead_letter=policy.dead_letter)
        log.error(
            "job_dead_lettered" if policy.dead_letter else "job_failed",
            error=error,
            retries=retries_done,
        )
        return AttemptOutcome("failed", error=error)
    await store.mark_succeeded(job_id, result)
    log.info("job_succeeded")
    return AttemptOutcome("succeeded", result=result)
