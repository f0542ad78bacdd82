"""HTTP clients shared by every provider of the process.

Building an ``openai.AsyncOpenAI`` or ``anthropic.AsyncAnthropic`` client makes a new HTTP
client, which loads the system's CA bundle into a new SSL context (about 20 ms of CPU and close
to 1 MB each). A runner is built per catalog entry and, for entries that hold a user's tools,
per user, so these SDK clients are built often; they differ only in their base URL, key and
headers, which the SDK sends with each request. The providers therefore take their HTTP client
from here: one per event loop and per HTTP library (a connection pool belongs to the loop it is
used on; each SDK has its own HTTP library), all on one SSL context, with the SDKs' own
defaults (``DefaultAsyncHttpxClient``: connection limits, redirects). Timeouts are not the
shared client's: the SDKs pass their ``timeout`` with every request.

A shared client is never closed by a provider; it lives as long as its event loop. Outside a
running loop there is nothing to share: the ``new_*`` functions make a client (still on the
shared SSL context) that its provider closes.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # each SDK is imported by its own provider only
    import anthropic
    import openai


__all__ = [
    "new_anthropic_http_client",
    "new_openai_http_client",
    "shared_anthropic_http_client",
    "shared_openai_http_client",
    "shared_ssl_context",
]

C = TypeVar("C")

_lock = threading.RLock()
_ssl_context: ssl.SSLContext | None = None
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def shared_ssl_context() -> ssl.SSLContext:
    """The process's SSL context for outgoing model calls (the CA bundle is loaded once)."""
    global _ssl_context
    with _lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        return _ssl_context


def new_openai_http_client() -> openai.DefaultAsyncHttpxClient:
    """A client for the ``openai`` SDK (its defaults) on the shared SSL context."""
    import openai

    return openai.DefaultAsyncHttpxClient(verify=shared_ssl_context())


def new_anthropic_http_client() -> anthropic.DefaultAsyncHttpxClient:
    """A client for the ``anthropic`` SDK (its defaults) on the shared SSL context."""
    import anthropic

    return anthropic.DefaultAsyncHttpxClient(verify=shared_ssl_context())


def _shared(kind: str, make: Callable[[], C]) -> C | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    with _lock:
        per_loop = _clients.setdefault(loop, {})
        client = per_loop.get(kind)
        if client is None or client.is_closed:
            client = per_loop[kind] = make()
        shared: C = client
        return shared


def shared_openai_http_client() -> openai.DefaultAsyncHttpxClient | None:
    """The running loop's client for the ``openai`` SDK, or ``None`` outside a loop."""
    return _shared("openai", new_openai_http_client)


def shared_anthropic_http_client() -> anthropic.DefaultAsyncHttpxClient | None:
    """The running loop's client for the ``anthropic`` SDK, or ``None`` outside a loop."""
    return _shared("anthropic", new_anthropic_http_client)
