"""Fault injection shared by the wire-format servers.

A scripted reply may carry faults: ``delay`` (seconds before answering, to trigger client
timeouts), ``raw_body`` (sent as is with a JSON content type: malformed JSON), ``status`` with an
error body and ``headers`` (429 with ``Retry-After``, 500, 503…), and for streams ``cut_after``
(stop after that many content events) with ``cut_mode`` ``"close"`` (the stream just ends, no
terminator) or ``"abort"`` (the connection drops mid-body).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal


class ConnectionAborted(Exception):
    """Raised inside a streaming body: uvicorn then drops the connection mid-response."""


@dataclass
class Faults:
    delay: float = 0.0
    raw_body: str | None = None
    cut_after: int | None = None
    cut_mode: Literal["close", "abort"] = "close"
    headers: dict[str, str] = field(default_factory=dict)


async def apply_delay(faults: Faults) -> None:
    if faults.delay:
        await asyncio.sleep(faults.delay)


async def cut(
    events: AsyncIterator[bytes], faults: Faults, is_content: object
) -> AsyncIterator[bytes]:
    """Pass ``events`` through, stopping after ``cut_after`` content events when asked."""
    sent = 0
    async for event in events:
        if faults.cut_after is not None and sent >= faults.cut_after:
            if faults.cut_mode == "abort":
                raise ConnectionAborted("stream cut by the test")
            return
        yield event
        if callable(is_content) and is_content(event):
            sent += 1
