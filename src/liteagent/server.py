"""The composition root of the LiteLLM proxy: the handler, its endpoints, its A2A agents and
the management API.

``custom_handler.py`` next to ``proxy_config.yaml`` re-exports ``handler`` and ``request_guard``
from here. The handler is created on first access (when LiteLLM imports the stub at start-up),
so that a malformed catalog stops the proxy before it serves anything, and merely importing
the package opens nothing.
"""

from __future__ import annotations

import gc
from typing import Any

# LiteLLM's proxy has just imported close to a million objects that live as long as it does:
# freeze them before importing the plugin, or the garbage collector's next full pass walks them
# all (about 0.4 s here at start-up, more on a busy host). See liteagent.proxy.heap.
gc.freeze()

from liteagent.config import ensure_offline_cost_map  # noqa: E402

ensure_offline_cost_map()

from liteagent.a2a_server import mount_on_proxy  # noqa: E402
from liteagent.api import mount_on_proxy as mount_api_on_proxy  # noqa: E402
from liteagent.catalog import Catalog  # noqa: E402
from liteagent.config import Settings, get_settings  # noqa: E402
from liteagent.log import configure_logging, get_logger  # noqa: E402
from liteagent.proxy import LiteAgentLLM, RequestGuard  # noqa: E402
from liteagent.proxy.body_guard import install_body_guard  # noqa: E402
from liteagent.proxy.registration import schedule_registration  # noqa: E402
from liteagent.proxy.runners.rag import schedule_knowledge_ingestion  # noqa: E402
from liteagent.runtime.endpoints import attach_to_proxy  # noqa: E402
from liteagent.security import check_encryption_key  # noqa: E402

__all__ = ["create_handler", "handler", "request_guard"]  # noqa: F822 - handler: __getattr__

logger = get_logger(__name__)

request_guard = RequestGuard()
"""The proxy callback ``custom_handler.request_guard`` (see ``liteagent.proxy.guard``)."""

_handler: LiteAgentLLM | None = None


def create_handler(
    settings: Settings | None = None, catalog: Catalog | None = None
) -> LiteAgentLLM:
    """Build the handler and, inside a running proxy, register the catalog's models."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    check_encryption_key(settings)
    handler = LiteAgentLLM(settings=settings, catalog=catalog)
    attach_to_proxy(handler.runtime)  # /liteagent/health, /liteagent/metrics
    install_body_guard()  # a 400, not LiteLLM's 500, for a body that is not a JSON object
    scheduled = schedule_registration(list(handler.catalog))
    mount_on_proxy(handler)  # the A2A agents (docs/a2a.md)
    api = mount_api_on_proxy(handler)  # the management API (docs/api.md)
    handler.refresher.start()  # agents defined through it, kept in step with the database
    schedule_knowledge_ingestion(list(handler.catalog), settings)
    logger.info(
        "liteagent_handler_ready",
        catalog=handler.catalog.source,
        models=handler.catalog.model_names(),
        default_model=settings.resolved_default_model(),
        registration="scheduled" if scheduled else "not in a proxy",
        management_api="/liteagent/api" if api else "not in a proxy",
    )
    return handler


def __getattr__(name: str) -> Any:
    global _handler
    if name == "handler":
        if _handler is None:
            _handler = create_handler()
        return _handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
