"""The runner protocol and the registry that maps a catalog kind to its runner builder.

Runners register like every other plugin (``liteagent.registry.ProviderRegistry``): the built-in
kinds are entry points of LiteAgent's own distribution (group ``liteagent.runners``), and a
third-party package adds a kind the same way, with a builder ``build(spec, ctx, settings)``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from liteagent.config import Settings
from liteagent.errors import ConfigurationError
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import RunEvent
from liteagent.registry import ProviderRegistry


class Runner(Protocol):
    """Runs one request for one user; built once and reused from the agent cache."""

    def run(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        """Yield events as the run makes progress; end with ``RunFinished``."""
        ...

    async def aclose(self) -> None:
        """Release resources when evicted from the cache."""
        ...


RunnerBuilder = Callable[[Any, RequestContext, Settings], Runner]

runner_registry: ProviderRegistry[Runner] = ProviderRegistry(
    "runner", entry_point_group="liteagent.runners"
)
"""Catalog kind → runner builder (``build(spec, ctx, settings) -> Runner``)."""


def register_runner(kind: str) -> Callable[[RunnerBuilder], RunnerBuilder]:
    """Decorator: ``@register_runner("agent")`` on ``build(spec, ctx, settings) -> Runner``."""

    def decorator(builder: RunnerBuilder) -> RunnerBuilder:
        runner_registry.register_factory(kind, builder, (builder.__doc__ or "").strip())
        return builder

    return decorator


def build_runner(spec: Any, ctx: RequestContext, settings: Settings) -> Runner:
    """Build the runner for a catalog spec, chosen by its ``kind``."""
    if not runner_registry.has(spec.kind):
        raise ConfigurationError(f"No runner is registered for catalog kind '{spec.kind}'.")
    return runner_registry.get(spec.kind, spec=spec, ctx=ctx, settings=settings)
