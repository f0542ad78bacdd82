"""The LiteLLM custom provider: ``LiteAgentLLM``, its request context and pre-call guard.

The proxy's instance is built by ``liteagent.server`` (which ``custom_handler.py`` re-exports),
together with its health and metrics endpoints and the A2A agents.
"""

from __future__ import annotations

from liteagent.config import ensure_offline_cost_map

ensure_offline_cost_map()

from liteagent.proxy.context import RequestContext  # noqa: E402
from liteagent.proxy.custom_llm import LiteAgentLLM  # noqa: E402
from liteagent.proxy.guard import RequestGuard  # noqa: E402

__all__ = ["LiteAgentLLM", "RequestContext", "RequestGuard"]
