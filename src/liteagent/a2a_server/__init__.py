"""Catalog entries served as A2A agents (the official ``a2a-sdk``): see docs/a2a.md.

Named ``a2a_server`` so that it never shadows the SDK's ``a2a`` package.
"""

from liteagent.a2a_server.app import build_a2a_app, master_key_authenticator
from liteagent.a2a_server.card import agent_card
from liteagent.a2a_server.executor import A2AIdentity, LiteAgentExecutor, chat_id_for
from liteagent.a2a_server.proxy_mount import MOUNT_PATH, litellm_key_authenticator, mount_on_proxy

__all__ = [
    "MOUNT_PATH",
    "A2AIdentity",
    "LiteAgentExecutor",
    "agent_card",
    "build_a2a_app",
    "chat_id_for",
    "litellm_key_authenticator",
    "master_key_authenticator",
    "mount_on_proxy",
]
