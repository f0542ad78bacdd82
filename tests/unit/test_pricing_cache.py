"""A model LiteLLM's price map lacks is looked up once, until the map changes."""

from __future__ import annotations

from typing import Any

import litellm
import pytest

from liteagent.llm.pricing import CallPricer


def test_an_unpriced_model_is_looked_up_once_until_the_map_grows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    real = litellm.cost_per_token

    def counting(**kw: Any) -> Any:
        asked.append(kw["model"])
        return real(**kw)

    monkeypatch.setattr(litellm, "cost_per_token", counting)
    pricer = CallPricer()
    assert pricer.cost("openai/bench-unpriced-model", 10, 5) == 0.0
    assert pricer.cost("openai/bench-unpriced-model", 10, 5) == 0.0
    assert asked == ["bench-unpriced-model"]
    price = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
    monkeypatch.setitem(
        litellm.model_cost,
        "bench-unpriced-model",
        {**price, "litellm_provider": "openai", "mode": "chat"},
    )
    assert pricer.cost("openai/bench-unpriced-model", 10, 5) == pytest.approx(2e-5)
    assert asked == ["bench-unpriced-model"] * 2
