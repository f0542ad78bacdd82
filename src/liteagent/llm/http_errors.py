"""Map an upstream HTTP failure to LiteAgent's ``LLMProviderError`` family, one way for all.

``map_upstream_error`` classifies any failure of a call (timeouts, connection failures, broken
streams, malformed bodies, error statuses); a provider whose client library has exceptions of
its own names them and says how to read its status errors, which go through
``error_for_status``. Messages name the provider and model, never a credential.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from liteagent.errors import (
    ContextWindowExceededError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    LLMUnavailableError,
)

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "prompt is too long",
    "maximum context",
    "too many tokens",
)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_context_overflow(detail: str, code: str | None = None) -> bool:
    text = f"{code or ''} {detail}".lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def error_for_status(
    status: int,
    detail: str,
    *,
    provider: str,
    model: str,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
) -> LLMProviderError:
    """The LiteAgent error for an HTTP error response from an LLM server."""
    kwargs: dict[str, Any] = {"provider": provider, "model": model, "upstream_status": status}
    detail = detail.strip() or "no details"
    if status == 429:
        retry_after = parse_retry_after((headers or {}).get("retry-after"))
        return LLMRateLimitError(
            f"rate limited (HTTP 429): {detail}", retry_after=retry_after, **kwargs
        )
    if status in (401, 403):
        return LLMProviderError(
            f"authentication failed (HTTP {status}); check the provider's API key", **kwargs
        )
    if status in (400, 413, 422) and is_context_overflow(detail, code):
        return ContextWindowExceededError(detail, **kwargs)
    if status == 408:
        return LLMTimeoutError(f"the server timed out (HTTP 408): {detail}", **kwargs)
    if status == 529:
        return LLMUnavailableError(f"overloaded (HTTP 529): {detail}", **kwargs)
    if status >= 500:
        return LLMUnavailableError(f"server error (HTTP {status}): {detail}", **kwargs)
    if status == 404:
        return LLMProviderError(f"model or endpoint not found (HTTP 404): {detail}", **kwargs)
    return LLMProviderError(f"HTTP {status}: {detail}", **kwargs)


def connection_error(provider: str, model: str) -> LLMUnavailableError:
    return LLMUnavailableError("could not connect to the server", provider=provider, model=model)


def timeout_error(provider: str, model: str) -> LLMTimeoutError:
    return LLMTimeoutError("the request timed out", provider=provider, model=model)


def broken_stream_error(provider: str, model: str) -> LLMUnavailableError:
    return LLMUnavailableError(
        "the stream ended before the answer was complete", provider=provider, model=model
    )


def stream_failure(error: LLMProviderError, *, opened: bool) -> LLMProviderError:
    """Classify a stream's failure by what happened, not by how the transport reported it.

    Once the server has started answering (``opened``: the response arrived and was being
    read), losing the connection means the stream broke off with part of the answer given —
    never "could not connect", whichever exception the HTTP stack raised for the dropped socket
    (a reset can surface as a read error or as a connect-class error under load).
    """
    if opened and type(error) is LLMUnavailableError and error.upstream_status is None:
        return broken_stream_error(error.provider, error.model or "")
    return error


def malformed_error(provider: str, model: str, what: str = "response") -> LLMProviderError:
    return LLMProviderError(
        f"the server sent a malformed {what} (not the expected JSON)",
        provider=provider,
        model=model,
    )


def map_upstream_error(
    exc: Exception,
    *,
    provider: str,
    model: str,
    timeouts: tuple[type[BaseException], ...] = (),
    transport_errors: tuple[type[BaseException], ...] = (),
    broken: tuple[type[BaseException], ...] = (httpx.RemoteProtocolError,),
    status_error: Callable[[Exception], LLMProviderError | None] | None = None,
) -> LLMProviderError:
    """The LiteAgent error for any failure of a call to an LLM server.

    Args:
        exc: What the call raised (an ``LLMProviderError`` is returned as it is).
        provider: The provider's name, for the message.
        model: The model's name, for the message.
        timeouts: The client library's timeout exceptions (httpx's are always included).
        transport_errors: Its connection-failure exceptions (httpx's are always included).
        broken: Exceptions (raised, or the cause of a transport error) meaning the server
            dropped the connection while answering.
        status_error: Reads the library's error-status exceptions (``None`` when the
            exception is not one).
    """
    if isinstance(exc, LLMProviderError):
        return exc
    if isinstance(exc, (httpx.TimeoutException, *timeouts)):
        return timeout_error(provider, model)
    if isinstance(exc, (httpx.TransportError, *transport_errors)):
        if isinstance(exc, broken) or isinstance(exc.__cause__, broken):
            return broken_stream_error(provider, model)
        return connection_error(provider, model)
    mapped = status_error(exc) if status_error is not None else None
    if mapped is not None:
        return mapped
    if isinstance(exc, ValueError):  # json.JSONDecodeError and friends
        return malformed_error(provider, model)
    return LLMProviderError(
        f"unexpected response ({type(exc).__name__})", provider=provider, model=model
    )
