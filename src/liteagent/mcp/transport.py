"""The MCP SDK's HTTP client (``httpx2``) sent through the outbound-URL policy.

The SDK's streamable-HTTP transport takes an ``httpx2.AsyncClient``. The client built here hands
every request to an ``httpx`` client on ``outbound_client.guarded_transport``, so an MCP server
URL is checked like every other user-steerable URL: each address the
host resolves to, the address actually connected to, no environment proxies. Redirects are not
followed here (the SDK follows same-origin ones itself, through this same transport).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx
import httpx2

from liteagent.security.outbound import OutboundPolicy
from liteagent.security.outbound_client import guarded_transport

__all__ = ["policy_http_client"]

CONNECT_TIMEOUT = 30.0
STREAM_READ_TIMEOUT = 300.0  # a server may hold a response stream open


class _Body(httpx2.AsyncByteStream):
    """An ``httpx`` response body read as an ``httpx2`` stream."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class _PolicyTransport(httpx2.AsyncBaseTransport):
    def __init__(self, policy: OutboundPolicy) -> None:
        self._client = httpx.AsyncClient(
            transport=guarded_transport(policy),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(CONNECT_TIMEOUT, read=STREAM_READ_TIMEOUT),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        outgoing = self._client.build_request(
            request.method,
            str(request.url),
            headers=[(k, v) for k, v in request.headers.multi_items()],
            content=body or None,
        )
        try:
            response = await self._client.send(outgoing, stream=True)
        except httpx.TimeoutException as exc:
            raise httpx2.TimeoutException(str(exc) or "timed out", request=request) from exc
        except httpx.HTTPError as exc:
            raise httpx2.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return httpx2.Response(
            response.status_code,
            headers=response.headers.multi_items(),
            stream=_Body(response),
            request=request,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def policy_http_client(
    policy: OutboundPolicy, headers: Mapping[str, str] | None = None
) -> httpx2.AsyncClient:
    """An ``httpx2`` client for the MCP SDK whose connections obey ``policy``.

    Args:
        policy: The outbound-URL policy (``OutboundPolicy.from_settings``).
        headers: Sent with every request (static headers, the user's token).
    """
    return httpx2.AsyncClient(
        transport=_PolicyTransport(policy),
        headers=dict(headers or {}),
        timeout=httpx2.Timeout(CONNECT_TIMEOUT, read=STREAM_READ_TIMEOUT),
        follow_redirects=False,
    )
