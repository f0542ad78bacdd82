"""A provider that answers through a fallback chain of other providers.

``ResilientLLM`` is what ``create_llm`` returns for network models: every call goes through a
``ModelFallbackChain`` (one model or several) with retry, circuit breakers and rate limits, and
every response carries its ``Provenance``. Each instance builds its own provider clients lazily
(one per model of the chain, on first use) and closes them in ``aclose``; the chain itself is
shared (see ``FallbackChainRegistry``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import replace

from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMResponse,
    MessageLike,
)
from liteagent.llm.fallback import ModelConfig, ModelFallbackChain
from liteagent.llm.provenance import Provenance
from liteagent.log import get_logger

__all__ = ["ResilientLLM"]

logger = get_logger(__name__)


class ResilientLLM(BaseLLMProvider):
    """Answers through ``chain``, building each model's provider with ``build(model_id)``.

    ``model_id`` is the chain's name: the model id itself for a one-model chain.
    """

    provider_name = "fallback"

    def __init__(self, chain: ModelFallbackChain, build: Callable[[str], BaseLLMProvider]) -> None:
        super().__init__(model_name=chain.name)
        self.chain = chain
        self._build = build
        self._providers: dict[str, BaseLLMProvider] = {}

    @property
    def model_id(self) -> str:
        return self.chain.name

    def provider_for(self, model_id: str) -> BaseLLMProvider:
        """The provider client for one model of the chain (built on first use)."""
        provider = self._providers.get(model_id)
        if provider is None:
            provider = self._providers[model_id] = self._build(model_id)
        return provider

    def _noted(self, provenance: Provenance) -> None:
        # The call itself is recorded by liteagent.llm.metering (provenance from the response).
        if provenance.fallback_used:
            logger.info(
                "llm_fallback_used",
                chain=self.chain.name,
                requested_model=provenance.requested_model,
                model=provenance.model,
                attempts=[f"{a.model}:{a.reason.value}" for a in provenance.attempts],
            )

    async def chat(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        async def call(model: ModelConfig) -> LLMResponse:
            return await self.provider_for(model.name).chat(messages, options)

        result = await self.chain.execute(call)
        self._noted(result.provenance)
        return replace(result.result, provenance=result.provenance)

    async def stream(
        self, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        def open_stream(model: ModelConfig) -> AsyncIterator[LLMChunk]:
            return self.provider_for(model.name).stream(messages, options)

        stream = self.chain.execute_stream(open_stream)
        noted = False
        async with aclosing(aiter(stream)) as chunks:
            async for chunk in chunks:
                provenance = stream.provenance
                if not noted and provenance is not None:
                    self._noted(provenance)
                    noted = True
                if chunk.finish_reason is not None and provenance is not None:
                    chunk = replace(chunk, provenance=provenance)
                yield chunk

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()
