"""Workflow errors, all under ``liteagent.errors.LiteAgentError``::

    LiteAgentError
    ├── WorkflowValidationError (400 workflow_invalid)     malformed graph or node config
    ├── ExpressionError (400 invalid_expression)           condition/template rejected
    ├── HumanResponseError (400 invalid_human_response)    answer not among the options
    ├── UnsafeURLError (400 unsafe_url)                    HTTP node refused an address
    └── WorkflowExecutionError (500 workflow_failed)       a node failed while running

Messages name the node, edge or field involved and say what to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from liteagent.errors import LiteAgentError

__all__ = [
    "ExpressionError",
    "HumanResponseError",
    "UnsafeURLError",
    "WorkflowExecutionError",
    "WorkflowValidationError",
]


class WorkflowValidationError(LiteAgentError, status_code=400, error_code="workflow_invalid"):
    """A workflow definition is malformed. ``problems`` lists every problem found."""

    def __init__(self, workflow_id: str, problems: Sequence[str]) -> None:
        self.workflow_id = workflow_id
        self.problems = list(problems)
        listed = "; ".join(self.problems)
        super().__init__(f"Workflow '{workflow_id}' is invalid: {listed}")


class ExpressionError(LiteAgentError, status_code=400, error_code="invalid_expression"):
    """An expression could not be parsed or evaluated (never executed as Python).

    Attributes:
        expression: The offending text (truncated for long input).
        position: Character offset of the problem, when known.
    """

    def __init__(self, message: str, expression: str = "", position: int | None = None) -> None:
        self.expression = expression if len(expression) <= 120 else expression[:117] + "..."
        self.position = position
        where = f" at position {position}" if position is not None else ""
        shown = f" in expression {self.expression!r}" if expression else ""
        super().__init__(f"{message}{where}{shown}")


class HumanResponseError(LiteAgentError, status_code=400, error_code="invalid_human_response"):
    """A human response does not fit the waiting HUMAN node (wrong node or option)."""


class UnsafeURLError(LiteAgentError, status_code=400, error_code="unsafe_url"):
    """An HTTP request node refused a URL (scheme, private address, size or time limit)."""


class WorkflowExecutionError(LiteAgentError, error_code="workflow_failed"):
    """A workflow node failed while running, or the engine was asked something impossible."""
