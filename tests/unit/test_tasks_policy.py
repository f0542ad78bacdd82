"""Retry decisions, backoff and webhook signatures of the background jobs."""

from __future__ import annotations

import time

import pytest

from liteagent.config import Settings
from liteagent.datasources import DataSourceFetchError, DataSourceNotFoundError
from liteagent.errors import ConfigurationError
from liteagent.tasks import JOBS, RetryPolicy, backoff_delay, schedule, sign, verify_signature
from liteagent.tasks.base import PermanentJobError, RetryableJobError, is_retryable


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retries=6, backoff=0.5, backoff_max=3.0)
    assert [backoff_delay(policy, n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.max_attempts == 7


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (RetryableJobError("503"), True),
        (PermanentJobError("bad"), False),
        (DataSourceFetchError("upstream 502"), True),
        (DataSourceNotFoundError("no such file"), False),
        (ConfigurationError("missing key"), True),  # 500: the operator may fix it meanwhile
        (TimeoutError(), True),
        (ConnectionResetError(), True),
    ],
)
def test_what_is_retried(error: Exception, retry: bool) -> None:
    assert is_retryable(error) is retry


def test_policies_come_from_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        LITEAGENT_WEBHOOK_MAX_RETRIES=7,
        LITEAGENT_JOB_MAX_RETRIES=2,
        LITEAGENT_JOB_RETRY_BACKOFF=0.01,
    )
    webhook = JOBS["deliver_webhook"].policy(settings)
    assert (webhook.max_retries, webhook.backoff, webhook.dead_letter) == (7, 0.01, True)
    assert JOBS["refresh_datasource"].policy(settings).max_retries == 2
    assert JOBS["process_chat_async"].policy(settings).max_retries == 2
    assert JOBS["batch_embed_documents"].policy(settings).max_retries == 0
    assert set(JOBS) == {
        "refresh_datasource",
        "refresh_all_datasources",
        "cleanup_expired_datasources",
        "process_chat_async",
        "batch_embed_documents",
        "summarize_conversation",
        "deliver_webhook",
        "cleanup_failed_webhooks",
    }


def test_schedule_follows_the_refresh_interval() -> None:
    every = Settings(_env_file=None, LITEAGENT_DATASOURCE_REFRESH_INTERVAL=60)  # type: ignore[call-arg]
    first = schedule(every)[0]
    assert (first.name, first.every) == ("refresh_all_datasources", 60.0)
    never = Settings(_env_file=None, LITEAGENT_DATASOURCE_REFRESH_INTERVAL=0)  # type: ignore[call-arg]
    assert "refresh_all_datasources" not in {j.name for j in schedule(never)}


def test_signature_verifies_and_refuses_tampering() -> None:
    body = b'{"id":"d1","event":"x","data":{"n":1}}'
    now = int(time.time())
    header = sign("s3cret-value", now, body)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature("s3cret-value", body, header)
    assert not verify_signature("other-secret", body, header)
    assert not verify_signature("s3cret-value", body + b" ", header)
    assert not verify_signature("s3cret-value", body, header.replace(f"t={now}", f"t={now + 1}"))
    old = sign("s3cret-value", now - 600, body)
    assert not verify_signature("s3cret-value", body, old)  # replayed too late
    assert verify_signature("s3cret-value", body, old, tolerance=900)
    assert not verify_signature("s3cret-value", body, "garbage")


def test_blank_job_settings_are_unset() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        LITEAGENT_WEBHOOK_SECRET="",
        REDIS_URL="",
        LITEAGENT_KNOWLEDGE_RETENTION_DAYS="",
    )
    assert settings.webhook_secret is None
    assert settings.redis_url is None
    assert settings.knowledge_retention_days is None


def test_celery_backend_without_broker_is_a_clear_error() -> None:
    from liteagent.tasks.runner import get_job_runner

    settings = Settings(_env_file=None, LITEAGENT_JOBS_BACKEND="celery")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="needs REDIS_URL"):
        get_job_runner(settings)
    from liteagent.tasks.celery_app import create_celery_app

    with pytest.raises(ConfigurationError, match="set REDIS_URL"):
        create_celery_app(Settings(_env_file=None))  # type: ignore[call-arg]


def test_celery_app_over_tls_verifies_the_certificate() -> None:
    import ssl

    from liteagent.tasks.celery_app import create_celery_app

    app = create_celery_app(
        Settings(_env_file=None, REDIS_URL="rediss://:pw@redis.example:6380/0")  # type: ignore[call-arg]
    )
    assert app.conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == 3600 and options["unacked_restore_throttle"] == 1


def test_broker_url_follows_the_shared_redis_settings() -> None:
    from liteagent.tasks.celery_app import broker_url

    def url(**env: str) -> str | None:
        return broker_url(Settings(_env_file=None, **env))  # type: ignore[arg-type]

    assert url() is None
    assert url(REDIS_URL="redis://r:6379/0") == "redis://r:6379/0"
    assert url(REDIS_URL="redis://r:6379/0", REDIS_SSL="true") == "rediss://r:6379/0"
    own = url(REDIS_URL="redis://r:6379/0", LITEAGENT_CELERY_BROKER_URL="redis://c:6379/2")
    assert own == "redis://c:6379/2"
    with pytest.raises(ConfigurationError, match="REDIS_MODE=cluster"):
        url(REDIS_URL="redis://r:6379/0", REDIS_MODE="cluster")
    clustered = url(
        REDIS_URL="redis://r:6379/0",
        REDIS_MODE="cluster",
        LITEAGENT_CELERY_BROKER_URL="redis://c/0",
    )
    assert clustered == "redis://c/0"
