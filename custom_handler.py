"""LiteLLM loads this file (next to proxy_config.yaml); all logic lives in the liteagent package."""

from liteagent.server import handler, request_guard

__all__ = ["handler", "request_guard"]
