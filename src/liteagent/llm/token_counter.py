"""Token counting and cost estimates, offline.

Counting uses tiktoken with the BPE files that LiteLLM's wheel ships (``cl100k_base`` and
``o200k_base``), so nothing is downloaded; prices and context windows come from LiteLLM's bundled
price map (read as a file: this module never imports litellm). Models tiktoken does not know
(Claude, Llama, SmolLM2…) are counted with ``cl100k_base``, a close estimate.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import tiktoken

__all__ = [
    "ModelPricing",
    "TokenCounter",
    "check_context_limit",
    "count_message_tokens",
    "count_tokens",
    "estimate_cost",
    "get_model_pricing",
]

DEFAULT_CONTEXT_WINDOW = 8192
_TOKENS_PER_MESSAGE = 3  # OpenAI's per-message overhead (<|start|>role\n … <|end|>)
_TOKENS_PER_REPLY = 3


def _litellm_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=4)
def _encoding(name: str) -> tiktoken.Encoding:
    base = _litellm_dir()
    if base is not None and "TIKTOKEN_CACHE_DIR" not in os.environ:
        # LiteLLM does the same on import: its wheel carries tiktoken's files under these names.
        os.environ["TIKTOKEN_CACHE_DIR"] = str(base / "litellm_core_utils" / "tokenizers")
    return tiktoken.get_encoding(name)


def _encoding_name(model: str) -> str:
    bare = model.split("/", 1)[1] if "/" in model else model
    try:
        return tiktoken.encoding_name_for_model(bare)
    except KeyError:
        return "cl100k_base"


class TokenCounter:
    """Counts tokens for one model."""

    def __init__(self, model: str = "gpt-4") -> None:
        self.model = model
        self.encoding = _encoding(_encoding_name(model))

    def count(self, text: str) -> int:
        return len(self.encoding.encode(text, disallowed_special=()))

    def count_messages(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """Tokens of a chat request: contents, tool calls and OpenAI's framing overhead."""
        total = _TOKENS_PER_REPLY
        for msg in messages:
            total += _TOKENS_PER_MESSAGE + self.count(str(msg.get("role", "")))
            content = msg.get("content")
            if isinstance(content, str):
                total += self.count(content)
            elif isinstance(content, list):
                total += sum(
                    self.count(str(p.get("text", ""))) for p in content if isinstance(p, Mapping)
                )
            for call in msg.get("tool_calls") or ():
                fn = call.get("function", {})
                total += self.count(str(fn.get("name", ""))) + self.count(
                    str(fn.get("arguments", ""))
                )
            if msg.get("name"):
                total += self.count(str(msg["name"]))
        return total


def count_tokens(text: str, model: str = "gpt-4") -> int:
    return TokenCounter(model).count(text)


def count_message_tokens(messages: Sequence[Mapping[str, Any]], model: str = "gpt-4") -> int:
    return TokenCounter(model).count_messages(messages)


@lru_cache(maxsize=1)
def _price_map() -> dict[str, Any]:
    base = _litellm_dir()
    if base is None:
        return {}
    path = base / "model_prices_and_context_window_backup.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _model_info(model: str) -> Mapping[str, Any]:
    prices = _price_map()
    for key in (model, model.split("/", 1)[-1]):
        info = prices.get(key)
        if isinstance(info, Mapping):
            return info
    return {}


@dataclass(frozen=True)
class ModelPricing:
    """USD per 1,000 tokens."""

    input_per_1k: float
    output_per_1k: float


def get_model_pricing(model: str) -> ModelPricing:
    """Prices from LiteLLM's bundled price map; unknown and local models cost 0."""
    info = _model_info(model)
    return ModelPricing(
        input_per_1k=float(info.get("input_cost_per_token") or 0.0) * 1000,
        output_per_1k=float(info.get("output_cost_per_token") or 0.0) * 1000,
    )


def estimate_cost(input_tokens: int, output_tokens: int, model: str) -> float:
    pricing = get_model_pricing(model)
    return (input_tokens * pricing.input_per_1k + output_tokens * pricing.output_per_1k) / 1000


def context_window(model: str) -> int:
    info = _model_info(model)
    value = info.get("max_input_tokens") or info.get("max_tokens")
    return int(value) if value else DEFAULT_CONTEXT_WINDOW


def check_context_limit(messages: Sequence[Mapping[str, Any]], model: str) -> tuple[bool, int, int]:
    """``(fits, tokens, limit)`` for ``messages`` against ``model``'s context window."""
    tokens = count_message_tokens(messages, model)
    limit = context_window(model)
    return tokens <= limit, tokens, limit
