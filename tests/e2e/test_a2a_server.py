"""End to end: ``liteagent a2a`` started as a user would, used with the A2A SDK's client.

The catalog agent's model is a local server speaking OpenAI's wire format. The client discovers
the card by URL (as LiteLLM's Agent Gateway does when an agent is onboarded) and gets answers,
streaming and not; a request without the master key is refused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.helpers import get_message_text
from a2a.types import Message, Part, Role, SendMessageRequest, TaskState

from tests.e2e.proxy import BIN, MASTER_KEY, make_project, run_proxy
from tests.servers.http import free_port, serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

CATALOG = """
models:
  greeter:
    description: Greets people.
    model: openai/gpt-test
    system_prompt: You greet people.
    tools: [current_time]
"""


@pytest.fixture
def a2a_server(tmp_path: Path) -> Iterator[tuple[str, OpenAIWireServer]]:
    upstream = OpenAIWireServer()
    with serve_app(upstream.app) as upstream_url:
        project = make_project(tmp_path, CATALOG)
        port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPENAI_", "LITEAGENT_", "ANTHROPIC_"))
        }
        env.update(
            {
                "LITELLM_MASTER_KEY": MASTER_KEY,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "ENVIRONMENT": "development",
                "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
                "OPENAI_BASE_URL": f"{upstream_url}/v1",
                "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/agent.db",
            }
        )
        log = (project / "a2a.log").open("wb")
        proc = subprocess.Popen(
            [str(BIN / "liteagent"), "a2a", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError((project / "a2a.log").read_text()[-3000:])
                try:
                    if httpx.get(f"{url}/", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("liteagent a2a did not start")
                time.sleep(0.2)
            yield url, upstream
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            log.close()


async def _ask(url: str, text: str, *, streaming: bool) -> tuple[int, str, str]:
    """(final state, final message text, streamed artifact text)."""
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=120)
    client = await create_client(
        url, client_config=ClientConfig(streaming=streaming, httpx_client=http)
    )
    message = Message(
        role=Role.ROLE_USER,
        message_id=str(uuid.uuid4()),
        context_id=str(uuid.uuid4()),
        parts=[Part(text=text)],
    )
    try:
        events = [e async for e in client.send_message(SendMessageRequest(message=message))]
    finally:
        await client.close()
        await http.aclose()
    final = [
        e.status_update.status if e.HasField("status_update") else e.task.status
        for e in events
        if e.HasField("status_update") or e.HasField("task")
    ][-1]
    streamed = "".join(
        p.text
        for e in events
        if e.HasField("artifact_update")
        for p in e.artifact_update.artifact.parts
    )
    return final.state, get_message_text(final.message), streamed


async def test_the_standalone_server_serves_cards_and_answers(
    a2a_server: tuple[str, OpenAIWireServer],
) -> None:
    url, upstream = a2a_server
    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, f"{url}/greeter").get_agent_card()
        refused = await http.post(f"{url}/greeter", json={"jsonrpc": "2.0", "id": 1})
    assert card.name == "greeter" and card.description == "Greets people."
    assert [s.id for s in card.skills] == ["current_time"]
    assert card.capabilities.streaming
    assert refused.status_code == 401

    upstream.reply_text("Hello there!")
    state, text, _ = await _ask(f"{url}/greeter", "Hi", streaming=False)
    assert state == TaskState.TASK_STATE_COMPLETED and text == "Hello there!"

    upstream.reply_text("Hello again, streamed.")
    state, text, streamed = await _ask(f"{url}/greeter", "Hi again", streaming=True)
    assert state == TaskState.TASK_STATE_COMPLETED
    assert text == streamed.strip() == "Hello again, streamed."
    # the upstream model saw the system prompt and the A2A message as the user turn
    sent = upstream.requests[-1]["body"]["messages"]
    assert sent[0]["role"] == "system" and "You greet people." in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "Hi again"}


def test_the_proxy_serves_the_same_agents_authenticated_by_litellm(tmp_path: Path) -> None:
    """Inside the LiteLLM proxy the agents are mounted under /liteagent/a2a and LiteLLM itself
    checks the keys."""
    import asyncio

    upstream = OpenAIWireServer()
    with serve_app(upstream.app) as upstream_url:
        project = make_project(tmp_path, CATALOG)
        env = {
            "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
            "OPENAI_BASE_URL": f"{upstream_url}/v1",
            "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/agent.db",
        }
        with run_proxy(project, env, wait_for="liteagent/greeter") as proxy:
            base = f"{proxy.base_url}/liteagent/a2a"
            card = httpx.get(f"{base}/greeter/.well-known/agent-card.json", timeout=30).json()
            refused = httpx.post(
                f"{base}/greeter",
                json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage"},
                headers={"Authorization": "Bearer sk-not-a-litellm-key"},
                timeout=30,
            )
            upstream.reply_text("Hello through the proxy.")
            state, text, streamed = asyncio.run(_ask(f"{base}/greeter", "Hi", streaming=True))
    assert card["name"] == "greeter"
    assert card["supportedInterfaces"][0]["url"].endswith("/liteagent/a2a/greeter")
    assert refused.status_code == 401
    assert state == TaskState.TASK_STATE_COMPLETED
    assert text == streamed.strip() == "Hello through the proxy."
