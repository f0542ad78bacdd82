"""Build providers from ``<provider>/<model>`` strings, and LLMs from catalog model settings.

The registry ``llm_registry`` holds every provider class. Built-ins are declared as entry points
in LiteAgent's own ``pyproject.toml`` (group ``liteagent.llm_providers``), exactly like a
third-party plugin would declare its own, and are imported only when first used.

``create_llm`` is the one place that turns a catalog entry's ``model:`` into an LLM:

- ``None`` → ``LITEAGENT_DEFAULT_MODEL`` (see ``Settings.resolved_default_model``);
- ``"<provider>/<model>"`` → that provider. Network providers are wrapped in a one-model
  ``ResilientLLM`` (retry with backoff, circuit breaker, rate limit); in-process ones (the local
  llama.cpp model, the scripted test models) are returned as they are;
- a ``ModelChainSpec`` (inline ``{fallbacks: [...]}`` or a named chain of the catalog's
  ``providers`` section, also accepted by name) → a ``ResilientLLM`` over a fallback chain.

Provider settings come from the catalog's ``providers`` section when it has an entry for the
provider name, else from ``Settings`` (the environment).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from liteagent.config import Settings, get_settings
from liteagent.errors import ConfigurationError
from liteagent.llm.base import BaseLLMProvider
from liteagent.llm.fallback import ModelConfig, ModelFallbackChain, fallback_chains
from liteagent.llm.loop_guard import LoopGuard
from liteagent.llm.provider_specs import (
    FallbackTargetSpec,
    ModelChainSpec,
    ProviderEntry,
    ProviderSpec,
)
from liteagent.llm.resilient import ResilientLLM
from liteagent.registry import ProviderRegistry
from liteagent.runtime.circuit_breaker import (
    CircuitBreakerConfig,
    CircuitBreakerRegistry,
    circuit_breakers,
)
from liteagent.runtime.rate_limiter import rate_limiters
from liteagent.runtime.retry import RetryConfig

llm_registry: ProviderRegistry[BaseLLMProvider] = ProviderRegistry(
    "LLM provider", entry_point_group="liteagent.llm_providers"
)

ModelSetting = str | ModelChainSpec | None
"""What a catalog entry's ``model:`` holds after loading."""


class ProviderType(StrEnum):
    """Built-in provider names (plugins may add more to ``llm_registry``)."""

    ANTHROPIC = "anthropic"
    LOCAL = "local"
    NVIDIA = "nvidia"
    OLLAMA = "ollama"
    OPENAI = "openai"
    OPENAI_COMPATIBLE = "openai_compatible"
    SCRIPTED = "scripted"


def parse_model_id(model_id: str) -> tuple[str, str]:
    """Split ``"openai/gpt-4o-mini"`` into ``("openai", "gpt-4o-mini")``."""
    provider, sep, model = model_id.partition("/")
    if not sep or not provider or not model:
        raise ConfigurationError(
            f"Model '{model_id}' must be written as <provider>/<model>, e.g. 'local/smollm2' "
            "or 'openai/gpt-4o-mini'."
        )
    return provider, model


def _provider_spec(
    provider: str, providers: Mapping[str, ProviderEntry] | None
) -> ProviderSpec | None:
    entry = (providers or {}).get(provider)
    if isinstance(entry, ModelChainSpec):
        raise ConfigurationError(
            f"'{provider}' is a fallback chain, not a provider: use it as `model: {provider}`."
        )
    return entry


def create_provider(
    model_id: str,
    *,
    settings: Settings | None = None,
    providers: Mapping[str, ProviderEntry] | None = None,
    **params: Any,
) -> BaseLLMProvider:
    """Build the provider for ``model_id``.

    Args:
        model_id: ``<provider>/<model>``; ``<provider>`` is a registered provider or a name of
            the ``providers`` mapping (whose ``type`` names the registered provider).
        settings: Credentials and endpoints from the environment.
        providers: The catalog's ``providers`` section (its settings win over ``settings``).
        **params: Constructor arguments that win over both.
    """
    provider, model = parse_model_id(model_id)
    spec = _provider_spec(provider, providers)
    kwargs: dict[str, Any] = spec.provider_kwargs(f"providers.{provider}") if spec else {}
    kwargs.update(params)
    cls = llm_registry.get_class(spec.type or provider if spec else provider)
    from_settings = getattr(cls, "from_settings", None)
    try:
        if from_settings is not None:
            instance: BaseLLMProvider = from_settings(model, settings or get_settings(), **kwargs)
        else:
            instance = cls(model_name=model, **kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ConfigurationError(
            f"Provider '{provider}' ({cls.__name__}) does not take that setting: {exc}."
        ) from None
    return apply_loop_guard(instance, (settings or get_settings()).loop_guard)


def apply_loop_guard(provider: BaseLLMProvider, mode: str) -> BaseLLMProvider:
    """Set ``provider.loop_guard`` for ``LITEAGENT_LOOP_GUARD``'s ``mode``.

    ``auto`` keeps the provider's own default (on for the bundled local model), ``on`` guards
    every provider, ``off`` none.
    """
    if mode == "off":
        provider.loop_guard = None
    elif mode == "on" and provider.loop_guard is None:
        provider.loop_guard = LoopGuard()
    return provider


def _endpoint(provider_type: str, spec: ProviderSpec | None, settings: Settings) -> str:
    base = spec.base_url if spec and spec.base_url else None
    base = base or getattr(settings, f"{provider_type}_base_url", None)
    if not base:
        return ""
    parts = urlsplit(str(base))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path.rstrip('/')}" if host else str(base)


def _model_config(
    target: FallbackTargetSpec,
    providers: Mapping[str, ProviderEntry],
    settings: Settings,
) -> ModelConfig:
    provider, _ = parse_model_id(target.model)
    spec = _provider_spec(provider, providers)
    provider_type = spec.type or provider if spec else provider
    endpoint = _endpoint(provider_type, spec, settings)
    breaker_name = f"{target.model}@{endpoint}" if endpoint else target.model
    cb = spec.circuit_breaker if spec else None
    breaker = CircuitBreakerConfig(
        failure_threshold=cb.failure_threshold if cb else settings.circuit_failure_threshold,
        recovery_timeout=cb.recovery_timeout if cb else settings.circuit_recovery_timeout,
        half_open_max_calls=cb.half_open_max_calls if cb else 1,
    )
    limiter = None
    limit = spec.rate_limit if spec else None
    if limit is not None and (limit.requests_per_minute or limit.max_concurrent):
        limiter = rate_limiters.get_or_create(
            f"{breaker_name}|{limit.requests_per_minute}|{limit.max_concurrent}",
            lambda: rate_limiters.create(limit.requests_per_minute, 60, limit.max_concurrent),
        )
    return ModelConfig(
        name=target.model,
        priority=target.priority,
        weight=target.weight,
        enabled=target.enabled,
        breaker_name=breaker_name,
        breaker_config=breaker,
        rate_limiter=limiter,
    )


def build_chain(
    spec: ModelChainSpec,
    *,
    settings: Settings | None = None,
    providers: Mapping[str, ProviderEntry] | None = None,
    breakers: CircuitBreakerRegistry | None = None,
) -> ModelFallbackChain:
    """The (shared) ``ModelFallbackChain`` for a chain spec."""
    settings = settings or get_settings()
    merged: dict[str, ProviderEntry] = {**(providers or {}), **spec.providers}
    registry = breakers or circuit_breakers
    retry = spec.retry
    retry_config = RetryConfig(
        max_retries=retry.max_retries if retry else settings.llm_max_retries,
        initial_delay=retry.initial_delay if retry else settings.llm_retry_initial_delay,
        max_delay=retry.max_delay if retry else settings.llm_retry_max_delay,
    )
    models = [_model_config(t, merged, settings) for t in spec.fallbacks]
    key = json.dumps(
        {
            "chain": spec.model_dump(mode="json", exclude={"providers"}),
            "models": [(m.name, m.breaker_name, str(m.breaker_config)) for m in models],
            "retry": str(retry_config),
            "breakers": id(registry),
        },
        sort_keys=True,
    )
    return fallback_chains.get_or_create(
        key,
        lambda: ModelFallbackChain(
            models,
            spec.strategy,
            name=spec.label,
            retry=retry_config,
            breakers=registry,
            fallback_on_context_window=spec.fallback_on_context_window,
        ),
    )


def create_llm(
    model: ModelSetting = None,
    *,
    settings: Settings | None = None,
    providers: Mapping[str, ProviderEntry] | None = None,
    breakers: CircuitBreakerRegistry | None = None,
    **params: Any,
) -> BaseLLMProvider:
    """The LLM a catalog entry uses: its ``model:`` setting, else ``LITEAGENT_DEFAULT_MODEL``.

    This is the one place that turns an entry's model setting into a provider; everything that
    runs a catalog entry goes through it.

    Args:
        model: ``<provider>/<model>``, a chain spec, or the name of a chain in ``providers``.
        settings: Environment settings (default: ``get_settings()``).
        providers: The catalog's ``providers`` section (specs loaded from a catalog already
            carry the entries they use).
        breakers: Circuit breaker registry (default: the process-wide one).
        **params: Extra constructor arguments for every provider built.
    """
    settings = settings or get_settings()
    chosen: str | ModelChainSpec = model or settings.resolved_default_model()
    if isinstance(chosen, str) and "/" not in chosen:
        entry = (providers or {}).get(chosen)
        if not isinstance(entry, ModelChainSpec):
            raise ConfigurationError(
                f"Model '{chosen}' is neither <provider>/<model> (e.g. 'local/smollm2') nor the "
                "name of a fallback chain in the catalog's providers section."
            )
        chosen = entry
    if isinstance(chosen, str):
        provider, _ = parse_model_id(chosen)
        spec = _provider_spec(provider, providers)
        cls = llm_registry.get_class(spec.type or provider if spec else provider)
        if not cls.network:
            return create_provider(chosen, settings=settings, providers=providers, **params)
        chosen = ModelChainSpec(
            fallbacks=[FallbackTargetSpec(model=chosen)],
            providers={provider: spec} if spec else {},
        )
    chain = build_chain(chosen, settings=settings, providers=providers, breakers=breakers)
    merged: dict[str, ProviderEntry] = {**(providers or {}), **chosen.providers}
    return ResilientLLM(
        chain,
        lambda model_id: create_provider(model_id, settings=settings, providers=merged, **params),
    )


class LLMProviderFactory:
    """The seeds' factory interface over ``llm_registry``."""

    @classmethod
    def create(
        cls,
        provider_type: ProviderType | str,
        api_key: str | None,
        model_name: str,
        base_url: str | None = None,
    ) -> BaseLLMProvider:
        params: dict[str, Any] = {}
        if api_key is not None:
            params["api_key"] = api_key
        if base_url is not None:
            params["base_url"] = base_url
        return create_provider(f"{provider_type}/{model_name}", **params)

    @classmethod
    def get_available_models(cls, provider_type: ProviderType | str) -> list[str]:
        return llm_registry.get_class(str(provider_type)).get_available_models()
