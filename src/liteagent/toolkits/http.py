"""HTTP calls of the toolkits: one request under the outbound-URL policy, readable errors.

Every call goes through ``liteagent.security.outbound_client``: a service URL that a user sent in
the chat (``jira url http://…``) reaches a private, loopback or link-local address only when the
operator lists its host in ``LITEAGENT_OUTBOUND_ALLOW_HOSTS``; redirects are re-checked and lose
the credentials when they leave the origin.

A client is opened per call, so the same toolkit works from any event loop (the proxy's, or the
private loop of the synchronous ``completion``). Errors never carry the credential: request
headers are not part of any message. Upstream error bodies are cut and redacted, and not quoted
at all while the service is unverified (``detail=False``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from liteagent.redaction import redact_text
from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.security.outbound_client import OutboundClient, ResponseTooLargeError, read_capped
from liteagent.toolkits.errors import ToolkitError

MAX_RESPONSE_BYTES = 5 * 1024 * 1024


class ToolkitAuthError(ToolkitError):
    """The service rejected the credentials (401/403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _upstream_detail(content: bytes) -> str:
    try:
        data = json.loads(content)
    except ValueError:
        return redact_text(content[:200].decode("utf-8", errors="replace").strip())
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


def _refused(exc: OutboundURLError) -> ToolkitError:
    return ToolkitError(exc.message)


def _status_error(
    service: str, response: httpx.Response, content: bytes, *, detail: bool
) -> ToolkitError:
    status = response.status_code
    text = _upstream_detail(content) if detail else ""
    message = f"{service} at {response.url.host} answered HTTP {status}"
    if text:
        message += f": {text}"
    elif status in (401, 403):
        message += "; check the token."
    else:
        message += "."
    if status in (401, 403):
        return ToolkitAuthError(message, status)
    return ToolkitError(message)


async def request_json(
    service: str,
    method: str,
    url: str,
    *,
    policy: OutboundPolicy,
    timeout: float,  # noqa: ASYNC109 - httpx timeout, per request
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, str] | None = None,
    json_body: Any = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    detail: bool = True,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Any:
    """Send one request under ``policy`` and return its JSON body (``None`` for an empty body).

    Args:
        detail: Quote a short, redacted excerpt of the service's error answer in errors. Pass
            ``False`` while the service is not verified yet (checking a user's URL and token):
            the answer of an unknown host is never shown.

    Raises:
        ToolkitAuthError: 401 or 403.
        ToolkitError: any other failure (also a URL the outbound policy refuses), with a
            message for the user.
    """
    content, _ = await _fetch(
        service,
        method,
        url,
        policy=policy,
        timeout=timeout,
        max_bytes=max_bytes,
        detail=detail,
        headers=headers,
        params=params,
        data=data,
        json_body=json_body,
        auth=auth,
    )
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        raise ToolkitError(f"{service} answered with something that is not JSON.") from None


async def request_text(
    service: str,
    url: str,
    *,
    policy: OutboundPolicy,
    timeout: float,  # noqa: ASYNC109 - httpx timeout, per request
    headers: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    limit: int = 20_000,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> str:
    """GET a text body (a document's content) under ``policy``, cut to ``limit`` characters.

    Redirects are followed under the policy; credentials are not sent to another origin.
    """
    content, encoding = await _fetch(
        service,
        "GET",
        url,
        policy=policy,
        timeout=timeout,
        max_bytes=max_bytes,
        detail=True,
        headers=headers,
        params=params,
    )
    text = content.decode(encoding, errors="replace")
    return text if len(text) <= limit else text[:limit] + "\n…(cut)"


async def _fetch(
    service: str,
    method: str,
    url: str,
    *,
    policy: OutboundPolicy,
    timeout: float,  # noqa: ASYNC109 - httpx timeout, per request
    max_bytes: int,
    detail: bool,
    **request: Any,
) -> tuple[bytes, str]:
    """One request under ``policy``: the body (at most ``max_bytes``) and its text encoding.

    Raises:
        ToolkitAuthError: 401 or 403.
        ToolkitError: any other failure, with a message for the user.
    """
    try:
        async with (
            OutboundClient(policy, timeout=timeout) as client,
            client.stream(method, url, **request) as response,
        ):
            content = await read_capped(response, max_bytes)
            if response.status_code >= 300:
                raise _status_error(service, response, content, detail=detail)
            return content, response.encoding or "utf-8"
    except OutboundURLError as exc:
        raise _refused(exc) from None
    except ResponseTooLargeError:
        raise ToolkitError(f"{service} answered with more than {max_bytes} bytes.") from None
    except httpx.TimeoutException:
        raise ToolkitError(f"{service} did not answer within {timeout:g} seconds.") from None
    except httpx.HTTPError as exc:
        host = httpx.URL(url).host
        raise ToolkitError(f"Could not reach {service} at {host}: {type(exc).__name__}.") from None
