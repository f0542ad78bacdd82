"""LLM providers behind one protocol (see ``liteagent.llm.base``)."""

from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMMessage,
    LLMResponse,
    ToolCall,
    Usage,
    as_messages,
)
from liteagent.llm.factory import (
    LLMProviderFactory,
    ProviderType,
    create_llm,
    create_provider,
    llm_registry,
    parse_model_id,
)
from liteagent.llm.testing import FunctionModel, ScriptedModel

__all__ = [
    "BaseLLMProvider",
    "ChatOptions",
    "FunctionModel",
    "LLMChunk",
    "LLMMessage",
    "LLMProviderFactory",
    "LLMResponse",
    "ProviderType",
    "ScriptedModel",
    "ToolCall",
    "Usage",
    "as_messages",
    "create_llm",
    "create_provider",
    "llm_registry",
    "parse_model_id",
]
