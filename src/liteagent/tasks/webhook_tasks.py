"""Webhooks: signed deliveries, retried with backoff, dead letters for those that never land.

Every delivery is a JSON ``POST``::

    {"id": "<delivery id>", "event": "<event type>", "created_at": "<ISO time>", "data": {...}}

with the headers ``X-LiteAgent-Event``, ``X-LiteAgent-Delivery`` (the same on every retry:
receivers use it to ignore duplicates) and ``X-LiteAgent-Signature: t=<unix time>,v1=<hex>``,
where ``v1`` is HMAC-SHA256 with ``LITEAGENT_WEBHOOK_SECRET`` over ``"<t>.<raw body>"``
(check it with :func:`verify_signature`). The URL obeys the outbound policy
(``LITEAGENT_OUTBOUND_ALLOW_HOSTS``): private addresses are refused unless listed.

A network error, a timeout, 408, 429 or 5xx is retried with exponential backoff
(``LITEAGENT_WEBHOOK_MAX_RETRIES``, ``LITEAGENT_JOB_RETRY_BACKOFF``); any other status or a
refused URL fails at once. A delivery that never succeeds stays as a ``dead_letter`` job until
``cleanup_failed_webhooks`` removes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from liteagent.log import get_logger
from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.security.outbound_client import OutboundClient
from liteagent.tasks.base import PermanentJobError, RetryableJobError
from liteagent.tasks.jobs import JobStatus, JobStore

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = [
    "SIGNATURE_HEADER",
    "cleanup_failed_webhooks",
    "deliver_webhook",
    "sign",
    "verify_signature",
]

logger = get_logger(__name__)

SIGNATURE_HEADER = "X-LiteAgent-Signature"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_RESERVED = frozenset(
    {"content-type", "content-length", "host", "x-liteagent-event", "x-liteagent-delivery"}
)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-LiteAgent-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` s old."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


async def deliver_webhook(
    webhook_url: str,
    event_type: str,
    payload: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    delivery_id: str | None = None,
    settings: Settings,
) -> dict[str, Any]:
    """Send one signed webhook delivery.

    Args:
        webhook_url: The receiver (http or https).
        event_type: E.g. ``datasource.refreshed``.
        payload: JSON data, sent as ``data``.
        headers: Extra request headers (e.g. the receiver's own token).
        delivery_id: Stable id of the delivery (default: a new one per call; the runners pass
            the job id so that every retry carries the same id).
        settings: ``LITEAGENT_WEBHOOK_SECRET``, timeouts and the outbound policy.

    Returns:
        ``{"delivery_id", "status_code", "url"}``.

    Raises:
        PermanentJobError: No secret is configured, the URL is refused, or the receiver answered
            a status that retrying will not change.
        RetryableJobError: Network error, timeout, 408/425/429 or 5xx.
    """
    if settings.webhook_secret is None:
        raise PermanentJobError(
            "LITEAGENT_WEBHOOK_SECRET is not set: webhooks are signed and cannot be sent."
        )
    delivery = delivery_id or uuid.uuid4().hex
    body = json.dumps(
        {
            "id": delivery,
            "event": event_type,
            "created_at": datetime.now(UTC).isoformat(),
            "data": payload,
        },
        separators=(",", ":"),
        default=str,
    ).encode()
    extra = {k: v for k, v in (headers or {}).items() if k.lower() not in _RESERVED}
    send_headers = {
        **extra,
        "Content-Type": "application/json",
        "X-LiteAgent-Event": event_type,
        "X-LiteAgent-Delivery": delivery,
        SIGNATURE_HEADER: sign(settings.webhook_secret.get_secret_value(), int(time.time()), body),
    }
    policy = OutboundPolicy.from_settings(settings)
    try:
        async with (
            OutboundClient(policy, timeout=settings.webhook_timeout) as client,
            client.stream(
                "POST", webhook_url, headers=send_headers, content=body, secret_headers=extra
            ) as response,
        ):
            status = response.status_code
    except OutboundURLError as exc:
        raise PermanentJobError(f"The webhook URL is refused: {exc.reason}") from None
    except httpx.HTTPError as exc:
        raise RetryableJobError(f"{type(exc).__name__} reaching the webhook") from None
    if 200 <= status < 300:
        logger.info("webhook_delivered", delivery_id=delivery, event_type=event_type, status=status)
        return {"delivery_id": delivery, "status_code": status, "url": webhook_url}
    if status in RETRYABLE_STATUSES:
        raise RetryableJobError(f"The webhook answered HTTP {status}.")
    raise PermanentJobError(f"The webhook answered HTTP {status}.")


async def cleanup_failed_webhooks(hours_old: int = 24, *, settings: Settings) -> int:
    """Delete webhook dead letters (and failed deliveries) older than ``hours_old`` hours.

    Returns:
        How many were deleted.
    """
    async with JobStore.open(settings.database_url) as store:
        removed = await store.delete_finished(
            name="deliver_webhook",
            statuses=(JobStatus.DEAD_LETTER, JobStatus.FAILED),
            older_than=timedelta(hours=hours_old),
        )
    logger.info("webhook_dead_letters_removed", count=removed, hours_old=hours_old)
    return removed
