"""Keep the proxy's long-lived heap out of the garbage collector's way.

A running LiteLLM proxy holds close to a million objects that live as long as it does (its
modules, routes, model map and price map, the catalog). CPython's full collection (generation
2) walks every one of them: on a 2-core machine that is 1.4 s, during which no request moves,
and it comes round more often the more each request allocates. ``gc.freeze()`` moves every
object alive at that moment into a permanent generation the collector no longer visits, so a
full collection only walks what was made since.

The proxy freezes its heap twice: when the catalog is registered (start-up is over), and after
its first ``settle_after`` requests, which import the parts of LiteLLM and of the SDKs that are
only loaded on first use. Objects frozen are never freed, so nothing request-scoped may be alive
then: the second freeze runs between requests' allocations as they happen, and what it pins is
at most the handful of requests in flight at that moment.
"""

from __future__ import annotations

import gc
import threading

from liteagent.log import get_logger

__all__ = ["freeze_heap", "note_request"]

logger = get_logger(__name__)

SETTLE_AFTER = 200
"""Requests served before the second freeze."""

_lock = threading.Lock()
_requests = 0


def freeze_heap(reason: str) -> None:
    """Collect what is garbage now, then freeze everything still alive."""
    gc.collect()
    gc.freeze()
    logger.info("heap_frozen", reason=reason, frozen_objects=gc.get_freeze_count())


def note_request() -> None:
    """Count one request; the ``SETTLE_AFTER``-th freezes the heap once more."""
    global _requests
    with _lock:
        _requests += 1
        if _requests != SETTLE_AFTER:
            return
    freeze_heap("first_requests_served")
