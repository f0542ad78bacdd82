"""Runners turn a request into run events; one module per catalog kind."""

from liteagent.proxy.runners import agent as _agent  # noqa: F401  (registers the "agent" kind)
from liteagent.proxy.runners import agno as _agno  # noqa: F401  (registers the "agno" kind)
from liteagent.proxy.runners import rag as _rag  # noqa: F401  (registers the "rag" kind)
from liteagent.proxy.runners import workflow as _workflow  # noqa: F401  (the "workflow" kind)
from liteagent.proxy.runners.base import Runner, build_runner, register_runner, runner_is_per_user

__all__ = ["Runner", "build_runner", "register_runner", "runner_is_per_user"]
