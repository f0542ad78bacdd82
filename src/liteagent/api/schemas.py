"""Request and response bodies of the management API (the seeds' schema names).

An agent's definition is validated by the catalog's own specs (``liteagent.catalog.specs``), the
very ones ``liteagent.yaml`` entries go through: ``AgentCreate`` names the common fields and
accepts every other field of the entry's ``kind`` (``tools``, ``nodes``, ``instructions``…).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "PATTERN_HINTS",
    "STORABLE",
    "Agent",
    "AgentCreate",
    "AgentKind",
    "AgentUpdate",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ChatUsage",
    "DataSource",
    "DataSourceCreate",
    "DataSourceUpdate",
    "ErrorBody",
    "ErrorResponse",
    "LLMProvider",
    "LLMProviderCreate",
    "LLMProviderUpdate",
    "ModelInfo",
    "ModelList",
    "RateLimitStatus",
]

AgentKind = Literal["agent", "rag", "workflow", "agno"]
_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_PROVIDER_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
STORABLE = r"^[^\x00]*$"
"""Text that is looked up or stored: PostgreSQL cannot hold the NUL character."""

PATTERN_HINTS: dict[str, str] = {
    _NAME: "use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter "
    "or a digit",
    _PROVIDER_NAME: "use 1 to 64 lower-case letters, digits, '_' or '-', starting with a letter "
    "or a digit",
    STORABLE: "the text must not contain the NUL character",
}
"""What each pattern of these schemas asks for, in words (error messages quote it)."""


class ErrorBody(BaseModel):
    """The OpenAI-shaped error."""

    message: str
    type: str
    param: str | None = None
    code: str


class ErrorResponse(BaseModel):
    """Every error answer: ``{"error": {...}}``."""

    error: ErrorBody


# ----------------------------------------------------------------- providers
class LLMProviderCreate(BaseModel):
    """A new LLM provider. Its ``name`` is the ``<provider>`` part of agents' models."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_PROVIDER_NAME, description="e.g. 'team-openai'")
    provider_type: str = Field(
        min_length=1, max_length=64, description="A registered provider: openai, anthropic…"
    )
    model_name: str | None = Field(
        None, min_length=1, max_length=256, description="Default model of agents using it."
    )
    api_key: SecretStr | None = Field(
        None, min_length=1, max_length=4096, description="Stored encrypted; never returned."
    )
    base_url: str | None = Field(None, min_length=1, max_length=2048)
    is_active: bool = True


class LLMProviderUpdate(BaseModel):
    """Fields to change (absent: unchanged; ``api_key: null`` removes the key)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, pattern=_PROVIDER_NAME)
    provider_type: str | None = Field(None, min_length=1, max_length=64)
    model_name: str | None = Field(None, min_length=1, max_length=256)
    api_key: SecretStr | None = Field(None, min_length=1, max_length=4096)
    base_url: str | None = Field(None, min_length=1, max_length=2048)
    is_active: bool | None = None


class LLMProvider(BaseModel):
    """A provider as the API shows it: the key only masked (``sk-...abcd``)."""

    id: str
    name: str
    provider_type: str
    model_name: str | None
    base_url: str | None
    api_key_masked: str | None = Field(description="e.g. 'sk-...abcd'; null without a key")
    is_active: bool
    owner: str
    created_at: datetime
    updated_at: datetime


# ----------------------------------------------------------------- agents
class AgentCreate(BaseModel):
    """A new agent, in the shape of a ``liteagent.yaml`` entry plus its name.

    Other fields of the entry's ``kind`` are accepted as in the catalog (``tools``, ``memory``,
    ``nodes``/``edges``, ``instructions``/``toolkits``, ``sources``…) and checked by its specs.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=_NAME, description="Served as liteagent/<name>.")
    kind: AgentKind = "agent"
    description: str | None = None
    system_prompt: str | None = None
    model: str | dict[str, Any] | None = Field(
        None, description="<provider>/<model> or a fallback chain; default: provider_id's."
    )
    provider_id: str | None = Field(
        None, description="A provider of this API; the agent uses its model_name."
    )


class AgentUpdate(BaseModel):
    """Fields to change; other fields of the entry are replaced as given, ``null`` removes."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, pattern=_NAME)
    kind: AgentKind | None = None
    description: str | None = None
    system_prompt: str | None = None
    model: str | dict[str, Any] | None = None
    provider_id: str | None = None


class Agent(BaseModel):
    """An agent defined through the API."""

    id: str
    name: str
    model: str = Field(description="The model name clients use: liteagent/<name>.")
    kind: AgentKind
    provider_id: str | None
    definition: dict[str, Any] = Field(description="The entry, as in liteagent.yaml.")
    status: Literal["served", "shadowed", "invalid", "pending"] = Field(
        description="served; shadowed by a liteagent.yaml entry of the same name; invalid (see "
        "error); pending: not loaded by this replica yet."
    )
    error: str | None = None
    owner: str
    created_at: datetime
    updated_at: datetime


# ----------------------------------------------------------------- data sources
class DataSourceCreate(BaseModel):
    """A URL, inline text or GitLab source (files: ``POST /datasources/upload``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    source_type: Literal["url", "text", "gitlab"]
    source: str = Field(
        min_length=1,
        max_length=1_000_000,
        description="url: http(s)://…; text: the text; gitlab: <project>:<kind>[:<arg>][@ref]",
    )
    token: SecretStr | None = Field(
        None, min_length=1, max_length=4096, description="gitlab: a token (else GITLAB_TOKEN)."
    )


class DataSourceUpdate(BaseModel):
    """Fields to change; a changed source is fetched again."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=128)
    source: str | None = Field(None, min_length=1, max_length=1_000_000)
    token: SecretStr | None = Field(None, min_length=1, max_length=4096)


class DataSource(BaseModel):
    """A data source and what was last fetched from it."""

    id: str
    name: str
    source_type: Literal["file", "url", "text", "gitlab"]
    source: str
    status: Literal["ready", "error"]
    error: str | None
    content_length: int
    content_hash: str | None
    content_preview: str = Field(description="The first 200 characters fetched.")
    has_token: bool
    owner: str
    created_at: datetime
    updated_at: datetime
    fetched_at: datetime | None


# ----------------------------------------------------------------- chat
class ChatMessage(BaseModel):
    """An earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=1_000_000)


class ChatRequest(BaseModel):
    """One message to an agent, with the conversation so far."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=1_000_000)
    history: list[ChatMessage] = Field(default_factory=list, max_length=1000)
    conversation_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Keeps pending approvals and workflow positions between messages.",
    )
    stream: bool = Field(False, description="Answer as server-sent events (OpenAI chunks).")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)


class ChatUsage(BaseModel):
    """Tokens of every model call of the run."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatResponse(BaseModel):
    """The agent's answer."""

    model: str
    content: str
    finish_reason: str | None
    conversation_id: str | None
    usage: ChatUsage
    litellm_call_id: str | None = Field(
        None, description="Inside the proxy: LiteLLM's call id, to find the call in its logs."
    )


# ----------------------------------------------------------------- meta
class ModelInfo(BaseModel):
    """One served model."""

    id: str
    kind: str
    source: Literal["yaml", "api"]
    description: str


class ModelList(BaseModel):
    """Served models, and the API's agents that are not served (and why)."""

    data: list[ModelInfo]
    shadowed: list[str] = Field(description="API agents hidden by liteagent.yaml entries.")
    invalid: dict[str, str] = Field(description="API agents left out, with the reason.")
    catalog_version: int
    refresh_seconds: float


class RateLimitStatus(BaseModel):
    """The caller's rate limit, as the seeds' X-RateLimit-* headers say it."""

    limit: int | None
    remaining: int | None
    reset: int | None
    enforced_by: str
