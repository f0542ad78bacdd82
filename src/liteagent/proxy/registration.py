"""Make every catalog model appear in the proxy's ``/v1/models``.

LiteLLM lists only explicit ``model_list`` entries; a wildcard ``liteagent/*`` routes requests to
us but lists nothing. When the handler is created inside a running proxy (LiteLLM imports
``custom_handler.py`` while it loads its config, before it builds the router), we schedule a task
that waits for the router and adds one deployment per catalog model. The same function adds
models defined later at run time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from liteagent.catalog import ModelSpec
from liteagent.log import get_logger
from liteagent.proxy.heap import freeze_heap

logger = get_logger(__name__)

PROVIDER = "liteagent"
_ROUTER_WAIT_SECONDS = 120.0
_background: set[asyncio.Task[None]] = set()


def deployment_params(spec: ModelSpec) -> dict[str, Any]:
    """``litellm_params`` for one catalog model."""
    params: dict[str, Any] = {"model": spec.model_name, "custom_llm_provider": PROVIDER}
    if spec.input_cost_per_token is not None:
        params["input_cost_per_token"] = spec.input_cost_per_token
    if spec.output_cost_per_token is not None:
        params["output_cost_per_token"] = spec.output_cost_per_token
    return params


def deployment_id(name: str) -> str:
    """The router deployment id of the entry called ``name``."""
    return f"liteagent-{name}"


def register_with_router(router: Any, specs: Iterable[ModelSpec]) -> list[str]:
    """Add a deployment for each spec the router does not serve yet; return the names added."""
    from litellm.types.router import Deployment, LiteLLM_Params

    existing = set(router.get_model_names())
    added: list[str] = []
    for spec in specs:
        if spec.model_name in existing:
            continue
        router.add_deployment(
            Deployment(
                model_name=spec.model_name,
                litellm_params=LiteLLM_Params(**deployment_params(spec)),
                model_info={"id": deployment_id(spec.name), "description": spec.description},
            )
        )
        added.append(spec.model_name)
    return added


def proxy_router() -> Any:
    """The running proxy's router (``None`` outside a proxy, or before it is built)."""
    try:
        from litellm.proxy import proxy_server
    except ImportError:  # pragma: no cover - litellm[proxy] is a dependency
        return None
    return getattr(proxy_server, "llm_router", None)


async def _register_when_ready(specs: list[ModelSpec]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _ROUTER_WAIT_SECONDS
    while (router := proxy_router()) is None:
        if loop.time() > deadline:
            logger.warning("catalog_registration_skipped", reason="no LiteLLM router appeared")
            return
        await asyncio.sleep(0.05)
    added = register_with_router(router, specs)
    logger.info("catalog_registered", models=added, total=len(router.get_model_names()))
    freeze_heap("catalog_registered")


def schedule_registration(specs: Iterable[ModelSpec]) -> bool:
    """Register ``specs`` with the proxy's router once it exists (no-op outside a proxy)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    router = proxy_router()
    if router is not None:
        register_with_router(router, specs)
        loop.call_soon(freeze_heap, "catalog_registered")
        return True
    task = loop.create_task(_register_when_ready(list(specs)))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return True
