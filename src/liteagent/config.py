"""Settings, read from the environment (and ``.env``) with pydantic-settings.

Every variable is documented in ``.env.example``. Secrets are ``SecretStr`` so that printing or
logging the settings never shows them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from liteagent.hosts import parse_allow_hosts

LOCAL_DEFAULT_MODEL = "local/smollm2"
OPENAI_DEFAULT_MODEL = "openai/gpt-4o-mini"
NVIDIA_HOSTED_BASE_URL = "https://integrate.api.nvidia.com/v1"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """LiteAgent settings. Field docs name the environment variable that sets each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Application
    app_name: str = Field("LiteAgent", validation_alias=_env("APP_NAME"))
    environment: Literal["development", "staging", "production", "test"] = Field(
        "development", validation_alias=_env("ENVIRONMENT")
    )

    # `liteagent serve`
    host: str = Field("127.0.0.1", validation_alias=_env("LITEAGENT_HOST"))
    port: int = Field(8890, ge=1, le=65535, validation_alias=_env("LITEAGENT_PORT"))
    a2a_public_url: str | None = Field(
        None, validation_alias=_env("LITEAGENT_A2A_PUBLIC_URL")
    )  # where callers reach the proxy's A2A agents (docs/a2a.md)

    # Catalog and models
    catalog_path: Path = Field(Path("liteagent.yaml"), validation_alias=_env("LITEAGENT_CATALOG"))
    default_model: str | None = Field(None, validation_alias=_env("LITEAGENT_DEFAULT_MODEL"))
    agent_cache_size: int = Field(256, ge=1, validation_alias=_env("LITEAGENT_AGENT_CACHE_SIZE"))
    # and the memory the cached runners may hold of their own (MB; 0: bounded by count only)
    agent_cache_mb: float = Field(64.0, ge=0, validation_alias=_env("LITEAGENT_AGENT_CACHE_MB"))
    # Agents defined through the management API (docs/api.md): how often each replica checks
    # the database for changes (seconds; 0: never, only Redis invalidations and local writes)
    catalog_refresh_seconds: float = Field(
        2.0, ge=0, validation_alias=_env("LITEAGENT_CATALOG_REFRESH_SECONDS")
    )
    llm_timeout: float = Field(120.0, gt=0, validation_alias=_env("LITEAGENT_LLM_TIMEOUT"))
    # Open WebUI background tasks (titles, tags, follow-ups): the most tokens one may cost
    task_max_tokens: int = Field(64, ge=1, validation_alias=_env("LITEAGENT_TASK_MAX_TOKENS"))

    # Request limits, checked before any work: beyond them a request is refused with a 4xx
    max_request_chars: int = Field(
        1_000_000, ge=1, validation_alias=_env("LITEAGENT_MAX_REQUEST_CHARS")
    )
    max_header_chars: int = Field(256, ge=1, validation_alias=_env("LITEAGENT_MAX_HEADER_CHARS"))
    max_messages: int = Field(1_000, ge=1, validation_alias=_env("LITEAGENT_MAX_MESSAGES"))
    # Prompt-injection and script-markup checks of chat requests (an entry's own
    # `input_validation` wins): off | flag (log and mark the run) | block (refuse with 400)
    input_validation: Literal["off", "flag", "block"] = Field(
        "flag", validation_alias=_env("LITEAGENT_INPUT_VALIDATION")
    )

    # Database (runs, credentials, notes): SQLite (aiosqlite) or PostgreSQL (psycopg). Not
    # DATABASE_URL: inside the LiteLLM proxy that variable is LiteLLM's own (PostgreSQL for
    # virtual keys and spend), and the proxy refuses to start when it holds anything else.
    database_url: str = Field(
        "sqlite+aiosqlite:///./liteagent.db", validation_alias=_env("LITEAGENT_DATABASE_URL")
    )

    # Redis (shared state of several replicas; docs in .env.example). Unset REDIS_URL: every
    # runtime service (locks, limits, breakers, caches, pub/sub) stays in this process.
    redis_url: SecretStr | None = Field(None, validation_alias=_env("REDIS_URL"))
    redis_mode: Literal["standalone", "sentinel", "cluster"] = Field(
        "standalone", validation_alias=_env("REDIS_MODE")
    )
    redis_ssl: bool = Field(False, validation_alias=_env("REDIS_SSL"))
    redis_ssl_ca_certs: Path | None = Field(None, validation_alias=_env("REDIS_SSL_CA_CERTS"))
    redis_sentinel_master: str = Field("mymaster", validation_alias=_env("REDIS_SENTINEL_MASTER"))
    redis_cluster_nodes: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=_env("REDIS_CLUSTER_NODES")
    )

    # Agent execution
    max_iterations: int = Field(20, ge=1, le=100, validation_alias=_env("MAX_ITERATIONS"))
    max_execution_time: float = Field(300.0, gt=0, validation_alias=_env("MAX_EXECUTION_TIME"))
    step_timeout: float = Field(60.0, gt=0, validation_alias=_env("STEP_TIMEOUT"))
    # seconds between two looks of the replica running a run at its stop flag and abort
    # commands (POST /liteagent/runs/<id>/abort; with Redis, each look is a round trip)
    abort_poll_interval: float = Field(
        0.25, gt=0, le=60, validation_alias=_env("LITEAGENT_ABORT_POLL_INTERVAL")
    )

    # Secrets at rest and per-user toolkits (docs/toolkits.md)
    encryption_key: SecretStr | None = Field(
        None, validation_alias=_env("LITEAGENT_ENCRYPTION_KEY")
    )
    agno_db_url: str | None = Field(None, validation_alias=_env("LITEAGENT_AGNO_DB_URL"))
    toolkit_timeout: float = Field(30.0, gt=0, validation_alias=_env("LITEAGENT_TOOLKIT_TIMEOUT"))
    jira_base_url: str | None = Field(None, validation_alias=_env("JIRA_BASE_URL"))
    google_client_id: str | None = Field(None, validation_alias=_env("GOOGLE_OAUTH_CLIENT_ID"))
    google_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("GOOGLE_OAUTH_CLIENT_SECRET")
    )
    google_redirect_uri: str = Field(
        "http://localhost", validation_alias=_env("GOOGLE_OAUTH_REDIRECT_URI")
    )
    google_auth_url: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth",
        validation_alias=_env("GOOGLE_OAUTH_AUTH_URL"),
    )
    google_token_url: str = Field(
        "https://oauth2.googleapis.com/token", validation_alias=_env("GOOGLE_OAUTH_TOKEN_URL")
    )
    google_revoke_url: str = Field(
        "https://oauth2.googleapis.com/revoke", validation_alias=_env("GOOGLE_OAUTH_REVOKE_URL")
    )
    google_drive_api_url: str = Field(
        "https://www.googleapis.com", validation_alias=_env("GOOGLE_DRIVE_API_URL")
    )

    # Open WebUI's signed user identity (X-OpenWebUI-User-Jwt, docs/openwebui.md). When
    # LITEAGENT_OPENWEBUI_JWT_SECRET is unset or blank, Open WebUI's own variable is used, so one
    # shared .env can configure both sides.
    openwebui_jwt_secret: SecretStr | None = Field(
        None, validation_alias=_env("LITEAGENT_OPENWEBUI_JWT_SECRET")
    )
    forward_user_info_header_jwt_secret: SecretStr | None = Field(
        None, validation_alias=_env("FORWARD_USER_INFO_HEADER_JWT_SECRET")
    )

    # Standalone management API (`liteagent api`, docs/api.md "Standalone authentication"):
    # JWT signing secret (HS256, at least 32 characters; required there), token lifetimes, and
    # the per-client request limits behind its X-RateLimit-* headers (0: no such limit).
    jwt_secret: SecretStr | None = Field(None, validation_alias=_env("LITEAGENT_JWT_SECRET"))
    jwt_access_token_minutes: float = Field(
        15.0, gt=0, validation_alias=_env("LITEAGENT_JWT_ACCESS_TOKEN_MINUTES")
    )
    jwt_refresh_token_days: float = Field(
        7.0, gt=0, validation_alias=_env("LITEAGENT_JWT_REFRESH_TOKEN_DAYS")
    )
    rate_limit_requests_per_minute: int = Field(
        60, ge=0, validation_alias=_env("RATE_LIMIT_REQUESTS_PER_MINUTE")
    )
    rate_limit_max_concurrent: int = Field(
        10, ge=0, validation_alias=_env("RATE_LIMIT_MAX_CONCURRENT")
    )

    # Local llama.cpp model (offline default)
    local_model_path: Path | None = Field(None, validation_alias=_env("LITEAGENT_LOCAL_MODEL_PATH"))
    local_context_size: int = Field(
        4096, ge=512, validation_alias=_env("LITEAGENT_LOCAL_CONTEXT_SIZE")
    )
    local_threads: int | None = Field(None, ge=1, validation_alias=_env("LITEAGENT_LOCAL_THREADS"))
    local_max_tokens: int = Field(512, ge=1, validation_alias=_env("LITEAGENT_LOCAL_MAX_TOKENS"))
    # Sampling when a request sets none (SmolLM2-135M-Instruct's model card: 0.2 and 0.9)
    local_temperature: float = Field(
        0.2, ge=0.0, le=2.0, validation_alias=_env("LITEAGENT_LOCAL_TEMPERATURE")
    )
    local_top_p: float = Field(0.9, gt=0.0, le=1.0, validation_alias=_env("LITEAGENT_LOCAL_TOP_P"))
    local_repeat_penalty: float = Field(
        1.1, ge=1.0, validation_alias=_env("LITEAGENT_LOCAL_REPEAT_PENALTY")
    )
    local_frequency_penalty: float = Field(
        0.2, ge=-2.0, le=2.0, validation_alias=_env("LITEAGENT_LOCAL_FREQUENCY_PENALTY")
    )
    # Ends answers that repeat themselves (liteagent.llm.loop_guard): auto = the provider's own
    # default (on for the local model, off for the others), on = every provider, off = none.
    loop_guard: Literal["auto", "on", "off"] = Field(
        "auto", validation_alias=_env("LITEAGENT_LOOP_GUARD")
    )

    # OpenAI (and OpenAI-compatible servers reached through OPENAI_BASE_URL)
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))

    # Other LLM providers (a catalog `providers:` section may override any of these)
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    ollama_base_url: str = Field("http://localhost:11434", validation_alias=_env("OLLAMA_BASE_URL"))
    nvidia_api_key: SecretStr | None = Field(None, validation_alias=_env("NVIDIA_API_KEY"))
    nvidia_base_url: str = Field(NVIDIA_HOSTED_BASE_URL, validation_alias=_env("NVIDIA_BASE_URL"))
    openai_compatible_base_url: str | None = Field(
        None, validation_alias=_env("OPENAI_COMPATIBLE_BASE_URL")
    )
    openai_compatible_api_key: SecretStr | None = Field(
        None, validation_alias=_env("OPENAI_COMPATIBLE_API_KEY")
    )

    # Resilience of LLM calls (defaults; fallback chains and providers may override them)
    llm_max_retries: int = Field(1, ge=0, le=10, validation_alias=_env("LITEAGENT_LLM_MAX_RETRIES"))
    llm_retry_initial_delay: float = Field(
        0.5, ge=0, validation_alias=_env("LITEAGENT_LLM_RETRY_INITIAL_DELAY")
    )
    llm_retry_max_delay: float = Field(
        10.0, ge=0, validation_alias=_env("LITEAGENT_LLM_RETRY_MAX_DELAY")
    )
    circuit_failure_threshold: int = Field(
        5, ge=1, validation_alias=_env("LITEAGENT_CIRCUIT_FAILURE_THRESHOLD")
    )
    circuit_recovery_timeout: float = Field(
        30.0, ge=0, validation_alias=_env("LITEAGENT_CIRCUIT_RECOVERY_TIMEOUT")
    )

    # RAG: knowledge bases, embedders and data sources
    embedder: str = Field("local", validation_alias=_env("LITEAGENT_EMBEDDER"))
    knowledge_dir: Path = Field(
        Path(".liteagent/knowledge"), validation_alias=_env("LITEAGENT_KNOWLEDGE_DIR")
    )
    pgvector_url: SecretStr | None = Field(None, validation_alias=_env("LITEAGENT_PGVECTOR_URL"))
    url_allow_private: bool = Field(False, validation_alias=_env("LITEAGENT_URL_ALLOW_PRIVATE"))
    url_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1, validation_alias=_env("LITEAGENT_URL_MAX_BYTES")
    )
    url_timeout: float = Field(20.0, gt=0, validation_alias=_env("LITEAGENT_URL_TIMEOUT"))
    gitlab_url: str | None = Field(None, validation_alias=_env("GITLAB_URL"))
    gitlab_token: SecretStr | None = Field(None, validation_alias=_env("GITLAB_TOKEN"))

    # Outbound connections steered by users, models or remote servers (URL sources, the
    # workflow http_request node, toolkit service URLs): exact host names or IP addresses that
    # may be private (comma-separated), and the redirect hops followed.
    outbound_allow_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=_env("LITEAGENT_OUTBOUND_ALLOW_HOSTS")
    )
    outbound_max_redirects: int = Field(
        5, ge=0, le=20, validation_alias=_env("LITEAGENT_OUTBOUND_MAX_REDIRECTS")
    )

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias=_env("LOG_LEVEL")
    )
    log_format: Literal["json", "text"] = Field("json", validation_alias=_env("LOG_FORMAT"))

    # Background jobs (liteagent.tasks): Celery workers on the Redis broker, or in-process
    # asyncio jobs (the embedded default). auto = Celery when a broker URL is set.
    jobs_backend: Literal["auto", "inprocess", "celery"] = Field(
        "auto", validation_alias=_env("LITEAGENT_JOBS_BACKEND")
    )
    # Celery's broker; default: REDIS_URL (set after validation: one variable feeds one field;
    # liteagent.tasks.celery_app.broker_url applies REDIS_SSL and REDIS_MODE to it).
    celery_broker_url: SecretStr | None = Field(
        None, validation_alias=_env("LITEAGENT_CELERY_BROKER_URL")
    )
    celery_visibility_timeout: float = Field(
        3600.0, gt=0, validation_alias=_env("LITEAGENT_CELERY_VISIBILITY_TIMEOUT")
    )
    job_max_retries: int = Field(3, ge=0, le=50, validation_alias=_env("LITEAGENT_JOB_MAX_RETRIES"))
    job_retry_backoff: float = Field(
        30.0, ge=0, validation_alias=_env("LITEAGENT_JOB_RETRY_BACKOFF")
    )
    job_retry_backoff_max: float = Field(
        600.0, ge=0, validation_alias=_env("LITEAGENT_JOB_RETRY_BACKOFF_MAX")
    )
    datasource_refresh_interval: float = Field(
        3600.0, ge=0, validation_alias=_env("LITEAGENT_DATASOURCE_REFRESH_INTERVAL")
    )
    knowledge_retention_days: float | None = Field(
        None, gt=0, validation_alias=_env("LITEAGENT_KNOWLEDGE_RETENTION_DAYS")
    )
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("LITEAGENT_WEBHOOK_SECRET")
    )
    webhook_max_retries: int = Field(
        5, ge=0, le=50, validation_alias=_env("LITEAGENT_WEBHOOK_MAX_RETRIES")
    )
    webhook_timeout: float = Field(10.0, gt=0, validation_alias=_env("LITEAGENT_WEBHOOK_TIMEOUT"))

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("outbound_allow_hosts", mode="before")
    @classmethod
    def _allow_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_allow_hosts(value.split(","))
        if isinstance(value, (list, tuple, set, frozenset)):
            return parse_allow_hosts(str(v) for v in value)
        return value

    @field_validator("redis_cluster_nodes", mode="before")
    @classmethod
    def _redis_nodes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(n.strip() for n in value.split(",") if n.strip())
        return value

    @field_validator(
        "openwebui_jwt_secret", "forward_user_info_header_jwt_secret", "jwt_secret", mode="before"
    )
    @classmethod
    def _stripped_secret(cls, value: object) -> object:
        # Open WebUI signs with the stripped value; blank means "not set".
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("redis_mode", "loop_guard", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "openai_api_key",
        "anthropic_api_key",
        "nvidia_api_key",
        "openai_compatible_api_key",
        "encryption_key",
        "google_client_secret",
        "agno_db_url",
        "jira_base_url",
        "google_client_id",
        "pgvector_url",
        "gitlab_token",
        "redis_url",
        "redis_ssl_ca_certs",
        "celery_broker_url",
        "webhook_secret",
        "knowledge_retention_days",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _openwebui_secret_fallback(self) -> Settings:
        if self.openwebui_jwt_secret is None:
            self.openwebui_jwt_secret = self.forward_user_info_header_jwt_secret
        if self.celery_broker_url is None:
            self.celery_broker_url = self.redis_url
        return self

    def resolved_default_model(self) -> str:
        """The model an entry without ``model:`` uses.

        ``LITEAGENT_DEFAULT_MODEL`` when set; else OpenAI when ``OPENAI_API_KEY`` is set; else the
        bundled local model, which needs no key and no network.
        """
        if self.default_model:
            return self.default_model
        if self.openai_api_key is not None:
            return OPENAI_DEFAULT_MODEL
        return LOCAL_DEFAULT_MODEL


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once; ``get_settings.cache_clear()`` re-reads)."""
    return Settings()


def ensure_offline_cost_map() -> None:
    """Make litellm use its bundled price map instead of fetching one at import time."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
