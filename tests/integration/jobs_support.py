"""Shared parts of the background-job tests: a webhook receiver, a catalog, waiting helpers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from liteagent.tasks import verify_signature

WEBHOOK_SECRET = "whsec-test-0123456789abcdef"

CATALOG = """\
models:
  helper:
    description: A test agent.
    model: openai/gpt-4o-mini
    system_prompt: Answer briefly.
  handbook:
    kind: rag
    description: A test knowledge base.
    sources: [handbook/]
    embedder: none
    answer: extractive
"""


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    arrived: float
    signature_ok: bool


@dataclass
class WebhookReceiver:
    """Answers webhook deliveries with scripted statuses (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    deliveries: list[Delivery] = field(default_factory=list)
    hang_first: bool = False
    first_arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("x-liteagent-signature", "")
        self.deliveries.append(
            Delivery(
                body,
                dict(request.headers),
                time.monotonic(),
                verify_signature(WEBHOOK_SECRET, body, signature),
            )
        )
        if self.hang_first and len(self.deliveries) == 1:
            self.first_arrived.set()
            # The worker holding this request is killed while it waits here.
            await asyncio.to_thread(self.release.wait, 120)
        index = min(len(self.deliveries), len(self.statuses)) - 1
        return JSONResponse({"ok": True}, status_code=self.statuses[index])


def write_project(root: Path) -> dict[str, str]:
    """A catalog with an agent and a RAG entry over two files; returns the environment."""
    (root / "handbook").mkdir()
    (root / "handbook" / "leave.md").write_text(
        "# Leave\n\nEmployees get 30 days of paid leave per year.\n"
    )
    (root / "handbook" / "travel.md").write_text(
        "# Travel\n\nTrain travel is booked in second class.\n"
    )
    (root / "liteagent.yaml").write_text(CATALOG)
    return {
        "LITEAGENT_CATALOG": str(root / "liteagent.yaml"),
        "LITEAGENT_KNOWLEDGE_DIR": str(root / "knowledge"),
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'liteagent.db'}",
        "LITEAGENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LITEAGENT_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        "LITEAGENT_JOB_RETRY_BACKOFF": "0.05",
        "LITEAGENT_JOB_RETRY_BACKOFF_MAX": "0.4",
        "LITEAGENT_WEBHOOK_MAX_RETRIES": "3",
        "LITEAGENT_JOB_MAX_RETRIES": "2",
        "LITEAGENT_EMBEDDER": "none",
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "text",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "OPENAI_API_KEY": "sk-test-jobs",
        "LITEAGENT_DEFAULT_MODEL": "openai/gpt-4o-mini",
    }


async def wait_until(
    condition: Callable[[], Any], *, limit: float = 90.0, what: str = "condition"
) -> Any:
    """Poll ``condition`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
