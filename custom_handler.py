"""LiteLLM loads this file (next to proxy_config.yaml); all logic lives in the liteagent package."""

from liteagent.proxy import handler

__all__ = ["handler"]
