"""LLM providers behind one protocol (see ``liteagent.llm.base``), fallback chains and
provenance."""

from liteagent.llm.base import (
    BaseLLMProvider,
    ChatOptions,
    LLMChunk,
    LLMMessage,
    LLMResponse,
    LLMToolCall,
    Usage,
    as_messages,
)
from liteagent.llm.factory import (
    LLMProviderFactory,
    ProviderType,
    build_chain,
    create_llm,
    create_provider,
    llm_registry,
    parse_model_id,
)
from liteagent.llm.fallback import (
    FallbackChainRegistry,
    FallbackResult,
    ModelConfig,
    ModelFallbackChain,
    ModelStatus,
    SelectionStrategy,
    classify_failure,
    fallback_chains,
)
from liteagent.llm.provenance import (
    FallbackAttempt,
    FallbackReason,
    Provenance,
    record_llm_calls,
)
from liteagent.llm.resilient import ResilientLLM
from liteagent.llm.testing import FunctionModel, ScriptedModel

__all__ = [
    "BaseLLMProvider",
    "ChatOptions",
    "FallbackAttempt",
    "FallbackChainRegistry",
    "FallbackReason",
    "FallbackResult",
    "FunctionModel",
    "LLMChunk",
    "LLMMessage",
    "LLMProviderFactory",
    "LLMResponse",
    "LLMToolCall",
    "ModelConfig",
    "ModelFallbackChain",
    "ModelStatus",
    "Provenance",
    "ProviderType",
    "ResilientLLM",
    "ScriptedModel",
    "SelectionStrategy",
    "Usage",
    "as_messages",
    "build_chain",
    "classify_failure",
    "create_llm",
    "create_provider",
    "fallback_chains",
    "llm_registry",
    "parse_model_id",
    "record_llm_calls",
]
