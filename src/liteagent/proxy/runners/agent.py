"""The ``agent`` kind: a system prompt in front of an LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator

from liteagent.catalog import AgentSpec
from liteagent.config import Settings
from liteagent.llm import BaseLLMProvider, ChatOptions, LLMMessage, create_llm
from liteagent.llm.base import content_to_text
from liteagent.proxy.context import RequestContext, strip_rendered_blocks
from liteagent.proxy.events import ReasoningDelta, RunEvent, RunFinished, TextDelta, UsageReport
from liteagent.proxy.runners.base import register_runner


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


def request_options(spec: AgentSpec, ctx: RequestContext) -> ChatOptions:
    """Generation options: the request's, else the catalog entry's."""
    return ChatOptions(
        temperature=ctx.temperature if ctx.temperature is not None else spec.temperature,
        max_tokens=ctx.max_tokens if ctx.max_tokens is not None else spec.max_tokens,
    )


@register_runner("agent")
def build_agent_runner(spec: AgentSpec, ctx: RequestContext, settings: Settings) -> AgentRunner:
    """Build the runner for an ``agent`` entry with the request's generation options."""
    return AgentRunner(spec, create_llm(spec.model, settings=settings), request_options(spec, ctx))
