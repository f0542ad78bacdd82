"""The seeds' workflow examples, run as written (only imports changed, placeholders filled in).

From the developer guide: the conditional-branch unit test, the custom HTTP-request node, the
hooks, and the custom condition evaluators. ``context``, ``logger`` and ``send_alert`` are left
undefined by the guide; they are defined here. The HTTP example talks to a local server instead
of api.example.com.
"""

# ruff: noqa: E501
# The examples keep the guide's exact layout: long lines, and no reformatting (fmt: off below).

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from liteagent.workflows import (
    NodeStatus,
    NodeType,
    WorkflowBuilder,
    WorkflowEngine,
    WorkflowStatus,
)
from liteagent.workflows.extensions import (
    condition_registry,
    register_node_handler,
    workflow_hooks,
)
from liteagent.workflows.handlers import NodeHandler
from liteagent.workflows.state import WorkflowState
from liteagent.workflows.types import NodeDefinition
from tests.servers.http import serve_app
from tests.unit.workflows.conftest import DictLLMClient

# fmt: off
logger = logging.getLogger("seed-example")
alerts: list[str] = []


async def send_alert(message: str) -> None:
    alerts.append(message)


context = {"llm_client": DictLLMClient("done")}


# --- "Unit Testing Workflows" -------------------------------------------------------------


@pytest.mark.asyncio
async def test_workflow_conditional_branch():
    # Arrange
    definition = (WorkflowBuilder("test", "Test")
        .add_start()
        .add_condition("check", "value > 10")
        .add_agent("high", purpose="Handle high value")
        .add_agent("low", purpose="Handle low value")
        .add_end()
        .connect("start", "check")
        .connect("check", "high", "condition_result == true")
        .connect("check", "low", "condition_result == false")
        .connect("high", "end")
        .connect("low", "end")
        .build())

    engine = WorkflowEngine()

    # Act - high value path
    state = engine.launch(definition, {"value": 20})
    state = await engine.run_to_completion(definition, state, context)

    # Assert
    assert "high" in state.node_executions
    assert state.node_executions["high"].status == NodeStatus.COMPLETED
    assert "low" not in state.node_executions  # (added) the other branch did not run


# --- "Adding a Custom Workflow Node" ------------------------------------------------------


@pytest.fixture
def api_server() -> Iterator[str]:
    async def data(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.path_params["user_id"], "plan": "pro"})

    app = Starlette(routes=[Route("/data/{user_id}", data)])
    with serve_app(app) as url:
        yield url


async def test_custom_http_request_node(api_server: str) -> None:
    @register_node_handler("http_request", description="Make HTTP requests")
    class HTTPRequestHandler(NodeHandler):
        """Execute HTTP requests within workflows."""

        async def execute(
            self,
            node: NodeDefinition,
            state: WorkflowState,
            context: dict
        ) -> dict:
            config = node.config
            url = config["url"]
            method = config.get("method", "GET")
            headers = config.get("headers", {})
            body = config.get("body")

            # Substitute variables in URL
            for var_name, var_value in state.variables.items():
                url = url.replace(f"${{{var_name}}}", str(var_value))

            async with httpx.AsyncClient() as client:
                response = await client.request(
                    method=method,
                    url=url,
                    headers=headers,
                    json=body
                )

                return {
                    "status_code": response.status_code,
                    "body": response.json() if response.headers.get("content-type", "").startswith("application/json") else response.text,
                    "headers": dict(response.headers)
                }

    workflow = (WorkflowBuilder("api-workflow", "API Workflow")
        .add_start()
        .add_node("fetch_data", NodeType.CUSTOM, config={
            "handler": "http_request",
            "url": api_server + "/data/${user_id}",
            "method": "GET"
        })
        .add_end()
        .connect("start", "fetch_data")
        .connect("fetch_data", "end")
        .build())

    engine = WorkflowEngine()
    state = await engine.run_to_completion(workflow, engine.launch(workflow, {"user_id": "u42"}))
    assert state.status is WorkflowStatus.COMPLETED, state.error
    output = state.node_executions["fetch_data"].output_data
    assert output["status_code"] == 200
    assert output["body"] == {"user": "u42", "plan": "pro"}


# --- "Adding Workflow Hooks" --------------------------------------------------------------


async def test_hooks_example() -> None:
    @workflow_hooks.before_node("agent")
    async def validate_input(node, state):
        """Validate input before agent execution."""
        input_var = node.config.get("input_variable", "input")
        if input_var not in state.variables:
            raise ValueError(f"Missing required variable: {input_var}")
        return state

    @workflow_hooks.after_node("agent")
    async def log_output(node, state, output):
        """Log agent output for debugging."""
        logger.info(f"Agent {node.id} output: {list(output.keys())}")
        return output

    @workflow_hooks.on_error("*")
    async def notify_on_error(node, state, error):
        """Send notification on any node error."""
        await send_alert(f"Workflow error in {node.id}: {error}")
        return False  # Don't suppress the error

    definition = (WorkflowBuilder("hooked", "Hooked").add_start().add_agent("agent1")
                  .add_end().connect("start", "agent1").connect("agent1", "end").build())
    engine = WorkflowEngine()
    alerts.clear()
    ok = await engine.run_to_completion(definition, engine.launch(definition, {"input": "hi"}),
                                        context)
    assert ok.status is WorkflowStatus.COMPLETED and alerts == []
    failed = await engine.run_to_completion(definition, engine.launch(definition), context)
    assert failed.status is WorkflowStatus.FAILED
    assert alerts == ["Workflow error in agent1: Missing required variable: input"]


# --- "Adding Custom Condition Evaluators" -------------------------------------------------


async def test_condition_evaluators_example() -> None:
    @condition_registry.register("jmespath:")
    def jmespath_evaluator(expr: str, context: dict) -> bool:
        """Evaluate JMESPath expressions."""
        import jmespath
        # expr format: "jmespath:response.status == 'success'"
        path = expr.replace("jmespath:", "")
        return bool(jmespath.search(path, context))

    @condition_registry.register("regex:")
    def regex_evaluator(expr: str, context: dict) -> bool:
        """Match regex patterns."""
        import re
        # expr format: "regex:variable_name,pattern"
        parts = expr.replace("regex:", "").split(",", 1)
        var_name, pattern = parts[0], parts[1]
        value = context.get(var_name, "")
        return bool(re.match(pattern, str(value)))

    definition = (
        WorkflowBuilder("cond", "Conditions").add_start()
        .add_condition("ok", "jmespath:response.status == 'success'")
        .add_condition("internal", r"regex:email,^[^@]+@example\.com$")
        .add_end("done").add_end("rejected")
        .connect("start", "ok")
        .connect("ok", "internal", "condition_result").connect("ok", "rejected")
        .connect("internal", "done", "condition_result").connect("internal", "rejected")
        .build()
    )  # fmt: skip
    engine = WorkflowEngine()

    async def run(variables: dict) -> list[str]:
        state = await engine.run_to_completion(definition, engine.launch(definition, variables))
        assert state.status is WorkflowStatus.COMPLETED, state.error
        return state.history

    good = {"response": {"status": "success"}, "email": "ada@example.com"}
    assert await run(good) == ["start", "ok", "internal", "done"]
    assert await run({**good, "email": "ada@evil.com"}) == ["start", "ok", "internal", "rejected"]
    assert await run({**good, "response": {"status": "error"}}) == ["start", "ok", "rejected"]
