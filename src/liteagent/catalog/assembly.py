"""Catalog entries turned into engine objects: an agent entry's tools and memory strategy.

The proxy's runners and workflow AGENT nodes build a catalog agent's tools the same way, here.
"""

from __future__ import annotations

from liteagent.agents import (
    MemoryStrategy,
    SlidingWindowMemory,
    SummaryMemory,
    TokenWindowMemory,
    Tool,
)
from liteagent.agents.builtin_tools import ToolContext, build_tool
from liteagent.agents.llm_client import ProviderLLMClient
from liteagent.agents.memory import summarizer_for
from liteagent.agents.tools import FunctionTool
from liteagent.catalog.specs import AgentSpec

__all__ = ["build_memory", "build_tools"]


def build_memory(spec: AgentSpec, client: ProviderLLMClient) -> MemoryStrategy | None:
    """The entry's memory strategy (``None``: the agent keeps the whole conversation)."""
    memory = spec.memory
    if memory.strategy == "sliding_window":
        return SlidingWindowMemory(memory.window_size)
    if memory.strategy == "token_window":
        return TokenWindowMemory(memory.max_tokens, model=client.provider.model_name)
    if memory.strategy == "summary":
        return SummaryMemory(summarizer_for(client), keep_last=memory.keep_last)
    return None


def build_tools(spec: AgentSpec, context: ToolContext) -> list[Tool]:
    """The entry's tools for one user, with the entry's approval and timeout overrides."""
    tools: list[Tool] = []
    for item in spec.tools:
        built = build_tool(item.name, context)
        if item.requires_approval is not None or item.timeout is not None:
            if isinstance(built, FunctionTool):
                built = FunctionTool(
                    built.func,
                    name=built.name,
                    description=built.description,
                    requires_human_approval=(
                        built.requires_human_approval
                        if item.requires_approval is None
                        else item.requires_approval
                    ),
                    timeout_seconds=item.timeout or built.timeout_seconds,
                )
            else:
                if item.requires_approval is not None:
                    built.requires_human_approval = item.requires_approval
                if item.timeout is not None:
                    built.timeout_seconds = item.timeout
        tools.append(built)
    return tools
