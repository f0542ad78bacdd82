"""Web pages as data sources, fetched under the outbound-URL policy.

- Only ``http``/``https``; every connection, redirect hop and connected address obeys
  ``liteagent.security.outbound`` (private, loopback, link-local and other non-public addresses
  refused unless allow-listed with ``LITEAGENT_OUTBOUND_ALLOW_HOSTS``; ``allow_private=True``,
  from ``LITEAGENT_URL_ALLOW_PRIVATE``, still allows private networks for intranet sources).
- A response larger than ``max_bytes`` is abandoned while streaming; the whole fetch is
  bounded by ``timeout`` seconds.
- HTML becomes readable text (BeautifulSoup); text, Markdown and JSON are kept as they are.
"""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

import httpx

from liteagent.datasources.base import (
    BaseDataSourceProvider,
    DataSourceContent,
    DataSourceFetchError,
    DataSourceNotFoundError,
)
from liteagent.datasources.html import html_to_text
from liteagent.log import get_logger
from liteagent.security.outbound import OutboundPolicy, address_refusal
from liteagent.security.outbound_client import OutboundClient, ResponseTooLargeError, read_capped

__all__ = ["URLDataSourceProvider", "is_public_address"]

logger = get_logger(__name__)

_TEXT_TYPES = ("text/plain", "text/markdown", "application/json", "text/csv", "text/x-rst")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is a routable public address (the outbound rules)."""
    return address_refusal(ipaddress.ip_address(address.split("%", 1)[0])) is None


class URLDataSourceProvider(BaseDataSourceProvider):
    """Fetches ``http(s)`` URLs.

    Args:
        policy: The outbound-URL policy (default: nothing private allowed, or
            ``allow_private``).
        allow_private: Allow private and loopback networks (intranet sources) when no
            ``policy`` is given.
        max_bytes: Largest response body accepted.
        timeout: Seconds for the whole fetch, redirects included.
        max_redirects: Redirect hops followed when no ``policy`` is given.
    """

    def __init__(
        self,
        *,
        policy: OutboundPolicy | None = None,
        allow_private: bool = False,
        max_bytes: int = 5 * 1024 * 1024,
        timeout: float = 20.0,
        max_redirects: int = 5,
        user_agent: str = "LiteAgent/0.1 (+knowledge-base ingestion)",
    ) -> None:
        self.policy = policy or OutboundPolicy(
            allow_private=allow_private, max_redirects=max_redirects
        )
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.user_agent = user_agent

    async def validate_source(self, source: str) -> bool:
        parts = urlsplit(source)
        return parts.scheme in ("http", "https") and bool(parts.hostname)

    async def _fetch(self, url: str) -> tuple[bytes, str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": "text/html, text/*;q=0.9, */*;q=0.1"}
        async with (
            OutboundClient(self.policy, timeout=self.timeout, headers=headers) as client,
            client.stream("GET", url) as response,
        ):
            current = str(response.url)
            if response.status_code == 404:
                raise DataSourceNotFoundError(f"'{current}' was not found (HTTP 404).")
            if response.is_redirect:
                raise DataSourceFetchError(f"'{current}' redirected nowhere.")
            if response.status_code >= 400:
                raise DataSourceFetchError(f"'{current}' answered HTTP {response.status_code}.")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise DataSourceFetchError(
                    f"'{current}' is {declared} bytes; the limit is {self.max_bytes}."
                )
            try:
                body = await read_capped(response, self.max_bytes)
            except ResponseTooLargeError:
                raise DataSourceFetchError(
                    f"'{current}' is larger than the {self.max_bytes}-byte limit."
                ) from None
            return body, response.headers.get("content-type", ""), current

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
