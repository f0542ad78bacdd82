"""The LiteLLM custom provider.

``custom_handler.py`` next to ``proxy_config.yaml`` re-exports ``handler`` from here. It is
created on first access (when LiteLLM imports the stub at start-up), so that a malformed
catalog stops the proxy before it serves anything, and merely importing this package opens
nothing.
"""

from __future__ import annotations

from typing import Any

from liteagent.config import ensure_offline_cost_map

ensure_offline_cost_map()

from liteagent.proxy.context import RequestContext  # noqa: E402
from liteagent.proxy.custom_llm import LiteAgentLLM, create_handler  # noqa: E402
from liteagent.proxy.guard import RequestGuard  # noqa: E402

__all__ = ["LiteAgentLLM", "RequestContext", "RequestGuard", "create_handler", "handler"]

request_guard = RequestGuard()
"""The proxy callback ``custom_handler.request_guard`` (see ``liteagent.proxy.guard``)."""

_handler: LiteAgentLLM | None = None


def __getattr__(name: str) -> Any:
    global _handler
    if name == "handler":
        if _handler is None:
            _handler = create_handler()
        return _handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
