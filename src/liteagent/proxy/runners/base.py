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
_per_user: dict[str, Callable[[Any], bool]] = {}


def register_runner(
    kind: str, *, per_user: Callable[[Any], bool] | None = None
) -> Callable[[RunnerBuilder], RunnerBuilder]:
    """Decorator: ``@register_runner("agent")`` on ``build(spec, ctx, settings) -> Runner``.

    Args:
        kind: The catalog kind.
        per_user: Whether a spec's runner holds state of the request's user (their tools,
            credentials); a runner that does not is built once and shared by every user.
            Default: every runner is per user.
    """

    def decorator(builder: RunnerBuilder) -> RunnerBuilder:
        _builders[kind] = builder
        if per_user is not None:
            _per_user[kind] = per_user
        return builder

    return decorator


def runner_is_per_user(spec: Any) -> bool:
    """Whether the runner of ``spec`` must be built for each user (see ``register_runner``)."""
    check = _per_user.get(spec.kind)
    return True if check is None else check(spec)


def build_runner(spec: Any, ctx: RequestContext, settings: Settings) -> Runner:
    """Build the runner for a catalog spec, chosen by its ``kind``."""
    try:
        builder = _builders[spec.kind]
    except KeyError:
        raise ConfigurationError(
            f"No runner is registered for catalog kind '{spec.kind}'."
        ) from None
    return builder(spec, ctx, settings)
