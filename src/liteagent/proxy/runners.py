"""Runners: a built, cacheable object per (model, options, user) that turns a request into
run events. ``build_runner`` picks the runner for a catalog spec's kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from liteagent.catalog import AgentSpec, ModelSpec
from liteagent.config import Settings
from liteagent.llm import BaseLLMProvider, ChatOptions, LLMMessage, create_provider
from liteagent.llm.base import content_to_text
from liteagent.proxy.context import RequestContext, strip_rendered_blocks
from liteagent.proxy.events import ReasoningDelta, RunEvent, RunFinished, TextDelta, UsageReport


class Runner(Protocol):
    """Runs one request for one user; built once and reused from the agent cache."""

    def run(self, ctx: RequestContext) -> AsyncIterator[RunEvent]:
        """Yield events as the run makes progress; end with ``RunFinished``."""
        ...

    async def aclose(self) -> None:
        """Release resources when evicted from the cache."""
        ...


def conversation(ctx: RequestContext, system_prompt: str | None) -> list[LLMMessage]:
    """The history the client sent, cleaned for an LLM.

    Our own rendered markup (tool-step and reasoning ``<details>`` blocks) is stripped from
    assistant turns, client system prompts are kept after the agent's own, and content parts are
    flattened to text.
    """
    out: list[LLMMessage] = []
    if system_prompt:
        out.append(LLMMessage(role="system", content=system_prompt))
    for msg in ctx.messages:
        role = msg["role"]
        text = content_to_text(msg.get("content")) or ""
        if role == "developer":
            role = "system"
        if role == "assistant":
            text = strip_rendered_blocks(text).strip()
            if not text and not msg.get("tool_calls"):
                continue
        if role in ("tool", "function"):
            # Tool turns of a client-side tool loop are shown to the agent as context.
            out.append(LLMMessage(role="user", content=f"[tool result]\n{text}"))
            continue
        out.append(LLMMessage(role=role, content=text))
    return out


class AgentRunner:
    """A chat agent: the spec's system prompt in front of its LLM, streaming the answer."""

    def __init__(self, spec: AgentSpec, provider: BaseLLMProvider, options: ChatOptions) -> None:
        self.spec = spec
        self.provider = provider
        self.options = options

    async def run(self, ctx: RequestContext) -> AsyncIterator[RunEvent]:
        finish = "stop"
        async for chunk in self.provider.stream(
            conversation(ctx, self.spec.system_prompt), self.options
        ):
            if chunk.reasoning:
                yield ReasoningDelta(chunk.reasoning)
            if chunk.content:
                yield TextDelta(chunk.content)
            if chunk.usage is not None:
                yield UsageReport(chunk.usage, model=self.provider.model_id)
            if chunk.finish_reason:
                finish = chunk.finish_reason
        yield RunFinished(finish_reason=finish, metadata={"model": self.provider.model_id})

    async def aclose(self) -> None:
        await self.provider.aclose()


def build_runner(spec: ModelSpec, ctx: RequestContext, settings: Settings) -> Runner:
    """Build the runner for ``spec`` with the request's generation options."""
    options = ChatOptions(
        temperature=ctx.temperature if ctx.temperature is not None else spec.temperature,
        max_tokens=ctx.max_tokens if ctx.max_tokens is not None else spec.max_tokens,
    )
    model_id = spec.model or settings.resolved_default_model()
    provider = create_provider(model_id, settings=settings)
    runner: Any = AgentRunner(spec, provider, options)
    return runner  # type: ignore[no-any-return]
