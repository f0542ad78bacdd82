"""The management API: agents, data sources and providers defined at run time.

``create_app(handler=..., authenticator=..., routers=...)`` builds the FastAPI app;
``mount_on_proxy`` mounts it on the LiteLLM proxy at ``/liteagent/api`` with LiteLLM's keys.
Callers are ``Principal``s, whatever ``Authenticator`` established them.
"""

from liteagent.api.app import create_app
from liteagent.api.principal import Authenticator, Principal, RateLimitInfo
from liteagent.api.proxy_mount import MOUNT_PATH, LiteLLMKeyAuthenticator, mount_on_proxy

__all__ = [
    "MOUNT_PATH",
    "Authenticator",
    "LiteLLMKeyAuthenticator",
    "Principal",
    "RateLimitInfo",
    "create_app",
    "mount_on_proxy",
]
