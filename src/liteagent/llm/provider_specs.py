"""Catalog types for LLM providers and fallback chains.

The catalog's top-level ``providers:`` section maps names to either

- a provider configuration (``ProviderSpec``): credentials, endpoint, headers, limits. Its name
  is the ``<provider>`` part of model ids (``azure/gpt-4o``); ``type`` says which registered
  provider implements it (default: the name itself, so ``openai:`` configures ``openai/…``);
- a named fallback chain (``ModelChainSpec``, recognised by its ``fallbacks`` key), which an
  entry uses with ``model: <name>``.

An entry's ``model:`` may also be an inline chain: ``{fallbacks: [...], strategy: ...}``.

Secrets may be written as ``os.environ/VAR`` (as in LiteLLM's config) and are read from the
environment when the model is built; they are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from liteagent.errors import ConfigurationError

__all__ = [
    "CircuitBreakerSpec",
    "FallbackTargetSpec",
    "ModelChainSpec",
    "ProviderEntry",
    "ProviderSpec",
    "RateLimitSpec",
    "RetrySpec",
    "resolve_env",
]

ENV_PREFIX = "os.environ/"
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
Strategy = Literal["priority", "round_robin", "random", "weighted", "least_errors"]


def resolve_env(value: str | None, *, where: str) -> str | None:
    """Return ``value``, or the environment variable it names as ``os.environ/VAR``.

    Raises:
        ConfigurationError: the variable is not set (named, never its value).
    """
    if value is None or not value.startswith(ENV_PREFIX):
        return value
    name = value[len(ENV_PREFIX) :]
    resolved = os.environ.get(name)
    if not resolved:
        raise ConfigurationError(
            f"{where} refers to the environment variable {name}, which is not set."
        )
    return resolved


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(_Strict):
    """Retries of one model before the chain moves on (errors that may go away only)."""

    max_retries: int = Field(1, ge=0, le=10)
    initial_delay: float = Field(0.5, ge=0)
    max_delay: float = Field(10.0, ge=0)


class CircuitBreakerSpec(_Strict):
    """When the breaker of a provider's models opens, and for how long."""

    failure_threshold: int = Field(5, ge=1)
    recovery_timeout: float = Field(30.0, ge=0)
    half_open_max_calls: int = Field(1, ge=1)


class RateLimitSpec(_Strict):
    """LiteAgent's own limit on calls to each model of a provider (per process)."""

    requests_per_minute: int | None = Field(None, ge=1)
    max_concurrent: int | None = Field(None, ge=1)


class ProviderSpec(_Strict):
    """Configuration of one provider (or one endpoint of a provider type)."""

    type: str | None = Field(
        None, description="Registered provider implementing it; default: the entry's name."
    )
    api_key: SecretStr | None = None
    base_url: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    api_version: str | None = None
    api_key_header: str | None = None
    timeout: float | None = Field(None, gt=0)
    params: dict[str, Any] = Field(
        default_factory=dict, description="Extra constructor arguments of the provider class."
    )
    circuit_breaker: CircuitBreakerSpec | None = None
    rate_limit: RateLimitSpec | None = None
    input_cost_per_token: float | None = Field(
        None, ge=0.0, description="USD per prompt token of this provider's models."
    )
    output_cost_per_token: float | None = Field(
        None, ge=0.0, description="USD per completion token of this provider's models."
    )

    def provider_kwargs(self, where: str) -> dict[str, Any]:
        """Keyword arguments for the provider's ``from_settings`` (secrets resolved)."""
        kwargs: dict[str, Any] = dict(self.params)
        if self.api_key is not None:
            kwargs["api_key"] = resolve_env(
                self.api_key.get_secret_value(), where=f"{where}.api_key"
            )
        if self.base_url is not None:
            kwargs["base_url"] = resolve_env(self.base_url, where=f"{where}.base_url")
        if self.headers:
            kwargs["headers"] = {
                k: resolve_env(v.get_secret_value(), where=f"{where}.headers.{k}")
                for k, v in self.headers.items()
            }
        if self.api_version is not None:
            kwargs["api_version"] = self.api_version
        if self.api_key_header is not None:
            kwargs["api_key_header"] = self.api_key_header
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return kwargs


class FallbackTargetSpec(_Strict):
    """One model of a chain, with its place in the strategies."""

    model: str
    priority: int = 0
    weight: float = Field(1.0, ge=0)
    enabled: bool = True

    @field_validator("model")
    @classmethod
    def _provider_slash_model(cls, value: str) -> str:
        provider, sep, model = value.partition("/")
        if not sep or not provider or not model:
            raise ValueError("must be <provider>/<model>, e.g. 'local/smollm2'")
        return value


class ModelChainSpec(_Strict):
    """A fallback chain: models tried in the strategy's order until one answers."""

    fallbacks: list[FallbackTargetSpec] = Field(min_length=1)
    strategy: Strategy = "priority"
    retry: RetrySpec | None = None
    fallback_on_context_window: bool = False
    name: str | None = Field(None, description="Set by the loader for named chains.")
    providers: dict[str, ProviderSpec] = Field(
        default_factory=dict,
        description="Set by the loader: the providers section entries this chain's models use.",
    )

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _strings_are_models(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"model": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _unique(self) -> ModelChainSpec:
        names = [t.model for t in self.fallbacks]
        if len(set(names)) != len(names):
            raise ValueError("a model may appear only once in fallbacks")
        return self

    @property
    def label(self) -> str:
        """The chain's name, or its models joined by commas."""
        return self.name or ",".join(t.model for t in self.fallbacks)

    def __str__(self) -> str:
        return self.label

    def __format__(self, format_spec: str) -> str:
        return format(self.label, format_spec)


ProviderEntry = ModelChainSpec | ProviderSpec
