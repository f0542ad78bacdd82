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

Safety: only ``http``/``https``; no credentials in the URL; the host must resolve only to public
addresses — private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local (169.254/16,
fe80::/10, cloud metadata), shared, multicast, reserved and unspecified addresses are refused
unless ``allow_private_network: true`` is set on the node. Redirects (at most 5) are followed
only to URLs that pass the same checks. The whole request is bounded by ``timeout`` and the body
by ``max_bytes``. Environment proxies are ignored so that the checks apply to the real target.
The output is ``{"status_code", "body", "headers"}`` (``body`` parsed when the response is JSON).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from liteagent.workflows.errors import UnsafeURLError, WorkflowExecutionError
from liteagent.workflows.expressions import evaluate_expression
from liteagent.workflows.handlers import NodeHandler, expression_namespace
from liteagent.workflows.schema import CustomNodeConfig, parse_config
from liteagent.workflows.state import WorkflowState
from liteagent.workflows.types import NodeDefinition

__all__ = ["HTTPRequestConfig", "HTTPRequestHandler", "check_url"]

MAX_REDIRECTS: Final = 5
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


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def check_url(url: str, *, allow_private_network: bool = False) -> httpx.URL:
    """Parse ``url`` and refuse it unless it is safe to request (see module docs).

    Raises:
        UnsafeURLError: naming the rule the URL breaks.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeURLError(f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError(f"only http and https URLs are allowed, not '{parsed.scheme}:'")
    if not parsed.host:
        raise UnsafeURLError("the URL has no host")
    if parsed.userinfo:
        raise UnsafeURLError("credentials in URLs are refused; send them in 'headers'")
    if allow_private_network:
        return parsed
    host = parsed.host.strip("[]")
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parsed.port or (443 if parsed.scheme == "https" else 80),
                type=socket.SOCK_STREAM,
            )  # fmt: skip
        except OSError:
            raise UnsafeURLError(f"cannot resolve host '{host}'") from None
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    blocked = sorted(str(a) for a in addresses if not _is_public(a))
    if blocked or not addresses:
        raise UnsafeURLError(
            f"host '{host}' resolves to a private, loopback or link-local address "
            f"({', '.join(blocked) or 'none'}); set allow_private_network: true on the node "
            "to allow it"
        )
    return parsed


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
        try:
            async with asyncio.timeout(timeout):
                return await self._request(cfg, url, client_timeout=timeout)
        except TimeoutError:
            raise WorkflowExecutionError(
                f"HTTP request of node '{node.id}' took longer than {timeout}s"
            ) from None
        except httpx.HTTPError as exc:
            raise WorkflowExecutionError(
                f"HTTP request of node '{node.id}' failed: {type(exc).__name__}: {exc}"
            ) from None

    async def _request(
        self, cfg: HTTPRequestConfig, url: str, *, client_timeout: float
    ) -> dict[str, Any]:
        method = cfg.method
        body = cfg.body
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=client_timeout, trust_env=False
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                target = await check_url(url, allow_private_network=cfg.allow_private_network)
                request = client.build_request(
                    method,
                    target,
                    headers=cfg.headers,
                    json=body if body is not None and method != "GET" else None,
                )
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect and "location" in response.headers:
                        url = str(target.join(response.headers["location"]))
                        if response.status_code in (301, 302, 303) and method != "HEAD":
                            method, body = "GET", None
                        continue
                    content = await self._read(response, cfg.max_bytes)
                finally:
                    await response.aclose()
                return self._output(response, content)
        raise UnsafeURLError(f"more than {MAX_REDIRECTS} redirects")

    @staticmethod
    async def _read(response: httpx.Response, max_bytes: int) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise UnsafeURLError(f"response is larger than max_bytes={max_bytes}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise UnsafeURLError(f"response is larger than max_bytes={max_bytes}")
            chunks.append(chunk)
        return b"".join(chunks)

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
