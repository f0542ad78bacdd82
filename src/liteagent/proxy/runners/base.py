"""The runner protocol and the registry that maps a catalog kind to its runner builder."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from liteagent.config import Settings
from liteagent.errors import ConfigurationError
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import RunEvent


class Runner(Protocol):
    """Runs one request for one user; built once and reused from the agent cache."""

    def run(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        """Yield events as the run makes progress; end with ``RunFinished``."""
        ...

    async def aclose(self) -> None:
        """Release resources when evicted from the cache."""
        ...


RunnerBuilder = Callable[[Any, RequestContext, Settings], Runner]
_builders: dict[str, RunnerBuilder] = {}


def register_runner(kind: str) -> Callable[[RunnerBuilder], RunnerBuilder]:
    """Decorator: ``@register_runner("agent")`` on ``build(spec, ctx, settings) -> Runner``."""

    def decorator(builder: RunnerBuilder) -> RunnerBuilder:
        _builders[kind] = builder
        return builder

    return decorator


def build_runner(spec: Any, ctx: RequestContext, settings: Settings) -> Runner:
    """Build the runner for a catalog spec, chosen by its ``kind``."""
    try:
        builder = _builders[spec.kind]
    except KeyError:
        raise ConfigurationError(
            f"No runner is registered for catalog kind '{spec.kind}'."
        ) from None
    return builder(spec, ctx, settings)
