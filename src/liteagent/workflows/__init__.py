"""Workflows: graphs of agents, conditions, loops, parallel branches and human steps.

Build a graph with ``WorkflowBuilder`` (or ``workflow_from_dict`` from YAML-like data), run it
with ``WorkflowEngine``; the stateless ``WorkflowReducer`` does the work and ``WorkflowState`` is
plain, JSON-serialisable data. Conditions and templates use a small safe expression language
(``liteagent.workflows.expressions``), never ``eval``. See ``docs/workflows.md``.
"""

from liteagent.workflows.builder import WorkflowBuilder, validate_definition
from liteagent.workflows.declarative import workflow_from_dict
from liteagent.workflows.engine import DEFAULT_MAX_STEPS, WorkflowEngine
from liteagent.workflows.errors import (
    ExpressionError,
    HumanResponseError,
    UnsafeURLError,
    WorkflowExecutionError,
    WorkflowValidationError,
)
from liteagent.workflows.expressions import (
    Expression,
    compile_expression,
    evaluate_condition,
    evaluate_expression,
    render_template,
)
from liteagent.workflows.extensions import (
    ConditionRegistry,
    TransformerRegistry,
    WorkflowHooks,
    condition_registry,
    node_handler_registry,
    register_node_handler,
    transformer_registry,
    workflow_hooks,
)
from liteagent.workflows.handlers import AgentRunner, NodeHandler, WaitRequest
from liteagent.workflows.reducer import WorkflowReducer
from liteagent.workflows.state import WorkflowDefinition, WorkflowState
from liteagent.workflows.types import (
    Edge,
    NodeDefinition,
    NodeExecution,
    NodeStatus,
    NodeType,
    WorkflowEvent,
    WorkflowStatus,
)

__all__ = [
    "DEFAULT_MAX_STEPS",
    "AgentRunner",
    "ConditionRegistry",
    "Edge",
    "Expression",
    "ExpressionError",
    "HumanResponseError",
    "NodeDefinition",
    "NodeExecution",
    "NodeHandler",
    "NodeStatus",
    "NodeType",
    "TransformerRegistry",
    "UnsafeURLError",
    "WaitRequest",
    "WorkflowBuilder",
    "WorkflowDefinition",
    "WorkflowEngine",
    "WorkflowEvent",
    "WorkflowExecutionError",
    "WorkflowHooks",
    "WorkflowReducer",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowValidationError",
    "compile_expression",
    "condition_registry",
    "evaluate_condition",
    "evaluate_expression",
    "node_handler_registry",
    "register_node_handler",
    "render_template",
    "transformer_registry",
    "validate_definition",
    "workflow_from_dict",
    "workflow_hooks",
]
