"""The background jobs exercised end to end; run by the in-process and the Celery tests alike.

Each scenario takes a ``Harness`` (queue a job, wait until it has finished) and the test's
real servers, so both runners are held to exactly the same expectations.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liteagent.agents.run_store import RunStore, StoredRun
from liteagent.agents.state import AgentState
from liteagent.agents.types import AgentStep, StepType
from liteagent.storage.database import Database
from liteagent.tasks import Job, JobStatus, backoff_delay
from liteagent.tasks.definitions import get_job
from tests.integration.jobs_support import WEBHOOK_SECRET, WebhookReceiver
from tests.servers.openai_wire import OpenAIWireServer


@dataclass
class Harness:
    enqueue: Callable[..., Awaitable[str]]
    finished: Callable[[str], Awaitable[Job]]
    get: Callable[[str], Awaitable[Job | None]]
    settings: Any
    root: Path


async def refresh_datasources(h: Harness) -> None:
    job = await h.finished(await h.enqueue("refresh_datasource", datasource_id="handbook"))
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result["sources_added"] == 2 and job.result["chunks_written"] >= 2
    (h.root / "handbook" / "travel.md").write_text("# Travel\n\nFlights need approval.\n")
    job = await h.finished(await h.enqueue("refresh_all_datasources"))
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result["refreshed"] == ["handbook"]
    report = job.result["reports"]["handbook"]
    assert (report["sources_updated"], report["sources_unchanged"]) == (1, 1)


async def refresh_unknown_datasource_fails_once(h: Harness) -> None:
    job = await h.finished(await h.enqueue("refresh_datasource", datasource_id="nope"))
    assert job.status is JobStatus.FAILED
    assert job.attempts == 1  # bad input is not retried
    assert "'nope' is not a kind: rag entry" in (job.error or "")


async def cleanup_expired_datasources(h: Harness) -> None:
    knowledge = h.root / "knowledge"
    for name in ("old-kb", "fresh-kb", "handbook"):
        (knowledge / name).mkdir(parents=True, exist_ok=True)
        (knowledge / name / "store.json").write_text("{}")
    three_days_ago = time.time() - 3 * 86400
    for path in (knowledge / "old-kb" / "store.json", knowledge / "handbook" / "store.json"):
        os.utime(path, (three_days_ago, three_days_ago))
    job = await h.finished(await h.enqueue("cleanup_expired_datasources"))
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result == 1
    assert not (knowledge / "old-kb").exists()
    assert (knowledge / "fresh-kb").exists()  # not expired yet
    assert (knowledge / "handbook").exists()  # still named by the catalog


async def process_chat(h: Harness, llm: OpenAIWireServer) -> None:
    llm.reply_text("You get 30 days of leave.")
    job = await h.finished(
        await h.enqueue(
            "process_chat_async",
            agent_id="helper",
            messages=[{"role": "user", "content": "How much leave do I get?"}],
            user_id="alice",
        )
    )
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result["choices"][0]["message"]["content"].strip() == "You get 30 days of leave."
    assert job.result["usage"]["total_tokens"] > 0
    sent = llm.requests[-1]["body"]["messages"]
    assert sent[0]["role"] == "system" and "Answer briefly." in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "How much leave do I get?"}
    # A second chat in the same process (worker) works as well as the first.
    llm.reply_text("Second class.")
    again = await h.finished(
        await h.enqueue(
            "process_chat_async",
            agent_id="helper",
            messages=[{"role": "user", "content": "How do I travel by train?"}],
            user_id="bob",
        )
    )
    assert again.status is JobStatus.SUCCEEDED, again.error
    assert again.result["choices"][0]["message"]["content"].strip() == "Second class."


async def process_chat_unknown_agent(h: Harness) -> None:
    job = await h.finished(
        await h.enqueue(
            "process_chat_async",
            agent_id="ghost",
            messages=[{"role": "user", "content": "hi"}],
            user_id="alice",
        )
    )
    assert job.status is JobStatus.FAILED and job.attempts == 1
    assert "available: handbook, helper" in (job.error or "")


async def batch_embed(h: Harness) -> None:
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly tax filing."]
    job = await h.finished(await h.enqueue("batch_embed_documents", documents=texts))
    assert job.status is JobStatus.SUCCEEDED, job.error
    vectors = job.result
    assert len(vectors) == 3 and {len(v) for v in vectors} == {384}

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2]) + 0.2


async def summarize(h: Harness, llm: OpenAIWireServer) -> None:
    database = Database(h.settings.database_url)
    state = AgentState(
        agent_id="helper",
        steps=[
            AgentStep(StepType.USER_MESSAGE, "How many leave days do I have?"),
            AgentStep(StepType.ASSISTANT_MESSAGE, "You have 30 days per year."),
        ],
    )
    try:
        await RunStore(database).put(
            StoredRun(session_key="u1:chat:c42", agent="helper", state=state)
        )
    finally:
        await database.dispose()
    llm.reply_text("The user asked about leave; they have 30 days.")
    job = await h.finished(
        await h.enqueue("summarize_conversation", conversation_id="u1:chat:c42", max_tokens=80)
    )
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result == "The user asked about leave; they have 30 days."
    body = llm.requests[-1]["body"]
    assert body["max_tokens"] == 80
    transcript = body["messages"][-1]["content"]
    assert "User: How many leave days do I have?" in transcript
    assert "Assistant: You have 30 days per year." in transcript
    missing = await h.finished(
        await h.enqueue("summarize_conversation", conversation_id="u1:chat:none")
    )
    assert missing.status is JobStatus.FAILED and "No stored conversation" in (missing.error or "")


def _gaps(receiver: WebhookReceiver) -> list[float]:
    times = [d.arrived for d in receiver.deliveries]
    return [b - a for a, b in itertools.pairwise(times)]


async def webhook_retried_then_delivered(h: Harness, receiver: WebhookReceiver, url: str) -> None:
    receiver.statuses = [503, 502, 200]
    job_id = await h.enqueue(
        "deliver_webhook",
        webhook_url=f"{url}/hook",
        event_type="datasource.refreshed",
        payload={"datasource": "handbook", "chunks": 3},
        headers={"Authorization": "Bearer receiver-token-123"},
    )
    job = await h.finished(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.attempts == 3 and job.result["status_code"] == 200
    assert len(receiver.deliveries) == 3
    for delivery in receiver.deliveries:
        assert delivery.signature_ok
        assert delivery.headers["x-liteagent-delivery"] == job_id  # same id on every retry
        assert delivery.headers["x-liteagent-event"] == "datasource.refreshed"
        assert delivery.headers["authorization"] == "Bearer receiver-token-123"
        body = json.loads(delivery.body)
        assert body["data"] == {"datasource": "handbook", "chunks": 3}
    # Exponential backoff: each wait at least the policy's delay (never shorter).
    policy = get_job("deliver_webhook").policy(h.settings)
    for n, gap in enumerate(_gaps(receiver), start=1):
        assert gap >= backoff_delay(policy, n) * 0.9
    # The receiver's token is not kept in the jobs table.
    assert job.args["headers"]["Authorization"] == "***"
    assert "receiver-token-123" not in json.dumps(job.args)


async def webhook_dead_letter(h: Harness, receiver: WebhookReceiver, url: str) -> None:
    receiver.statuses = [500]
    job = await h.finished(
        await h.enqueue(
            "deliver_webhook",
            webhook_url=f"{url}/hook",
            event_type="chat.completed",
            payload={"chat": "c1"},
        )
    )
    retries = h.settings.webhook_max_retries
    assert job.status is JobStatus.DEAD_LETTER
    assert job.attempts == retries + 1 == len(receiver.deliveries)
    assert job.error == "RetryableJobError: The webhook answered HTTP 500."
    assert job.args["payload"] == {"chat": "c1"}  # kept for a replay
    gaps = _gaps(receiver)
    policy = get_job("deliver_webhook").policy(h.settings)
    expected = [backoff_delay(policy, n) for n in range(1, retries + 1)]
    assert expected == sorted(expected) and expected[0] < expected[-1]
    for gap, delay in zip(gaps, expected, strict=True):
        assert gap >= delay * 0.9
    # Dead letters stay until the clean-up removes them.
    kept = await h.finished(await h.enqueue("cleanup_failed_webhooks", hours_old=24))
    assert kept.result == 0 and await h.get(job.id) is not None
    removed = await h.finished(await h.enqueue("cleanup_failed_webhooks", hours_old=0))
    assert removed.status is JobStatus.SUCCEEDED and removed.result >= 1
    assert await h.get(job.id) is None


async def webhook_refused_url(h: Harness, receiver: WebhookReceiver) -> None:
    job = await h.finished(
        await h.enqueue(
            "deliver_webhook",
            webhook_url="http://169.254.169.254/latest/meta-data",
            event_type="x",
            payload={},
        )
    )
    assert job.status is JobStatus.DEAD_LETTER and job.attempts == 1
    assert "The webhook URL is refused" in (job.error or "")
    assert receiver.deliveries == []
    assert WEBHOOK_SECRET not in (job.error or "")
