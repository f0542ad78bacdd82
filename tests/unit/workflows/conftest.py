"""Fixtures for workflow tests: isolated global registries and a seeds-style LLM client."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from liteagent.workflows import (
    WorkflowHooks,
    condition_registry,
    node_handler_registry,
    transformer_registry,
    workflow_hooks,
)


@pytest.fixture(autouse=True)
def restore_global_extensions() -> Iterator[None]:
    """Tests (like the seeds' examples) register on the global registries: undo it after."""
    node_handler_registry.load_entry_points()
    saved_nodes = {
        name: copy.copy(getattr(node_handler_registry, name))
        for name in ("_classes", "_factories", "_instances", "_metadata")
    }
    saved_conditions = dict(condition_registry._functions)
    saved_transformers = dict(transformer_registry._functions)
    saved_hooks = {
        name: list(getattr(workflow_hooks, name))
        for name in ("_before", "_after", "_error", "_start", "_complete")
    }
    yield
    for name, value in saved_nodes.items():
        setattr(node_handler_registry, name, value)
    condition_registry._functions = saved_conditions
    transformer_registry._functions = saved_transformers
    for name, value in saved_hooks.items():
        setattr(workflow_hooks, name, value)


@pytest.fixture
def hooks() -> WorkflowHooks:
    return WorkflowHooks()


class DictLLMClient:
    """The seeds' ``LLMClient`` shape: ``async chat(messages, tools=None) -> dict``.

    Answers with ``answer(messages)`` and records every call.
    """

    def __init__(self, answer: Any = "ok", prompt_tokens: int = 5, completion_tokens: int = 3):
        self.answer = answer
        self.calls: list[list[dict[str, Any]]] = []
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens

    async def chat(self, messages: list[dict[str, Any]], tools: list[dict] | None = None) -> dict:
        self.calls.append(messages)
        text = self.answer(messages) if callable(self.answer) else self.answer
        return {
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        }


@pytest.fixture
def llm() -> DictLLMClient:
    return DictLLMClient()
