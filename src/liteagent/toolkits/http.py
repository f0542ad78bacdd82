"""HTTP calls of the toolkits: one ``httpx`` request, errors turned into readable messages.

A client is opened per call, so the same toolkit works from any event loop (the proxy's, or the
private loop of the synchronous ``completion``). Errors never carry the credential: request
headers are not part of any message, and upstream bodies are cut and redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from liteagent.redaction import redact_text
from liteagent.toolkits.base import ToolkitError


class ToolkitAuthError(ToolkitError):
    """The service rejected the credentials (401/403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _upstream_detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return redact_text(response.text[:200].strip())
    if isinstance(data, Mapping):
        if isinstance(data.get("error"), str):  # OAuth: {"error": code, "error_description"}
            text = data["error"]
            if data.get("error_description"):
                text += f": {data['error_description']}"
            return redact_text(text[:200])
        for key in ("errorMessages", "message", "error_description", "error"):
            value = data.get(key)
            if isinstance(value, Mapping):
                value = value.get("message")
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            if value:
                return redact_text(str(value)[:200])
    return ""


async def request_json(
    service: str,
    method: str,
    url: str,
    *,
    timeout: float,  # noqa: ASYNC109 - httpx timeout, per request
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, str] | None = None,
    json_body: Any = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
) -> Any:
    """Send one request and return its JSON body (``None`` for an empty body).

    Raises:
        ToolkitAuthError: 401 or 403.
        ToolkitError: any other failure, with a message for the user.
    """
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.request(
                method,
                url,
                headers=dict(headers or {}),
                params=params,
                data=data,
                json=json_body,
                auth=auth,
            )
    except httpx.TimeoutException:
        raise ToolkitError(f"{service} did not answer within {timeout:g} seconds.") from None
    except httpx.HTTPError as exc:
        host = httpx.URL(url).host
        raise ToolkitError(f"Could not reach {service} at {host}: {type(exc).__name__}.") from None
    if response.status_code in (401, 403):
        detail = _upstream_detail(response)
        raise ToolkitAuthError(
            f"{service} refused the credentials (HTTP {response.status_code})"
            + (f": {detail}" if detail else "."),
            response.status_code,
        )
    if response.status_code >= 400:
        detail = _upstream_detail(response)
        raise ToolkitError(
            f"{service} answered HTTP {response.status_code}" + (f": {detail}" if detail else ".")
        )
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ToolkitError(f"{service} answered with something that is not JSON.") from None


async def request_text(
    service: str,
    url: str,
    *,
    timeout: float,  # noqa: ASYNC109 - httpx timeout, per request
    headers: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    limit: int = 20_000,
) -> str:
    """GET a text body (a document's content), cut to ``limit`` characters."""
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            response = await client.get(url, headers=dict(headers), params=params)
    except httpx.TimeoutException:
        raise ToolkitError(f"{service} did not answer within {timeout:g} seconds.") from None
    except httpx.HTTPError as exc:
        raise ToolkitError(f"Could not reach {service}: {type(exc).__name__}.") from None
    if response.status_code in (401, 403):
        raise ToolkitAuthError(
            f"{service} refused the credentials (HTTP {response.status_code}).",
            response.status_code,
        )
    if response.status_code >= 400:
        detail = _upstream_detail(response)
        raise ToolkitError(
            f"{service} answered HTTP {response.status_code}" + (f": {detail}" if detail else ".")
        )
    text = response.text
    return text if len(text) <= limit else text[:limit] + "\n…(cut)"
