"""Build providers from ``<provider>/<model>`` strings.

The registry ``llm_registry`` holds every provider class. Built-ins are declared as entry points
in LiteAgent's own ``pyproject.toml`` (group ``liteagent.llm_providers``), exactly like a
third-party plugin would declare its own, and are imported only when first used.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from liteagent.config import Settings, get_settings
from liteagent.errors import ConfigurationError
from liteagent.llm.base import BaseLLMProvider
from liteagent.registry import ProviderRegistry

llm_registry: ProviderRegistry[BaseLLMProvider] = ProviderRegistry(
    "LLM provider", entry_point_group="liteagent.llm_providers"
)


class ProviderType(StrEnum):
    """Built-in provider names (plugins may add more to ``llm_registry``)."""

    LOCAL = "local"
    OPENAI = "openai"
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


def create_provider(
    model_id: str, *, settings: Settings | None = None, **params: Any
) -> BaseLLMProvider:
    """Build the provider for ``model_id`` using ``settings`` for credentials and endpoints."""
    provider, model = parse_model_id(model_id)
    cls = llm_registry.get_class(provider)
    from_settings = getattr(cls, "from_settings", None)
    if from_settings is not None:
        instance: BaseLLMProvider = from_settings(model, settings or get_settings(), **params)
        return instance
    return cls(model_name=model, **params)


def create_llm(
    model: str | None, *, settings: Settings | None = None, **params: Any
) -> BaseLLMProvider:
    """The LLM a catalog entry uses: its ``model:`` field, else ``LITEAGENT_DEFAULT_MODEL``.

    This is the one place that turns an entry's model setting into a provider; everything that
    runs a catalog entry goes through it.
    """
    settings = settings or get_settings()
    return create_provider(model or settings.resolved_default_model(), settings=settings, **params)


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
