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

_PER_USER = "liteagent_per_user"


def user_scoped(check: Callable[[Any], bool]) -> Callable[[RunnerBuilder], RunnerBuilder]:
    """Mark a builder with whether a spec's runner holds state of the request's user (their
    tools, credentials). A runner that does not is built once and shared by every user;
    unmarked builders are built per user."""

    def mark(builder: RunnerBuilder) -> RunnerBuilder:
        setattr(builder, _PER_USER, check)
        return builder

    return mark


def register_runner(
    kind: str, *, per_user: Callable[[Any], bool] | None = None
) -> Callable[[RunnerBuilder], RunnerBuilder]:
    """Decorator: ``@register_runner("agent")`` on ``build(spec, ctx, settings) -> Runner``,
    for kinds registered in code rather than as an entry point.

    Args:
        kind: The catalog kind.
        per_user: See ``user_scoped`` (default: every runner is per user).
    """

    def decorator(builder: RunnerBuilder) -> RunnerBuilder:
        if per_user is not None:
            user_scoped(per_user)(builder)
        runner_registry.register_factory(kind, builder, (builder.__doc__ or "").strip())
        return builder

    return decorator


def runner_is_per_user(spec: Any) -> bool:
    """Whether the runner of ``spec`` must be built for each user (see ``user_scoped``)."""
    builder = runner_registry.get_factory(spec.kind) if runner_registry.has(spec.kind) else None
    check = getattr(builder, _PER_USER, None)
    return True if check is None else bool(check(spec))


def build_runner(spec: Any, ctx: RequestContext, settings: Settings) -> Runner:
    """Build the runner for a catalog spec, chosen by its ``kind``."""
    if not runner_registry.has(spec.kind):
        raise ConfigurationError(f"No runner is registered for catalog kind '{spec.kind}'.")
    return runner_registry.get(spec.kind, spec=spec, ctx=ctx, settings=settings)
