"""The 12-factor agent engine: a stateless reducer over serialisable state, tools, memory, prompts.

Public names are re-exported here; the modules hold the details::

    from liteagent.agents import Agent, AgentConfig, AgentStatus, tool

The adapter from ``liteagent.llm`` providers (``ProviderLLMClient``) lives in
``liteagent.agents.llm_client`` so that the reducer never imports the LLM layer.
"""

from liteagent.agents.memory import (
    ConversationHistory,
    ConversationMemory,
    MemoryStrategy,
    Message,
    MessageRole,
    SlidingWindowMemory,
    SummaryMemory,
    TokenWindowMemory,
    create_sliding_window_memory,
    create_summary_memory,
    create_token_limited_memory,
    summarizer_for,
)
from liteagent.agents.prompts import (
    AgentPrompts,
    PromptBuilder,
    PromptRegistry,
    PromptTemplate,
    PromptVariable,
    TemplateFormat,
    agent_prompts,
)
from liteagent.agents.state import AgentState
from liteagent.agents.tools import (
    FunctionTool,
    ParameterType,
    Tool,
    ToolExecutor,
    ToolParameter,
    ToolRegistry,
    ToolResult,
    tool,
)
from liteagent.agents.twelve_factor_agent import (
    HUMAN_INPUT_TOOL,
    Agent,
    AgentConfig,
    AgentStateError,
    LLMClient,
)
from liteagent.agents.types import (
    AgentStatus,
    AgentStep,
    HumanContactRequest,
    HumanRequestType,
    StepType,
    ToolCall,
    ToolDefinition,
)
from liteagent.llm.token_counter import (
    ModelPricing,
    TokenCounter,
    check_context_limit,
    count_message_tokens,
    count_tokens,
    estimate_cost,
    get_model_pricing,
)

__all__ = [
    "HUMAN_INPUT_TOOL",
    "Agent",
    "AgentConfig",
    "AgentPrompts",
    "AgentState",
    "AgentStateError",
    "AgentStatus",
    "AgentStep",
    "ConversationHistory",
    "ConversationMemory",
    "FunctionTool",
    "HumanContactRequest",
    "HumanRequestType",
    "LLMClient",
    "MemoryStrategy",
    "Message",
    "MessageRole",
    "ModelPricing",
    "ParameterType",
    "PromptBuilder",
    "PromptRegistry",
    "PromptTemplate",
    "PromptVariable",
    "SlidingWindowMemory",
    "StepType",
    "SummaryMemory",
    "TemplateFormat",
    "TokenCounter",
    "TokenWindowMemory",
    "Tool",
    "ToolCall",
    "ToolDefinition",
    "ToolExecutor",
    "ToolParameter",
    "ToolRegistry",
    "ToolResult",
    "agent_prompts",
    "check_context_limit",
    "count_message_tokens",
    "count_tokens",
    "create_sliding_window_memory",
    "create_summary_memory",
    "create_token_limited_memory",
    "estimate_cost",
    "get_model_pricing",
    "summarizer_for",
    "tool",
]
