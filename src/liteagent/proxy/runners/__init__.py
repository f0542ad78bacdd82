"""Runners turn a request into run events; one module per catalog kind.

The built-in kinds (agent, rag, workflow, agno) are entry points of the ``liteagent.runners``
group, loaded when a kind is first asked for, exactly as a plugin's kind would be.
"""

from liteagent.proxy.runners.base import (
    Runner,
    build_runner,
    register_runner,
    runner_is_per_user,
    runner_registry,
    user_scoped,
)

__all__ = [
    "Runner",
    "build_runner",
    "register_runner",
    "runner_is_per_user",
    "runner_registry",
    "user_scoped",
]
