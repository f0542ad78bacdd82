"""An ``httpx`` client that enforces the outbound-URL policy on every connection and redirect.

- Connections: the transport resolves the host itself, checks every address with the policy
  and connects *to a checked address* (TLS still verifies the URL's host name), so a DNS answer
  that changes between check and connection cannot lead anywhere else. The address actually
  connected to (``network_stream``'s ``server_addr``) is checked again.
- Redirects are followed by hand, at most ``policy.max_redirects`` hops, each target checked
  like the first URL. When a hop changes origin (scheme, host or port), credentials are dropped
  for good: ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``,
  ``PRIVATE-TOKEN``, any header the caller marks secret, ``auth`` and the cookies collected so
  far. A 307/308 redirect that would re-send a request body to another origin is refused.
- Environment proxies are ignored (``trust_env=False``), so the checks apply to the real target.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final

import httpcore
import httpx

from liteagent.errors import LiteAgentError
from liteagent.log import get_logger
from liteagent.security.outbound import OutboundPolicy, OutboundURLError

__all__ = [
    "SECRET_HEADERS",
    "OutboundClient",
    "ResponseTooLargeError",
    "guarded_transport",
    "read_capped",
]

logger = get_logger(__name__)

SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "private-token"}
)


class ResponseTooLargeError(LiteAgentError, status_code=502, error_code="response_too_large"):
    """A response body is larger than the caller's limit (reading stopped there)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"The response is larger than the {limit}-byte limit.")


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host, then connects to one of the checked addresses."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.addresses(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            peer = stream.get_extra_info("server_addr")
            try:
                if peer:
                    self._policy.check_peer(host, str(peer[0]))
            except OutboundURLError:
                await stream.aclose()
                raise
            return stream
        assert failure is not None  # addresses() never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundURLError("", "Unix sockets are not reachable through the outbound policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx offers no parameter for httpcore's network backend: replace the (unopened) pool
        # with one that connects through the policy.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=_GuardedBackend(policy)
        )


def guarded_transport(policy: OutboundPolicy) -> httpx.AsyncBaseTransport:
    """An httpx transport whose every connection goes through ``policy``."""
    return _GuardedTransport(policy, httpx.create_ssl_context(trust_env=False))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = 443 if url.scheme == "https" else 80
    return url.scheme, url.host, url.port or default


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """Read a streamed body, stopping as soon as it exceeds ``max_bytes``.

    Raises:
        ResponseTooLargeError: declared or actual size above ``max_bytes``.
    """
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(max_bytes)
    body = bytearray()
    async for piece in response.aiter_bytes():
        body.extend(piece)
        if len(body) > max_bytes:
            raise ResponseTooLargeError(max_bytes)
    return bytes(body)


class OutboundClient:
    """Sends requests under an :class:`OutboundPolicy` (use as an async context manager).

    Args:
        policy: The policy every connection and redirect obeys.
        timeout: httpx timeout per request (callers bound whole exchanges themselves).
        headers: Headers sent with every request (e.g. ``User-Agent``).
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.policy = policy
        self._client = httpx.AsyncClient(
            transport=guarded_transport(policy),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers=dict(headers or {}),
        )

    async def __aenter__(self) -> OutboundClient:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        secret_headers: Iterable[str] = (),
    ) -> AsyncIterator[httpx.Response]:
        """Send a request, following redirects under the policy; yield the final response.

        The body is not read yet (use :func:`read_capped` or ``aread``).

        Raises:
            OutboundURLError: the URL, a redirect target or a connected address is refused, a
                request body would go to another origin, or there are too many redirects.
            httpx.HTTPError: the exchange itself failed.
        """
        try:
            response = await self._follow(
                method,
                self.policy.parse(url),
                headers=httpx.Headers(dict(headers or {})),
                params=params,
                body={"data": data, "json": json_body, "content": content},
                auth=auth,
                secrets=SECRET_HEADERS | {h.lower() for h in secret_headers},
            )
        except OutboundURLError as exc:
            logger.warning("outbound_refused", host=exc.host, reason=exc.reason)
            raise
        try:
            yield response
        finally:
            await response.aclose()

    async def _follow(
        self,
        method: str,
        url: httpx.URL,
        *,
        headers: httpx.Headers,
        params: Mapping[str, Any] | None,
        body: dict[str, Any],
        auth: httpx.Auth | tuple[str, str] | None,
        secrets: set[str] | frozenset[str],
    ) -> httpx.Response:
        for _ in range(self.policy.max_redirects + 1):
            request = self._client.build_request(
                method, url, headers=headers, params=params, **body
            )
            response = await self._client.send(request, auth=auth, stream=True)
            try:
                self._check_peer(request.url, response)
            except OutboundURLError:
                await response.aclose()
                raise
            location = response.headers.get("location") if response.is_redirect else None
            if location is None:
                return response
            await response.aclose()
            target = self.policy.parse(request.url.join(location))
            status = response.status_code
            has_body = any(v is not None for v in body.values())
            if _origin(target) != _origin(request.url):
                if has_body and status in (307, 308):
                    raise OutboundURLError(
                        target.host, "a redirect would re-send the request body to another host"
                    )
                for name in [n for n in headers if n.lower() in secrets]:
                    del headers[name]
                self._client.cookies.clear()  # cookies the previous origin set stay there
                auth = None
                logger.info("outbound_redirect_cross_origin", host=target.host, status=status)
            if method != "HEAD" and (status == 303 or (status in (301, 302) and method == "POST")):
                method, body = "GET", {"data": None, "json": None, "content": None}
            url, params = target, None
        raise OutboundURLError(url.host, f"more than {self.policy.max_redirects} redirects")

    def _check_peer(self, url: httpx.URL, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer:
            self.policy.check_peer(url.host, str(peer[0]))
