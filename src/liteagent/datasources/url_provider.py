"""Web pages as data sources, fetched safely.

- Only ``http``/``https``. Private, loopback, link-local (cloud metadata), multicast, reserved
  and unspecified addresses are refused unless ``allow_private=True``: every host name is
  resolved before connecting, and the address actually connected to is checked again (a DNS
  answer that changes between the two is caught too). Redirects are followed by hand, each hop
  checked the same way.
- A response larger than ``max_bytes`` is abandoned while streaming; the whole fetch is
  bounded by ``timeout`` seconds.
- HTML becomes readable text (BeautifulSoup); text, Markdown and JSON are kept as they are.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from liteagent.datasources.base import (
    BaseDataSourceProvider,
    DataSourceContent,
    DataSourceFetchError,
    DataSourceNotFoundError,
)
from liteagent.datasources.html import html_to_text
from liteagent.errors import InvalidRequestError
from liteagent.log import get_logger

__all__ = ["URLDataSourceProvider", "is_public_address"]

logger = get_logger(__name__)

_TEXT_TYPES = ("text/plain", "text/markdown", "application/json", "text/csv", "text/x-rst")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is a routable public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


class URLDataSourceProvider(BaseDataSourceProvider):
    """Fetches ``http(s)`` URLs.

    Args:
        allow_private: Allow private, loopback and link-local addresses (intranet sources).
        max_bytes: Largest response body accepted.
        timeout: Seconds for the whole fetch, redirects included.
        max_redirects: Redirect hops followed.
        transport: Custom httpx transport (tests).
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        max_bytes: int = 5 * 1024 * 1024,
        timeout: float = 20.0,
        max_redirects: int = 5,
        user_agent: str = "LiteAgent/0.1 (+knowledge-base ingestion)",
    ) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.user_agent = user_agent

    async def validate_source(self, source: str) -> bool:
        parts = urlsplit(source)
        return parts.scheme in ("http", "https") and bool(parts.hostname)

    async def _check_host(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequestError(f"Only http(s) URLs can be fetched (got '{url}').")
        if self.allow_private:
            return
        host = parts.hostname
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            addresses = [host]
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
            except socket.gaierror:
                raise DataSourceNotFoundError(f"Host '{host}' could not be resolved.") from None
            addresses = [str(info[4][0]) for info in infos]
        blocked = [a for a in addresses if not is_public_address(a)]
        if blocked or not addresses:
            raise DataSourceFetchError(
                f"Refusing to fetch '{url}': {host} resolves to a private, loopback or "
                "link-local address. Allow private addresses explicitly for intranet sources."
            )

    def _check_peer(self, url: str, response: httpx.Response) -> None:
        if self.allow_private:
            return
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer and not is_public_address(str(peer[0])):
            raise DataSourceFetchError(
                f"Refusing to read '{url}': the connection went to a non-public address."
            )

    async def _fetch(self, url: str) -> tuple[bytes, str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": "text/html, text/*;q=0.9, */*;q=0.1"}
        async with httpx.AsyncClient(follow_redirects=False, timeout=self.timeout) as client:
            current = url
            for _ in range(self.max_redirects + 1):
                await self._check_host(current)
                async with client.stream("GET", current, headers=headers) as response:
                    self._check_peer(current, response)
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise DataSourceFetchError(f"'{current}' redirected nowhere.")
                        current = urljoin(current, location)
                        continue
                    if response.status_code == 404:
                        raise DataSourceNotFoundError(f"'{current}' was not found (HTTP 404).")
                    if response.status_code >= 400:
                        raise DataSourceFetchError(
                            f"'{current}' answered HTTP {response.status_code}."
                        )
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise DataSourceFetchError(
                            f"'{current}' is {declared} bytes; the limit is {self.max_bytes}."
                        )
                    body = bytearray()
                    async for piece in response.aiter_bytes():
                        body.extend(piece)
                        if len(body) > self.max_bytes:
                            raise DataSourceFetchError(
                                f"'{current}' is larger than the {self.max_bytes}-byte limit."
                            )
                    content_type = response.headers.get("content-type", "")
                    return bytes(body), content_type, current
            raise DataSourceFetchError(f"'{url}' redirected more than {self.max_redirects} times.")

    async def fetch_content(self, source: str) -> DataSourceContent:
        try:
            async with asyncio.timeout(self.timeout):
                body, content_type, final_url = await self._fetch(source)
        except TimeoutError:
            raise DataSourceFetchError(
                f"Fetching '{source}' took longer than {self.timeout:g} s."
            ) from None
        except httpx.HTTPError as exc:
            raise DataSourceFetchError(
                f"Fetching '{source}' failed: {type(exc).__name__}."
            ) from None
        mime = content_type.split(";", 1)[0].strip().lower()
        charset = "utf-8"
        if "charset=" in content_type:
            charset = content_type.split("charset=", 1)[1].split(";")[0].strip() or "utf-8"
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        title: str | None = None
        if mime in _HTML_TYPES or (not mime and text.lstrip().startswith("<")):
            text, title = html_to_text(text)
        elif mime and mime not in _TEXT_TYPES and not mime.startswith("text/"):
            raise DataSourceFetchError(f"'{source}' is {mime}, not text or HTML.")
        logger.info("url_fetched", url=final_url, bytes=len(body), content_type=mime)
        return DataSourceContent(
            content=text,
            source=source,
            metadata={
                "name": title or final_url,
                "url": final_url,
                "type": "url",
                "content_type": mime,
                **({"title": title} if title else {}),
            },
        )
