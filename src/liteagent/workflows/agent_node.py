"""AGENT nodes run a LiteAgent ``Agent`` (``liteagent.agents``): tools, iterations, usage.

``AgentNodeRunner`` is the default ``AgentRunner`` behind every AGENT node. For each node it
builds an ``Agent`` whose

- **instructions** are the referenced catalog agent's ``system_prompt`` (when the node's
  ``agent_id`` names a catalog agent), then the node's ``purpose`` and ``system_prompt``;
- **tools** are the referenced catalog agent's tools (none otherwise);
- **model** is, in order: ``context["llm_clients"][agent_id or node id]``,
  ``context["llm_client"]`` (the seeds' ``LLMClient``; a ``liteagent.llm`` provider works too),
  the node's ``model:``, the referenced catalog agent's model, the workflow's model, and finally
  ``LITEAGENT_DEFAULT_MODEL``, each resolved with ``liteagent.llm.create_llm``.

The agent gets the node's ``input_variable`` as the user message (every variable as JSON when
that variable is unset) and, with ``history_variable``, earlier chat turns before it. It runs to
its final answer; the node's output carries ``response``, ``usage`` (summed over every model call
the agent made), ``tool_calls`` and ``iterations``. A workflow asks people only through HUMAN
nodes, so an agent inside a node never asks: it is not offered ``request_human_input`` nor the
referenced agent's tools that need approval, and failing tools never escalate to a person (the
model sees the errors until ``max_iterations``).

This module imports the LLM layer lazily, only when a node needs a model built.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from liteagent.agents import (
    Agent,
    AgentConfig,
    AgentState,
    AgentStatus,
    SlidingWindowMemory,
    Tool,
)
from liteagent.agents.state import FinishedCall
from liteagent.config import Settings, get_settings
from liteagent.workflows.errors import WorkflowExecutionError
from liteagent.workflows.schema import AgentNodeConfig, parse_config

if TYPE_CHECKING:
    from liteagent.agents.llm_client import LLMEvent
    from liteagent.llm import BaseLLMProvider, ChatOptions
    from liteagent.llm.provider_specs import ModelChainSpec, ProviderEntry
    from liteagent.mcp import McpToolsets
    from liteagent.mcp.specs import McpServerSpec
    from liteagent.workflows.state import WorkflowState
    from liteagent.workflows.types import NodeDefinition

__all__ = [
    "AgentDirectory",
    "AgentNodeEvent",
    "AgentNodeRunner",
    "AgentProfile",
    "NodeToolStep",
    "run_agent_node",
]

HISTORY_WINDOW = 20
"""Most earlier chat messages an agent node sees (with ``history_variable``)."""


class AgentProfile(Protocol):
    """What an AGENT node reads of the agent its ``agent_id`` names (a catalog ``AgentSpec``)."""

    @property
    def name(self) -> str: ...
    @property
    def system_prompt(self) -> str: ...
    @property
    def tools(self) -> Any: ...
    @property
    def model(self) -> str | ModelChainSpec | None: ...
    @property
    def temperature(self) -> float | None: ...
    @property
    def max_tokens(self) -> int | None: ...
    @property
    def max_iterations(self) -> int | None: ...
    @property
    def max_execution_time(self) -> float | None: ...
    @property
    def tool_choice(self) -> str: ...
    @property
    def mcp_servers(self) -> tuple[McpServerSpec, ...]: ...


class AgentDirectory(Protocol):
    """Where AGENT nodes find named agents (``liteagent.catalog.Catalog`` is one)."""

    @property
    def providers(self) -> Mapping[str, ProviderEntry]: ...

    def workflow_agents(self) -> Mapping[str, AgentProfile]:
        """The agents nodes may name, by name."""
        ...

    def agent_tools(self, agent: AgentProfile, settings: Settings) -> list[Tool]:
        """An agent's tools as a workflow runs them (an anonymous owner)."""
        ...


@dataclass(frozen=True)
class NodeToolStep(FinishedCall):
    """One tool call an agent node made, with its result."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result,
            "is_error": self.is_error,
        }


@dataclass(frozen=True)
class AgentNodeEvent:
    """Progress of an AGENT node: a model delta or usage (``llm``), or a finished tool call."""

    node_id: str
    llm: LLMEvent | None = None
    tool: NodeToolStep | None = None


def _setting_key(model: Any) -> str:
    if model is None or isinstance(model, str):
        return str(model)
    return json.dumps(model.model_dump(mode="json"), sort_keys=True)


def _user_message(cfg: AgentNodeConfig, state: WorkflowState) -> str:
    if cfg.input_variable in state.variables:
        value = state.variables[cfg.input_variable]
    else:  # no such variable: the agent sees every variable
        value = state.variables
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _history(cfg: AgentNodeConfig, state: WorkflowState) -> list[dict[str, Any]]:
    if cfg.history_variable is None:
        return []
    raw = state.variables.get(cfg.history_variable)
    if not isinstance(raw, list):
        return []
    turns = [
        {"role": m["role"], "content": str(m.get("content") or "")}
        for m in raw
        if isinstance(m, Mapping) and m.get("role") in ("user", "assistant")
    ]
    return turns[-HISTORY_WINDOW:]


class AgentNodeRunner:
    """Runs AGENT nodes with a LiteAgent ``Agent`` (an ``AgentRunner``; see the module docs).

    Args:
        agents: Catalog agents by name, for nodes whose ``agent_id`` names one.
        model: The workflow's model (used when neither the node nor its agent sets one).
        node_models: Models of nodes, by node id, already resolved against the catalog's
            providers (a node's ``model:`` is used when its id is missing here).
        providers: The catalog's ``providers`` section (for chain names in ``model:``).
        settings: Settings (default: ``get_settings()``).
        temperature: Temperature for nodes and agents that set none (e.g. the request's).
        max_tokens: Answer length for nodes and agents that set none.
        tools_for: Builds a named agent's tools. Without it, a named agent that has tools
            cannot run in a node (a clear ``WorkflowExecutionError`` says so).
        on_event: Receives model deltas, usage and tool calls as they happen.
        mcp: The user's MCP sessions, for catalog agents with ``mcp_servers`` (closed with
            this runner).
    """

    def __init__(
        self,
        *,
        agents: Mapping[str, AgentProfile] | None = None,
        model: str | ModelChainSpec | None = None,
        node_models: Mapping[str, str | ModelChainSpec] | None = None,
        providers: Mapping[str, ProviderEntry] | None = None,
        settings: Settings | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools_for: Callable[[AgentProfile], list[Tool]] | None = None,
        on_event: Callable[[AgentNodeEvent], None] | None = None,
        mcp: McpToolsets | None = None,
    ) -> None:
        self.agents = dict(agents or {})
        self.mcp = mcp
        self.model = model
        self.node_models = dict(node_models or {})
        self.providers = providers
        self.settings = settings or get_settings()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.tools_for = tools_for
        self.on_event = on_event
        self._providers: dict[str, BaseLLMProvider] = {}

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> AgentNodeRunner:
        """A runner for the Python API: ``context["catalog"]`` (an ``AgentDirectory`` such as a
        ``Catalog``), ``["settings"]`` and ``["model"]`` (the workflow's model) are used when
        present."""
        directory: AgentDirectory | None = context.get("catalog")
        settings: Settings = context.get("settings") or get_settings()
        if directory is None:
            return cls(model=context.get("model"), settings=settings)
        return cls(
            agents=directory.workflow_agents(),
            model=context.get("model"),
            providers=directory.providers,
            settings=settings,
            tools_for=lambda agent: directory.agent_tools(agent, settings),
        )

    def with_events(self, on_event: Callable[[AgentNodeEvent], None] | None) -> AgentNodeRunner:
        """The same runner (sharing its model clients) reporting to ``on_event``."""
        view = copy.copy(self)
        view.on_event = on_event
        return view

    async def aclose(self) -> None:
        """Close the model clients this runner built."""
        if self.mcp is not None:
            await self.mcp.aclose()
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()

    # ------------------------------------------------------------------ the AgentRunner
    async def __call__(
        self, node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
    ) -> dict[str, Any]:
        cfg = parse_config(node, AgentNodeConfig)
        spec = self.agents.get(cfg.agent_id) if cfg.agent_id else None
        agent_id = cfg.agent_id or node.id
        client, model_id = await self._client(node, cfg, spec, context)
        purpose = "\n\n".join(
            p.strip()
            for p in (spec.system_prompt if spec else "", cfg.purpose, cfg.system_prompt or "")
            if p and p.strip()
        )
        tools = self._tools(spec)
        if self.mcp is not None:  # (calls that need approval are left out, as built-in ones)
            mcp_tools = await self.mcp.tools_for(spec)
            tools += [t for t in mcp_tools if not t.requires_human_approval]
        history = _history(cfg, state)
        agent = Agent(
            AgentConfig(
                agent_id=agent_id,
                purpose=purpose,
                tools=tools,
                llm_client=client,
                max_iterations=(spec.max_iterations if spec else None)
                or self.settings.max_iterations,
                max_execution_time=(spec.max_execution_time if spec else None)
                or self.settings.max_execution_time,
                memory=SlidingWindowMemory(HISTORY_WINDOW + 10) if history else None,
                human_input_tool=False,
                tool_choice=spec.tool_choice if spec else "auto",
                max_consecutive_errors=0,
                tool_timeout=self.settings.step_timeout,
            )
        )
        run = agent.launch(_user_message(cfg, state), history=history)
        tool_steps: list[NodeToolStep] = []
        while run.status in (AgentStatus.IDLE, AgentStatus.RUNNING):
            before = run
            run = await agent.step(before)
            for call in run.finished_calls_since(before):
                step = NodeToolStep(**dataclasses.asdict(call))
                tool_steps.append(step)
                if self.on_event is not None:
                    self.on_event(AgentNodeEvent(node.id, tool=step))
        self._check_finished(node, agent_id, run)
        totals = run.metadata.get("usage") or {}
        prompt = int(totals.get("prompt_tokens", 0))
        completion = int(totals.get("completion_tokens", 0))
        output: dict[str, Any] = {
            "response": run.final_answer or "",
            "agent_id": agent_id,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            "iterations": run.current_iteration,
            "tool_calls": [s.to_dict() for s in tool_steps],
        }
        if model_id:
            output["model"] = model_id
        return output

    @staticmethod
    def _check_finished(node: NodeDefinition, agent_id: str, run: AgentState) -> None:
        if run.status != AgentStatus.COMPLETED:
            raise WorkflowExecutionError(
                f"agent '{agent_id}' in node '{node.id}' stopped: {run.error or run.status.value}"
            )

    def _tools(self, spec: AgentProfile | None) -> list[Tool]:
        """The named agent's tools, without those that ask for approval (see module docs)."""
        if spec is None or not spec.tools:
            return []
        if self.tools_for is None:
            raise WorkflowExecutionError(
                f"agent '{spec.name}' has tools, but this workflow runner was given no way to "
                "build them (pass tools_for, or a catalog in the context)"
            )
        return [t for t in self.tools_for(spec) if not t.requires_human_approval]

    # ------------------------------------------------------------------ models
    def _emit(self, node_id: str) -> Callable[[LLMEvent], None] | None:
        sink = self.on_event
        if sink is None:
            return None
        return lambda event: sink(AgentNodeEvent(node_id, llm=event))

    def _options(self, cfg: AgentNodeConfig, spec: AgentProfile | None) -> ChatOptions:
        from liteagent.llm import ChatOptions

        def first(*values: Any) -> Any:
            return next((v for v in values if v is not None), None)

        return ChatOptions(
            temperature=first(cfg.temperature, self.temperature, spec and spec.temperature),
            max_tokens=first(cfg.max_tokens, self.max_tokens, spec and spec.max_tokens),
        )

    async def _client(
        self,
        node: NodeDefinition,
        cfg: AgentNodeConfig,
        spec: AgentProfile | None,
        context: Mapping[str, Any],
    ) -> tuple[Any, str | None]:
        from liteagent.agents.llm_client import ProviderLLMClient
        from liteagent.llm import BaseLLMProvider

        clients = context.get("llm_clients") or {}
        given = clients.get(cfg.agent_id or node.id) or clients.get(node.id)
        given = given or context.get("llm_client")
        options = self._options(cfg, spec)
        if given is not None:
            if isinstance(given, BaseLLMProvider):
                client = ProviderLLMClient(given, options, on_event=self._emit(node.id))
                return client, given.model_id
            return given, None
        model = self.node_models.get(node.id) or cfg.model or (spec.model if spec else None)
        provider = self.provider(model or self.model)
        return ProviderLLMClient(provider, options, on_event=self._emit(node.id)), provider.model_id

    def provider(self, model: str | ModelChainSpec | None) -> BaseLLMProvider:
        """The model client for a model setting (built once per runner, then reused)."""
        from liteagent.llm import create_llm

        key = _setting_key(model)
        provider = self._providers.get(key)
        if provider is None:
            provider = create_llm(model, settings=self.settings, providers=self.providers)
            self._providers[key] = provider
        return provider


async def run_agent_node(
    node: NodeDefinition, state: WorkflowState, context: dict[str, Any]
) -> dict[str, Any]:
    """Run one AGENT node with a runner built from ``context`` (the Python API's default)."""
    runner = AgentNodeRunner.from_context(context)
    try:
        return await runner(node, state, context)
    finally:
        await runner.aclose()
