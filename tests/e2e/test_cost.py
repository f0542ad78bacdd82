"""End to end: LiteLLM charges a LiteAgent request the exact sum of its inner model calls.

The agent's chain is a self-hosted model priced in the catalog's providers section, then
``openai/gpt-4o-mini`` priced by LiteLLM's own price map. A run calls the first model (which
asks for the calculator), then the second (the first is down by then). Both upstreams are local
servers speaking OpenAI's wire format with known token counts, so the cost is known to the
token. It is checked where LiteLLM's budgets read it: the ``x-litellm-response-cost`` header
and the ``response_cost`` a success callback receives (a ``CustomLogger`` loaded by the proxy,
which posts what it receives to a collector of this test).
"""

from __future__ import annotations

import math
import queue
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litellm
import openai
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

HOUSE_IN, HOUSE_OUT = 2e-06, 8e-06
CATALOG = """
providers:
  house:
    type: openai
    base_url: {house}
    api_key: os.environ/HOUSE_KEY
    input_cost_per_token: {house_in}
    output_cost_per_token: {house_out}
  openai:
    base_url: {openai}
    api_key: os.environ/OPENAI_UPSTREAM_KEY
  house-then-openai:
    fallbacks: [house/house-model, openai/gpt-4o-mini]
    retry: {{max_retries: 0}}

models:
  calc:
    description: Computes with a calculator, through a priced chain.
    model: house-then-openai
    system_prompt: You compute.
    tools: [calculator]
  local-calc:
    description: The bundled model with a calculator that needs approval.
    model: local/smollm2
    temperature: 0
    system_prompt: You are a helpful assistant.
    tools:
      - name: calculator
        requires_approval: true
"""

COST_LOGGER = textwrap.dedent(
    '''
    """Posts the cost LiteLLM hands to success callbacks to the test's collector."""

    import os

    import httpx
    from litellm.integrations.custom_logger import CustomLogger


    class CostLogger(CustomLogger):
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            async with httpx.AsyncClient() as client:
                await client.post(
                    os.environ["COST_COLLECTOR_URL"],
                    json={
                        "call_id": kwargs.get("litellm_call_id"),
                        "model": kwargs.get("model"),
                        "response_cost": kwargs.get("response_cost"),
                        # what the proxy books as spend of the key, user and team
                        "spend": (kwargs.get("standard_logging_object") or {}).get(
                            "response_cost"
                        ),
                    },
                )


    logger = CostLogger()
    '''
)


class Collector:
    """Receives the callback's posts; ``get`` waits for the next one."""

    def __init__(self) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.app = Starlette(routes=[Route("/", self._post, methods=["POST"])])

    async def _post(self, request: Request) -> JSONResponse:
        self.events.put(await request.json())
        return JSONResponse({"ok": True})

    def get(self, call_id: str) -> dict[str, Any]:
        while True:
            event = self.events.get(timeout=120)
            if event["call_id"] == call_id:
                return event


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[OpenAIWireServer, OpenAIWireServer, Collector, dict[str, str]]]:
    house, upstream, collector = OpenAIWireServer(), OpenAIWireServer(), Collector()
    with (
        serve_app(house.app) as house_url,
        serve_app(upstream.app) as openai_url,
        serve_app(collector.app) as collector_url,
    ):
        urls = {
            "house": f"{house_url}/v1",
            "openai": f"{openai_url}/v1",
            "collector": collector_url,
        }
        yield house, upstream, collector, urls


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, servers: Any) -> Iterator[Proxy]:
    *_, urls = servers
    catalog = CATALOG.format(
        house=urls["house"], openai=urls["openai"], house_in=HOUSE_IN, house_out=HOUSE_OUT
    )
    project = make_project(tmp_path_factory.mktemp("cost"), catalog)
    (project / "cost_logger.py").write_text(COST_LOGGER)
    config_path = project / "proxy_config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["litellm_settings"]["callbacks"] = "cost_logger.logger"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        "HOUSE_KEY": "sk-house-0123456789",
        "OPENAI_UPSTREAM_KEY": "sk-openai-0123456789",
        "COST_COLLECTOR_URL": urls["collector"],
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{Path(project) / 'agent.db'}",
    }
    with run_proxy(project, env, wait_for="liteagent/calc") as p:
        yield p


@pytest.fixture
def client(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=300, max_retries=0
    )


def script_a_run(house: OpenAIWireServer, upstream: OpenAIWireServer) -> float:
    """The house model asks for the calculator, then is down; gpt-4o-mini answers.

    Returns the exact cost: each call at its own model's price.
    """
    house.reply_tool_call(
        "calculator", {"expression": "6*7"}, prompt_tokens=1000, completion_tokens=20
    )
    house.reply_error(503, "house model is down for maintenance")
    upstream.reply_text("It is 42.", prompt_tokens=1500, completion_tokens=12)
    mini = litellm.model_cost["gpt-4o-mini"]
    return (1000 * HOUSE_IN + 20 * HOUSE_OUT) + (
        1500 * mini["input_cost_per_token"] + 12 * mini["output_cost_per_token"]
    )


def test_a_run_is_charged_the_sum_of_its_model_calls(client: openai.OpenAI, servers: Any) -> None:
    house, upstream, collector, _ = servers
    expected = script_a_run(house, upstream)
    raw = client.chat.completions.with_raw_response.create(
        model="liteagent/calc", messages=[{"role": "user", "content": "What is 6*7?"}]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content is not None
    assert resp.choices[0].message.content.strip().endswith("It is 42.")
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (2500, 32)
    meta = (resp.model_extra or {})["liteagent"]
    assert meta["llm_calls"] == 2 and meta["model"] == "openai/gpt-4o-mini"
    assert meta["attempts"] == [{"model": "house/house-model", "reason": "unavailable"}]
    assert math.isclose(meta["cost"], expected, rel_tol=1e-9)
    assert math.isclose(float(raw.headers["x-litellm-response-cost"]), expected, rel_tol=1e-9)
    logged = collector.get(raw.headers["x-litellm-call-id"])
    assert math.isclose(logged["response_cost"], expected, rel_tol=1e-9)
    assert math.isclose(logged["spend"], expected, rel_tol=1e-9)


def test_a_streamed_run_is_charged_the_same_way(client: openai.OpenAI, servers: Any) -> None:
    house, upstream, collector, _ = servers
    expected = script_a_run(house, upstream)
    raw = client.chat.completions.with_raw_response.create(
        model="liteagent/calc",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "What is 6*7? Stream it."}],
    )
    text, metas, usages = [], [], []
    for chunk in raw.parse():
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if (chunk.model_extra or {}).get("liteagent"):
            metas.append(chunk.model_extra["liteagent"])
        if chunk.usage is not None:
            usages.append(chunk.usage)
    assert "".join(text).strip().endswith("It is 42.")
    [meta] = metas
    assert meta["llm_calls"] == 2 and math.isclose(meta["cost"], expected, rel_tol=1e-9)
    usage = usages[-1]
    assert (usage.prompt_tokens, usage.completion_tokens) == (2500, 32)
    assert math.isclose((usage.model_extra or {})["cost"], expected, rel_tol=1e-9)
    logged = collector.get(raw.headers["x-litellm-call-id"])
    assert math.isclose(logged["response_cost"], expected, rel_tol=1e-9)
    assert math.isclose(logged["spend"], expected, rel_tol=1e-9)


@pytest.mark.local_llm
def test_the_bundled_model_counts_its_calls_and_costs_nothing(
    client: openai.OpenAI, servers: Any
) -> None:
    *_, collector, _ = servers
    raw = client.chat.completions.with_raw_response.create(
        model="liteagent/local-calc",
        max_tokens=64,
        stream=True,
        messages=[{"role": "user", "content": "Use the calculator to compute 12*7"}],
        extra_headers={"X-OpenWebUI-Chat-Id": "cost-local", "X-OpenWebUI-User-Id": "e2e"},
    )
    text, metas = [], []
    for chunk in raw.parse():
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if (chunk.model_extra or {}).get("liteagent"):
            metas.append(chunk.model_extra["liteagent"])
    assert "Approval needed" in "".join(text)  # the run paused after the model's tool call
    [meta] = metas
    assert meta["model"] == "local/smollm2" and meta["llm_calls"] >= 1
    assert meta["cost"] == 0.0
    assert collector.get(raw.headers["x-litellm-call-id"])["response_cost"] == 0.0
