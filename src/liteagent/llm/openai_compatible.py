"""Servers that speak OpenAI's chat-completions API: Azure OpenAI, vLLM, LiteLLM, LocalAI, NIM.

``openai_compatible`` needs a base URL (``OPENAI_COMPATIBLE_BASE_URL`` or ``base_url`` in the
catalog's ``providers`` section) and takes extra headers, an ``api_version`` (sent as the
``api-version`` query parameter, as Azure wants) and ``api_key_header`` to send the key in a
header of its own (Azure: ``api-key``) instead of ``Authorization: Bearer``.

``nvidia`` is NVIDIA NIM: the hosted API at ``NVIDIA_BASE_URL`` with ``NVIDIA_API_KEY``, or a
self-hosted NIM container at another base URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from liteagent.config import NVIDIA_HOSTED_BASE_URL
from liteagent.errors import ConfigurationError
from liteagent.llm.openai_provider import OpenAIProvider

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = ["NvidiaProvider", "OpenAICompatibleProvider"]


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class OpenAICompatibleProvider(OpenAIProvider):
    """Any server with OpenAI's chat-completions wire format at ``base_url``.

    Args:
        api_key: Sent as ``Authorization: Bearer`` unless ``api_key_header`` names another.
        model_name: The model (or Azure deployment) name.
        base_url: The API root, e.g. ``http://vllm:8000/v1``.
        api_version: Added to every request as ``?api-version=`` (Azure).
        api_key_header: Header that carries the key instead of ``Authorization``.
        headers: Extra headers for every request.
        timeout: Seconds before a request times out.
    """

    provider_name = "openai_compatible"
    api_key_setting = "openai_compatible_api_key"
    base_url_setting = "openai_compatible_base_url"
    MODELS: ClassVar[list[str]] = []

    def __init__(
        self,
        api_key: str | None = None,
        model_name: str = "",
        base_url: str | None = None,
        *,
        api_version: str | None = None,
        api_key_header: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        max_retries: int = 0,
    ) -> None:
        if not base_url:
            raise ConfigurationError(
                f"Provider '{self.provider_name}' needs a base URL: set "
                "OPENAI_COMPATIBLE_BASE_URL or `base_url` in the catalog's providers section."
            )
        all_headers = dict(headers or {})
        bearer = api_key
        if api_key and api_key_header and api_key_header.lower() != "authorization":
            all_headers[api_key_header] = api_key
            bearer = None
        super().__init__(
            api_key=bearer,
            model_name=model_name,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            headers=all_headers,
            query={"api-version": api_version} if api_version else None,
        )
        self._api_key = api_key


class NvidiaProvider(OpenAICompatibleProvider):
    """NVIDIA NIM (OpenAI-compatible): model names look like ``meta/llama-3.1-8b-instruct``."""

    provider_name = "nvidia"
    api_key_setting = "nvidia_api_key"
    base_url_setting = "nvidia_base_url"
    MODELS: ClassVar[list[str]] = [
        "meta/llama-3.1-8b-instruct",
        "meta/llama-3.1-70b-instruct",
        "meta/llama-3.3-70b-instruct",
        "nvidia/llama-3.1-nemotron-70b-instruct",
        "mistralai/mixtral-8x7b-instruct-v0.1",
    ]

    @classmethod
    def from_settings(cls, model_name: str, settings: Settings, **params: Any) -> NvidiaProvider:
        api_key = params.get("api_key") or _secret(settings.nvidia_api_key)
        base_url = params.get("base_url") or settings.nvidia_base_url
        hosted = base_url.rstrip("/") == NVIDIA_HOSTED_BASE_URL
        if hosted and not api_key:
            raise ConfigurationError(
                "NVIDIA's hosted API needs a key: set NVIDIA_API_KEY (or `api_key` in the "
                "catalog's providers section), or point `base_url` at your own NIM."
            )
        return super().from_settings(model_name, settings, **params)
