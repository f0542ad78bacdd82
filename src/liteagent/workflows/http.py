"""The built-in ``http_request`` CUSTOM node, with URL safety rules.

Config (beside ``handler: http_request``)::

    url: https://api.example.com/data/${user_id}   # ${expr} placeholders are URL-quoted
    method: GET                                    # GET POST PUT PATCH DELETE HEAD
    headers: {Accept: application/json}
    body: {...}                                    # sent as JSON
    timeout: 10                                    # seconds for the whole request (max 120)
    max_bytes: 1048576                             # largest response body read (max 10 MiB)
    allow_private_network: false                   # see below
    output_variable: response                      # optional: store the output here

Safety: every request obeys LiteAgent's outbound-URL policy (``liteagent.security.outbound``):
only ``http``/``https``; no credentials in the URL; the host must resolve only to public
addresses — private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local (169.254/16,
fe80::/10, cloud metadata), shared, multicast, reserved and unspecified addresses are refused in
every spelling (decimal, octal or hex IPv4, IPv4-mapped, 6to4, NAT64 and Teredo IPv6) unless the
host is listed in ``LITEAGENT_OUTBOUND_ALLOW_HOSTS`` or the node sets
``allow_private_network: true`` (private and loopback networks; link-local stays refused). The
connection goes to an address just checked, and the connected address is checked again.
Redirects (``LITEAGENT_OUTBOUND_MAX_REDIRECTS``, default 5) are followed only to URLs that pass
the same checks; a hop to another origin drops ``Authorization``, ``Cookie``, ``X-Api-Key`` and
similar headers, and a 307/308 hop that would re-send the body to another origin is refused. The
whole request is bounded by ``timeout`` and the body by ``max_bytes``. Environment proxies are
ignored so that the checks apply to the real target. The output is
``{"status_code", "body", "headers"}`` (``body`` parsed when the response is JSON).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from liteagent.config import Settings, get_settings
from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.security.outbound_client import OutboundClient, ResponseTooLargeError, read_capped
from liteagent.workflows.errors import UnsafeURLError, WorkflowExecutionError
from liteagent.workflows.expressions import evaluate_expression
from liteagent.workflows.handlers import NodeHandler, expression_namespace
from liteagent.workflows.schema import CustomNodeConfig, parse_config
from liteagent.workflows.state import WorkflowState
from liteagent.workflows.types import NodeDefinition

__all__ = ["HTTPRequestConfig", "HTTPRequestHandler", "check_url"]

_PLACEHOLDER: Final = re.compile(r"\$\{([^{}]*)\}")


class HTTPRequestConfig(CustomNodeConfig):
    """Config of an ``http_request`` node."""

    url: str = Field(min_length=1, max_length=8192)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout: float | None = Field(10.0, gt=0, le=120)
    max_bytes: int = Field(1_048_576, ge=1, le=10 * 1_048_576)
    allow_private_network: bool = False


def _unsafe(exc: OutboundURLError) -> UnsafeURLError:
    hint = " (or set allow_private_network: true on the node)" if exc.allowable else ""
    return UnsafeURLError(exc.message.rstrip(".") + hint)


async def check_url(
    url: str, *, allow_private_network: bool = False, policy: OutboundPolicy | None = None
) -> httpx.URL:
    """Parse ``url`` and refuse it unless it is safe to request (see module docs).

    Args:
        url: The URL.
        allow_private_network: The node's switch (ignored when ``policy`` is given).
        policy: The outbound policy (default: nothing private allowed).

    Raises:
        UnsafeURLError: naming the host and the rule the URL breaks.
    """
    policy = policy or OutboundPolicy(allow_private=allow_private_network)
    try:
        return await policy.check(url)
    except OutboundURLError as exc:
        raise _unsafe(exc) from None


def _render_url(template: str, state: WorkflowState) -> str:
    namespace = expression_namespace(state)

    def substitute(match: re.Match[str]) -> str:
        value = evaluate_expression(match.group(1).strip(), namespace)
        text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
        return quote(text, safe="")

    return _PLACEHOLDER.sub(substitute, template)


class HTTPRequestHandler(NodeHandler):
    """Make an HTTP request from a workflow (registered as ``http_request``)."""

    config_model = HTTPRequestConfig

    async def execute(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, HTTPRequestConfig)
        url = _render_url(cfg.url, state)
        timeout = cfg.timeout or 10.0
        settings = context.get("settings")
        policy = OutboundPolicy.from_settings(
            settings if isinstance(settings, Settings) else get_settings(),
            allow_private=cfg.allow_private_network,
        )
        try:
            async with asyncio.timeout(timeout):
                return await self._request(cfg, url, policy=policy, client_timeout=timeout)
        except TimeoutError:
            raise WorkflowExecutionError(
                f"HTTP request of node '{node.id}' took longer than {timeout}s"
            ) from None
        except OutboundURLError as exc:
            raise _unsafe(exc) from None
        except httpx.HTTPError as exc:
            raise WorkflowExecutionError(
                f"HTTP request of node '{node.id}' failed: {type(exc).__name__}: {exc}"
            ) from None

    async def _request(
        self, cfg: HTTPRequestConfig, url: str, *, policy: OutboundPolicy, client_timeout: float
    ) -> dict[str, Any]:
        json_body = cfg.body if cfg.body is not None and cfg.method != "GET" else None
        async with (
            OutboundClient(policy, timeout=client_timeout) as client,
            client.stream(cfg.method, url, headers=cfg.headers, json_body=json_body) as response,
        ):
            try:
                content = await read_capped(response, cfg.max_bytes)
            except ResponseTooLargeError:
                raise UnsafeURLError(f"response is larger than max_bytes={cfg.max_bytes}") from None
            return self._output(response, content)

    @staticmethod
    def _output(response: httpx.Response, content: bytes) -> dict[str, Any]:
        text = content.decode(response.encoding or "utf-8", errors="replace")
        body: Any = text
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                body = text
        return {
            "status_code": response.status_code,
            "body": body,
            "headers": dict(response.headers),
        }
