"""Catalog entries served as A2A agents (the official ``a2a-sdk``): see docs/a2a.md.

Named ``a2a_server`` so that it never shadows the SDK's ``a2a`` package. The names below are
imported on first use: mounting the agents on the proxy does not load the SDK until an A2A
request arrives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liteagent.a2a_server.app import build_a2a_app, master_key_authenticator
    from liteagent.a2a_server.card import agent_card
    from liteagent.a2a_server.executor import A2AIdentity, LiteAgentExecutor, chat_id_for
    from liteagent.a2a_server.proxy_mount import (
        MOUNT_PATH,
        LazyA2AApp,
        litellm_key_authenticator,
        mount_on_proxy,
    )

__all__ = [
    "MOUNT_PATH",
    "A2AIdentity",
    "LazyA2AApp",
    "LiteAgentExecutor",
    "agent_card",
    "build_a2a_app",
    "chat_id_for",
    "litellm_key_authenticator",
    "master_key_authenticator",
    "mount_on_proxy",
]

_HOMES = {
    "build_a2a_app": "app",
    "master_key_authenticator": "app",
    "agent_card": "card",
    "A2AIdentity": "executor",
    "LiteAgentExecutor": "executor",
    "chat_id_for": "executor",
    "MOUNT_PATH": "proxy_mount",
    "LazyA2AApp": "proxy_mount",
    "litellm_key_authenticator": "proxy_mount",
    "mount_on_proxy": "proxy_mount",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
