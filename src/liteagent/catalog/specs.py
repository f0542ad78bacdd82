"""Spec types of the catalog: what a virtual model ``liteagent/<name>`` is made of.

An entry's ``kind`` selects its spec. Every spec shares ``BaseSpec``; kinds are added to
``ModelSpec`` as the engine grows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from liteagent.llm.provider_specs import ModelChainSpec
from liteagent.mcp.specs import McpServerSpec
from liteagent.workflows import (
    NodeType,
    WorkflowDefinition,
    WorkflowValidationError,
    workflow_from_dict,
)
from liteagent.workflows.engine import DEFAULT_MAX_STEPS

MODEL_PREFIX = "liteagent/"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _names_to_mappings(cls: type, value: object) -> object:
    """A list may name items by a bare string: ``[calculator]`` = ``[{name: calculator}]``."""
    if isinstance(value, list | tuple):
        return tuple({"name": v} if isinstance(v, str) else v for v in value)
    return value


_Named = TypeVar("_Named", bound=BaseModel)


def _listed_once(items: tuple[_Named, ...], what: str) -> tuple[_Named, ...]:
    names = [getattr(item, "name", "") for item in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} listed twice: {', '.join(dupes)}")
    return items


class BaseSpec(BaseModel):
    """Fields every catalog entry has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Set from the catalog key; the model is liteagent/<name>.")
    description: str = ""
    model: str | ModelChainSpec | None = Field(
        None,
        description="<provider>/<model>, a fallback chain (inline, or the name of one in the "
        "providers section); defaults to LITEAGENT_DEFAULT_MODEL.",
    )
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    input_cost_per_token: float | None = Field(None, ge=0.0)
    output_cost_per_token: float | None = Field(None, ge=0.0)
    input_validation: Literal["off", "flag", "block"] | None = Field(
        None,
        description="Prompt-injection and script-markup checks of chat requests: off, flag (log "
        "and mark the run) or block (refuse with 400); default LITEAGENT_INPUT_VALIDATION "
        "(flag). Retrieved passages and tool results are checked whatever it says.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "must be lower-case letters, digits, '.', '_' or '-' (at most 64 characters)"
            )
        return value

    @field_validator("model")
    @classmethod
    def _provider_slash_model(
        cls, value: str | ModelChainSpec | None
    ) -> str | ModelChainSpec | None:
        # A bare name refers to a chain of the providers section (checked by the loader).
        if isinstance(value, str) and (value.startswith("/") or value.endswith("/")):
            raise ValueError("must be <provider>/<model>, e.g. 'local/smollm2'")
        return value

    @property
    def model_name(self) -> str:
        """The public model name, ``liteagent/<name>``."""
        return f"{MODEL_PREFIX}{self.name}"


class ToolSpec(BaseModel):
    """One tool of an agent: a registered tool name plus per-agent overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    requires_approval: bool | None = Field(
        None, description="Ask the user before each call (default: the tool's own setting)."
    )
    timeout: float | None = Field(None, gt=0, description="Seconds a call may take.")

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        from liteagent.agents.builtin_tools import available_tools

        names = available_tools()
        if value not in names:
            raise ValueError(f"unknown tool '{value}'; available: {', '.join(names)}")
        return value


class MemorySpec(BaseModel):
    """How much of a long conversation the agent's model sees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["sliding_window", "token_window", "summary", "none"] = "sliding_window"
    window_size: int = Field(20, ge=1, description="sliding_window: messages kept.")
    max_tokens: int = Field(3000, ge=100, description="token_window: token budget.")
    keep_last: int = Field(6, ge=1, description="summary: messages kept verbatim.")


class AgentSpec(BaseSpec):
    """A chat agent: a system prompt in front of an LLM, optionally with tools."""

    kind: Literal["agent"] = "agent"
    system_prompt: str = Field(min_length=1)
    tools: tuple[ToolSpec, ...] = Field(
        (), description="Tool names (or {name, requires_approval, timeout}) the agent may call."
    )
    max_iterations: int | None = Field(
        None, ge=1, le=100, description="LLM calls per run; default MAX_ITERATIONS."
    )
    max_execution_time: float | None = Field(
        None, gt=0, description="Seconds of work per run; default MAX_EXECUTION_TIME."
    )
    memory: MemorySpec = Field(default_factory=MemorySpec)
    ask_human: bool = Field(
        False, description="Offer request_human_input so the agent can ask the user questions."
    )
    mcp_servers: tuple[McpServerSpec, ...] = Field(
        (), description="MCP servers whose tools the agent may call (docs/mcp.md)."
    )
    tool_choice: Literal["auto", "required", "none"] = "auto"
    client_tools: Literal["ignore", "offer"] = Field(
        "ignore",
        description="The request's own `tools`: ignore them (default; Open WebUI sends its own "
        "with every chat) or offer them to the model, returning its calls as OpenAI tool_calls "
        "for the client to run.",
    )

    _names_to_specs = field_validator("tools", mode="before")(_names_to_mappings)

    @field_validator("tools")
    @classmethod
    def _unique(cls, value: tuple[ToolSpec, ...]) -> tuple[ToolSpec, ...]:
        return _listed_once(value, "tool(s)")

    @field_validator("mcp_servers")
    @classmethod
    def _unique_servers(cls, value: tuple[McpServerSpec, ...]) -> tuple[McpServerSpec, ...]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError("each MCP server needs its own `name`")
        return value


class RagSpec(BaseSpec):
    """A RAG agent: answers from a knowledge base and cites its sources (docs/rag.md)."""

    kind: Literal["rag"] = "rag"
    system_prompt: str | None = Field(None, description="Instructions before the citation rules.")
    knowledge_base: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$", description="Defaults to the entry's name."
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Files, folders, globs, URLs or gitlab:… sources ingested at start-up; "
        "relative paths resolve against the catalog file's folder.",
    )
    embedder: str | None = Field(None, description="<provider>[/<model>]; LITEAGENT_EMBEDDER.")
    retriever: Literal["hybrid", "vector", "bm25"] = "hybrid"
    top_k: int = Field(5, ge=1, le=50)
    vector_weight: float | None = Field(None, ge=0.0, le=1.0)
    rrf_k: int | None = Field(None, ge=0)
    chunker: Literal["semantic", "recursive", "fixed"] = "semantic"
    chunk_size: int = Field(1000, ge=100, le=20000)
    chunk_overlap: int = Field(150, ge=0)
    answer: Literal["generate", "extractive"] | None = Field(
        None,
        description="generate: an LLM writes the answer; extractive: quote the best passages, "
        "never call an LLM. Unset: extractive when the model is the bundled local model "
        "(too small to answer from passages well), else generate.",
    )

    @property
    def knowledge_base_name(self) -> str:
        """The knowledge base this entry searches."""
        return self.knowledge_base or self.name.replace(".", "-")


class WorkflowSpec(BaseSpec):
    """A workflow (``liteagent.workflows``) served as a chat model; see docs/workflows.md.

    ``nodes`` and ``edges`` take the shape ``workflow_from_dict`` reads; the graph is built and
    validated when the catalog loads. ``model`` is the model of AGENT nodes that set none (and
    of Open WebUI's background tasks).
    """

    kind: Literal["workflow"] = "workflow"
    nodes: dict[str, Any] | list[Any] = Field(
        description="The nodes: a mapping of id to {type, ...} or a list of {id, type, ...}."
    )
    edges: list[Any] = Field(default_factory=list, description="[{from, to, condition}]")
    max_steps: int = Field(DEFAULT_MAX_STEPS, ge=1, le=1000, description="Steps per request.")

    _definition: WorkflowDefinition | None = PrivateAttr(None)
    _agents: dict[str, AgentSpec] = PrivateAttr(default_factory=dict)
    _node_models: dict[str, str | ModelChainSpec] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _build_graph(self) -> WorkflowSpec:
        data = {"name": self.name, "nodes": self.nodes, "edges": self.edges}
        if self.description:
            data["description"] = self.description
        try:
            definition = workflow_from_dict(data, workflow_id=self.name)
        except WorkflowValidationError as exc:
            raise PydanticCustomError(
                "workflow_invalid", "{problems}", {"problems": "; ".join(exc.problems)}
            ) from None
        waits = [
            n.id for n in definition.nodes if n.type is NodeType.WAIT and n.config.get("event")
        ]
        if waits:
            raise PydanticCustomError(
                "workflow_invalid",
                "node '{node}' (wait): field 'event': a chat cannot send events; use a human node "
                "to wait for the user, or 'seconds' to pause",
                {"node": waits[0]},
            )
        self._definition = definition
        return self

    @property
    def definition(self) -> WorkflowDefinition:
        """The validated workflow graph."""
        assert self._definition is not None  # set by the validator
        return self._definition

    @property
    def agents(self) -> Mapping[str, AgentSpec]:
        """Catalog agents that AGENT nodes name in ``agent_id`` (linked by the loader)."""
        return self._agents

    @property
    def node_models(self) -> Mapping[str, str | ModelChainSpec]:
        """AGENT nodes' own ``model:`` settings, resolved against the providers section."""
        return self._node_models

    def linked(
        self, agents: Mapping[str, AgentSpec], node_models: Mapping[str, str | ModelChainSpec]
    ) -> WorkflowSpec:
        """A copy that knows the catalog agents and node models it uses."""
        copy = self.model_copy()
        copy._agents = dict(agents)
        copy._node_models = dict(node_models)
        return copy


class ToolkitRefSpec(BaseModel):
    """One toolkit of an ``agno`` entry: a registered toolkit name and how it is used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    required: bool = Field(
        False,
        description="Ask for the credentials on the first message (else only when the user "
        "asks for the toolkit's features).",
    )
    base_url: str | None = Field(
        None, description="The service's address for every user (Jira site, GitLab instance)."
    )

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        from liteagent.toolkits import toolkit_registry

        names = toolkit_registry.list_providers()
        if value not in names:
            raise ValueError(f"unknown toolkit '{value}'; available: {', '.join(names)}")
        return value

    def options(self) -> dict[str, str]:
        """Options handed to the toolkit's config."""
        return {"base_url": self.base_url} if self.base_url else {}


class AgnoSpec(BaseSpec):
    """An Agno agent (``agno.agent.Agent``) with per-user toolkits and its own session history."""

    kind: Literal["agno"] = "agno"
    instructions: str = Field(min_length=1, description="The agent's instructions.")
    toolkits: tuple[ToolkitRefSpec, ...] = Field(
        (), description="Toolkit names (or {name, required, base_url}) configured per user."
    )
    history_runs: int = Field(
        10, ge=0, le=100, description="Earlier turns of the chat the agent sees (from Agno's db)."
    )
    tool_call_limit: int | None = Field(
        None, ge=1, le=100, description="Tool calls per run (default: max_iterations)."
    )
    max_iterations: int | None = Field(
        None, ge=1, le=100, description="Model calls per run; default MAX_ITERATIONS."
    )
    markdown: bool = Field(True, description="Ask the model to format answers as markdown.")

    _names_to_refs = field_validator("toolkits", mode="before")(_names_to_mappings)

    @field_validator("toolkits")
    @classmethod
    def _unique_toolkits(cls, value: tuple[ToolkitRefSpec, ...]) -> tuple[ToolkitRefSpec, ...]:
        return _listed_once(value, "toolkit(s)")


ModelSpec = Annotated[AgentSpec | RagSpec | WorkflowSpec | AgnoSpec, Field(discriminator="kind")]
