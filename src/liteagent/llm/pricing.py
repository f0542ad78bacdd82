"""What a model call costs, in USD, so that LiteLLM's budgets see the real spend of a run.

A request to ``liteagent/<name>`` may call models several times (an agent's tool loop, a
workflow's nodes, a summary of a long conversation), and after a fallback not always the same
model. ``CallPricer`` prices each recorded ``LLMCall`` by the model that answered it; the proxy
reports the sum as LiteLLM's ``response_cost``. Each side of a call (prompt tokens, completion
tokens) takes the first price that is set of:

1. the catalog entry's own ``input_cost_per_token`` / ``output_cost_per_token`` (the price of the
   virtual model, whichever model answers);
2. the ``providers`` section's ``input_cost_per_token`` / ``output_cost_per_token`` of the
   answering model's provider (a self-hosted server, a negotiated rate);
3. LiteLLM's price map (``litellm.cost_per_token``) for the answering model, when its provider
   type is one LiteLLM knows (``openai``, ``anthropic``, ``ollama``, ``nvidia`` as
   ``nvidia_nim``, plugins named like a LiteLLM provider);
4. zero: the bundled local model and the scripted test models cost nothing unless priced; a
   network model that nothing prices is logged once (``llm_call_unpriced``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

from liteagent.llm.provenance import LLMCall
from liteagent.llm.provider_specs import ModelChainSpec, ProviderEntry, ProviderSpec
from liteagent.log import get_logger

__all__ = ["CallPricer", "PricedEntry", "TokenPrice"]

logger = get_logger(__name__)

_LITELLM_PROVIDER = {"nvidia": "nvidia_nim"}
"""Our provider types whose LiteLLM name differs; others are looked up under their own name."""

_warned_unpriced: set[str] = set()
_unpriced: set[tuple[str, str, int]] = set()
_UNPRICED_MAX = 1024


class PricedEntry(Protocol):
    """What pricing reads of a catalog entry (``liteagent.catalog.BaseSpec`` has it)."""

    @property
    def model(self) -> str | ModelChainSpec | None: ...

    @property
    def input_cost_per_token(self) -> float | None: ...

    @property
    def output_cost_per_token(self) -> float | None: ...


@dataclass(frozen=True)
class TokenPrice:
    """USD per token; ``None`` leaves that side to the next source."""

    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None


@dataclass(frozen=True)
class CallPricer:
    """Prices the calls of one catalog entry's runs (see the module docs for the order).

    Args:
        entry: The entry's own price (``PricedEntry.input_cost_per_token`` / ``output_…``).
        providers: The catalog's ``providers`` section.
    """

    entry: TokenPrice = field(default_factory=TokenPrice)
    providers: Mapping[str, ProviderEntry] = field(default_factory=dict)

    @classmethod
    def for_entry(cls, spec: PricedEntry, providers: Mapping[str, ProviderEntry]) -> CallPricer:
        """The pricer of a catalog entry: its own price, then the providers' and LiteLLM's.

        Args:
            spec: The catalog entry.
            providers: The catalog's ``providers`` section (the entry's chain adds its own).
        """
        chain = spec.model.providers if isinstance(spec.model, ModelChainSpec) else {}
        return cls(
            TokenPrice(spec.input_cost_per_token, spec.output_cost_per_token),
            {**providers, **chain},
        )

    def __call__(self, call: LLMCall) -> float:
        return self.cost(call.model, call.prompt_tokens, call.completion_tokens)

    def cost(self, model_id: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for ``prompt_tokens`` + ``completion_tokens`` of ``model_id`` (``<provider>/…``)."""
        provider, _, name = model_id.partition("/")
        entry = self.providers.get(provider)
        spec = entry if isinstance(entry, ProviderSpec) else None
        provider_type = (spec.type if spec else None) or provider
        input_price = _first(
            self.entry.input_cost_per_token, spec.input_cost_per_token if spec else None
        )
        output_price = _first(
            self.entry.output_cost_per_token, spec.output_cost_per_token if spec else None
        )
        mapped = (0.0, 0.0)
        if input_price is None or output_price is None:
            found = _price_map_cost(provider_type, name, prompt_tokens, completion_tokens)
            if found is None:
                _warn_unpriced(model_id, provider_type)
            else:
                mapped = found
        prompt_cost = prompt_tokens * input_price if input_price is not None else mapped[0]
        completion_cost = (
            completion_tokens * output_price if output_price is not None else mapped[1]
        )
        return prompt_cost + completion_cost


def _first(*prices: float | None) -> float | None:
    return next((p for p in prices if p is not None), None)


def _price_map_cost(
    provider_type: str, model: str, prompt_tokens: int, completion_tokens: int
) -> tuple[float, float] | None:
    """``(prompt cost, completion cost)`` from LiteLLM's price map, ``None`` if it has none."""
    import litellm

    litellm_provider = _LITELLM_PROVIDER.get(provider_type, provider_type)
    if not model or litellm_provider not in _litellm_providers():
        return None
    # A model the map cannot price is not asked again (LiteLLM raises, which costs more than
    # the rest of a proxied request) until the map changes size (a model registered at run time).
    unpriced = (litellm_provider, model, len(litellm.model_cost))
    if unpriced in _unpriced:
        return None
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            custom_llm_provider=litellm_provider,
        )
    except Exception:  # noqa: BLE001 - LiteLLM raises bare Exception for models it cannot price
        if len(_unpriced) < _UNPRICED_MAX:
            _unpriced.add(unpriced)
        return None
    return float(prompt_cost), float(completion_cost)


@cache
def _litellm_providers() -> frozenset[str]:
    import litellm

    return frozenset(str(getattr(p, "value", p)) for p in litellm.provider_list)


def _warn_unpriced(model_id: str, provider_type: str) -> None:
    if model_id in _warned_unpriced or not _is_network(provider_type):
        return
    _warned_unpriced.add(model_id)
    logger.warning(
        "llm_call_unpriced",
        model=model_id,
        hint="set input_cost_per_token/output_cost_per_token on the provider or the entry",
    )


def _is_network(provider_type: str) -> bool:
    from liteagent.errors import ProviderNotFoundError
    from liteagent.llm.factory import llm_registry

    try:
        return llm_registry.get_class(provider_type).network
    except ProviderNotFoundError:
        return True
