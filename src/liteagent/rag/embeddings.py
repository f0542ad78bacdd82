"""Embedding providers: text in, vectors out.

Built-ins (registered as entry points in LiteAgent's ``pyproject.toml`` under
``liteagent.embedders``, exactly like a plugin would register its own):

- ``local``: all-MiniLM-L6-v2 (384 dimensions) run offline with numpy; the default.
- ``openai``: OpenAI's embeddings API (or any server speaking it, via ``OPENAI_BASE_URL``).
- ``nemotron``: NVIDIA's OpenAI-compatible embeddings API (``NVIDIA_API_KEY``), which
  distinguishes queries from passages with ``input_type``.
- ``none``: no vectors at all, for BM25-only knowledge bases.

``create_embedder("openai/text-embedding-3-large")`` builds one from a ``<provider>/<model>``
string (a bare provider name uses that provider's default model).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from liteagent.errors import ConfigurationError
from liteagent.registry import ProviderRegistry

if TYPE_CHECKING:
    import openai

    from liteagent.config import Settings

__all__ = [
    "NEMOTRON_1B",
    "EmbeddingProvider",
    "EmbeddingResult",
    "NemotronEmbedder",
    "NoEmbedder",
    "OpenAIEmbedder",
    "create_embedder",
    "embedding_registry",
]

NEMOTRON_1B = "nvidia/llama-nemotron-embed-1b-v2"
NVIDIA_BASE_URL = "https://integrate.api.nvidia.com/v1"


@dataclass
class EmbeddingResult:
    """Vectors for a batch of texts, in input order."""

    embeddings: list[list[float]]
    model: str
    usage: dict[str, int] | None = None


class EmbeddingProvider(ABC):
    """Turns texts into vectors of a fixed ``dimension``."""

    provider_name: ClassVar[str] = "base"

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every vector (0 for ``NoEmbedder``)."""

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's name; part of the cache key and of an ingested source's fingerprint."""

    @abstractmethod
    async def embed(self, texts: list[str]) -> EmbeddingResult:
        """Embed ``texts`` as documents (passages)."""

    async def embed_query(self, query: str) -> list[float]:
        """Embed a search query (some models embed queries differently from passages)."""
        return (await self.embed([query])).embeddings[0]

    async def embed_documents(self, documents: list[str]) -> list[list[float]]:
        """Embed passages for storage."""
        return (await self.embed(documents)).embeddings if documents else []

    @property
    def model_id(self) -> str:
        """``<provider>/<model>``."""
        return f"{self.provider_name}/{self.model_name}"

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network clients."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r})"


class NoEmbedder(EmbeddingProvider):
    """No vectors: knowledge bases that use it are searched with BM25 only."""

    provider_name = "none"

    def __init__(self, model_name: str = "none", **_: Any) -> None:
        self._model = model_name

    @property
    def dimension(self) -> int:
        return 0

    @property
    def model_name(self) -> str:
        return "none"

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        return EmbeddingResult(embeddings=[[] for _ in texts], model="none")


class _OpenAICompatibleEmbedder(EmbeddingProvider):
    """Shared client logic for OpenAI-wire embeddings APIs."""

    DIMENSIONS: ClassVar[dict[str, int]] = {}
    BATCH_SIZE: ClassVar[int] = 128

    def __init__(
        self,
        api_key: str | None = None,
        model: str = "",
        *,
        base_url: str | None = None,
        dimensions: int | None = None,
        timeout: float = 60.0,
        model_name: str | None = None,
    ) -> None:
        self._model = model_name or model
        self._api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self._requested_dimensions = dimensions
        known = self.DIMENSIONS.get(self._model)
        if dimensions is None and known is None:
            raise ConfigurationError(
                f"Unknown embedding model '{self._model}' for {self.provider_name}: pass "
                f"dimensions=<vector length> (known models: {', '.join(sorted(self.DIMENSIONS))})."
            )
        self._dimension = dimensions or int(known or 0)
        self._client: openai.AsyncOpenAI | None = None

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return self._model

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            if not self._api_key:
                raise ConfigurationError(self._missing_key_message())
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key, base_url=self.base_url, timeout=self.timeout
            )
        return self._client

    def _missing_key_message(self) -> str:
        return f"The {self.provider_name} embedder needs an API key."

    def _extra_body(self, input_type: str) -> dict[str, Any] | None:
        return None

    async def _embed(self, texts: Sequence[str], input_type: str) -> EmbeddingResult:
        from liteagent.llm.openai_provider import map_openai_error

        client = self._get_client()
        vectors: list[list[float]] = []
        prompt_tokens = 0
        for start in range(0, len(texts), self.BATCH_SIZE):
            batch = list(texts[start : start + self.BATCH_SIZE])
            kwargs: dict[str, Any] = {"model": self._model, "input": batch}
            if self._requested_dimensions is not None:
                kwargs["dimensions"] = self._requested_dimensions
            extra = self._extra_body(input_type)
            if extra:
                kwargs["extra_body"] = extra
            try:
                response = await client.embeddings.create(encoding_format="float", **kwargs)
            except Exception as exc:  # noqa: BLE001 - mapped to the LiteAgent error family
                raise map_openai_error(exc, self.provider_name, self._model) from None
            for item in sorted(response.data, key=lambda d: d.index):
                if len(item.embedding) != self._dimension:
                    raise ConfigurationError(
                        f"{self.model_id} returned {len(item.embedding)}-dimensional vectors "
                        f"but {self._dimension} were expected; set dimensions to match."
                    )
                vectors.append(list(item.embedding))
            if response.usage is not None:
                prompt_tokens += response.usage.prompt_tokens
        return EmbeddingResult(
            embeddings=vectors,
            model=self._model,
            usage={"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        )

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        if not texts:
            return EmbeddingResult(embeddings=[], model=self._model)
        return await self._embed(texts, "passage")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class OpenAIEmbedder(_OpenAICompatibleEmbedder):
    """OpenAI's embeddings API (``text-embedding-3-small`` by default, 1536 dimensions).

    Args:
        api_key: Defaults to ``OPENAI_API_KEY`` when built with ``create_embedder``.
        model: ``text-embedding-3-small`` (1536), ``text-embedding-3-large`` (3072) or
            ``text-embedding-ada-002`` (1536); other models need ``dimensions``.
        base_url: Any server speaking OpenAI's embeddings API.
        dimensions: Ask for shorter vectors (text-embedding-3 models) or declare an unknown
            model's length.
    """

    provider_name = "openai"
    DIMENSIONS: ClassVar[dict[str, int]] = {
        "text-embedding-3-small": 1536,
        "text-embedding-3-large": 3072,
        "text-embedding-ada-002": 1536,
    }

    def __init__(
        self,
        api_key: str | None = None,
        model: str = "text-embedding-3-small",
        **kwargs: Any,
    ) -> None:
        super().__init__(api_key, model, **kwargs)

    def _missing_key_message(self) -> str:
        return "The openai embedder needs OPENAI_API_KEY (or api_key=...)."

    @classmethod
    def from_settings(cls, model: str | None, settings: Settings, **kwargs: Any) -> OpenAIEmbedder:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        kwargs.setdefault("base_url", settings.openai_base_url)
        return cls(api_key=key, model=model or "text-embedding-3-small", **kwargs)


class NemotronEmbedder(_OpenAICompatibleEmbedder):
    """NVIDIA's embeddings API (NIM), OpenAI-compatible with ``input_type`` query/passage.

    Args:
        api_key: Defaults to ``NVIDIA_API_KEY`` when built with ``create_embedder``.
        model: ``nvidia/llama-nemotron-embed-1b-v2`` (2048 dimensions) by default;
            ``nvidia/nv-embed-v1`` has 4096, ``nvidia/nv-embedqa-e5-v5`` 1024.
        base_url: NVIDIA's hosted API by default; point it at a self-hosted NIM.
        dimensions: Shorter vectors for models that support them.
    """

    provider_name = "nemotron"
    BATCH_SIZE: ClassVar[int] = 50
    DIMENSIONS: ClassVar[dict[str, int]] = {
        NEMOTRON_1B: 2048,
        "nvidia/llama-3.2-nv-embedqa-1b-v2": 2048,
        "nvidia/nv-embed-v1": 4096,
        "nvidia/nv-embedqa-e5-v5": 1024,
        "nvidia/nv-embedqa-mistral-7b-v2": 4096,
    }

    def __init__(
        self,
        api_key: str | None = None,
        model: str = NEMOTRON_1B,
        *,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(api_key, model, base_url=base_url or NVIDIA_BASE_URL, **kwargs)

    def _missing_key_message(self) -> str:
        return "The nemotron embedder needs NVIDIA_API_KEY (or api_key=...)."

    def _extra_body(self, input_type: str) -> dict[str, Any] | None:
        return {"input_type": input_type, "truncate": "END"}

    async def embed_query(self, query: str) -> list[float]:
        return (await self._embed([query], "query")).embeddings[0]

    @classmethod
    def from_settings(
        cls, model: str | None, settings: Settings, **kwargs: Any
    ) -> NemotronEmbedder:
        key = settings.nvidia_api_key.get_secret_value() if settings.nvidia_api_key else None
        kwargs.setdefault("base_url", settings.nvidia_base_url)
        return cls(api_key=key, model=model or NEMOTRON_1B, **kwargs)


embedding_registry: ProviderRegistry[EmbeddingProvider] = ProviderRegistry(
    "embedder", entry_point_group="liteagent.embedders"
)


def create_embedder(
    provider: str = "local", *, settings: Settings | None = None, **kwargs: Any
) -> EmbeddingProvider:
    """Build an embedder from ``"<provider>"`` or ``"<provider>/<model>"``.

    Credentials and endpoints come from ``settings`` (default: the environment) unless given
    in ``kwargs``.

    Args:
        provider: ``local`` (default, offline), ``openai``, ``nemotron``, ``none`` or a plugin,
            optionally followed by ``/<model>``.
        settings: Where API keys and base URLs are read from.
        **kwargs: Passed to the embedder (``api_key``, ``base_url``, ``dimensions``…).
    """
    from liteagent.config import get_settings

    name, _, model = provider.partition("/")
    cls = embedding_registry.get_class(name)
    from_settings = getattr(cls, "from_settings", None)
    if from_settings is not None and "api_key" not in kwargs:
        built: EmbeddingProvider = from_settings(
            model or None, settings or get_settings(), **kwargs
        )
        return built
    if model:
        kwargs.setdefault("model", model)
    return cls(**kwargs)
