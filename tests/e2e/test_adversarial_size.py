"""End to end: oversized and adversarial requests do not hold the real LiteLLM proxy.

Before, a 360 KB message of ``"<details>" * N`` kept the proxy's event loop busy for minutes
(a quadratic regular expression), and a 100 KB ``X-OpenWebUI-User-Id`` did the same through the
log redaction: every other request, health checks included, waited. Here they go out together
with a message over the size limit, while health probes keep being sent until all three are
answered; each must get its own answer: the reply, a 400 naming the header, a 413.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy

pytestmark = [pytest.mark.e2e]

DETAILS_360_KB = "<details>" * 40_000


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("project")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(["Fine."] * 4))
    catalog = {"models": {"bot": {"model": f"scripted/{script}", "system_prompt": "Be brief."}}}
    project = make_project(folder, yaml.safe_dump(catalog))
    env = {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db"}
    with run_proxy(project, env, wait_for="liteagent/bot") as p:
        yield p


async def _chat(
    client: openai.AsyncOpenAI, content: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """``(status, reply or error message)`` of one chat request."""
    try:
        response = await client.chat.completions.create(
            model="liteagent/bot",
            messages=[{"role": "user", "content": content}],
            extra_headers=headers,
        )
    except openai.APIStatusError as exc:
        return exc.status_code, str(exc.message)
    return 200, response.choices[0].message.content or ""


async def _probe_until_done(base_url: str, requests: list[asyncio.Task[Any]]) -> list[int]:
    """Send health probes one after another until every request is answered; their statuses."""
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        while True:
            probe = await http.get("/health/liveliness")
            statuses.append(probe.status_code)
            if all(task.done() for task in requests):
                return statuses


async def test_big_requests_get_their_answers_and_probes_keep_being_answered(
    proxy: Proxy,
) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=60, max_retries=0
    )
    async with client:
        requests = [
            asyncio.create_task(_chat(client, DETAILS_360_KB)),
            asyncio.create_task(
                _chat(client, "hello", headers={"X-OpenWebUI-User-Id": "u" * 100_000})
            ),
            asyncio.create_task(_chat(client, "x" * 1_000_001)),
        ]
        probes = await _probe_until_done(proxy.base_url, requests)
        details, header, too_large = [task.result() for task in requests]

    assert probes and set(probes) == {200}
    assert details == (200, "Fine.")
    assert header[0] == 400
    assert "X-OpenWebUI-User-Id header is too large: 100000 characters" in header[1]
    assert too_large[0] == 413
    assert "Request too large: 1000001 characters, the limit is 1000000." in too_large[1]
