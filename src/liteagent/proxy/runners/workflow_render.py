"""What a workflow run looks like in the chat: one finished block per node, questions, answers.

Every finished node (except START and END) becomes one collapsed block, written once and never
changed (Open WebUI's stream is append-only; see docs/openwebui.md)::

    <details type="workflow_node" done="true">
    <summary>route (condition): true</summary>
    > `billing_signals and not technical_signals`
    </details>

Open WebUI shows the summary line with a chevron and the body when opened; a plain OpenAI client
shows the summary as a readable line. Every block has a body line: Open WebUI's block parser
(``src/lib/utils/marked/extension.ts``) only reads the summary when a line follows it, and shows
an empty button otherwise. A failed node's summary starts with ❌ and its body holds the error.

Open WebUI sends the blocks back in the history, where they are stripped before fingerprints
and models see them. Text from models and users is made inert inside blocks (``inert_text``),
so an answer cannot close a block early, inject markup or open a reasoning section.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from liteagent.proxy.openwebui import blockquote, code_span, inert_text
from liteagent.workflows import NodeDefinition, NodeExecution, NodeStatus, NodeType

__all__ = ["node_block", "node_label", "question_text", "result_text"]

SUMMARY_CHARS = 100
BODY_CHARS = 1500


def node_label(node: NodeDefinition) -> str:
    """The node's ``label``, else its id."""
    label = node.config.get("label")
    return label if isinstance(label, str) and label.strip() else node.id


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _short(value: Any, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(_text(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(value: Any, empty: str) -> str:
    text = _text(value).strip()
    if len(text) > BODY_CHARS:
        text = text[: BODY_CHARS - 1] + "…"
    return blockquote(text) or blockquote(empty)


def _code(value: Any, empty: str) -> str:
    text = _short(value, BODY_CHARS)
    return "> " + code_span(text) if text else blockquote(empty)


def _failed(execution: NodeExecution) -> tuple[str, str]:
    out = execution.output_data
    error = execution.error or str(out.get("error") or "") or "no error message"
    if out.get("error_suppressed"):
        return f"failed (continued): {_short(error)}", (
            _quote(error, "") + "\n>\n> An error hook let the workflow go on."
        )
    return f"failed: {_short(error)}", _quote(error, "")


def _describe(node: NodeDefinition, execution: NodeExecution) -> tuple[str, str]:
    """(summary after the node's name, body) for a finished node; the body is never empty."""
    out = execution.output_data
    kind = node.type
    if kind is NodeType.AGENT:
        calls = len(out.get("tool_calls") or [])
        extra = f", {calls} tool call{'s' if calls != 1 else ''}" if calls else ""
        return f"answered{extra}", _quote(out.get("response") or "", "(no answer)")
    if kind is NodeType.CONDITION:
        condition = node.config.get("condition", "")
        return str(bool(out.get("condition_result"))).lower(), _code(condition, "(no condition)")
    if kind is NodeType.TRANSFORM:
        result = out.get("result")
        how = f"{out.get('transform') or 'transform'} →"
        return _short(result), blockquote(how) + "\n" + _code(result, "(nothing)")
    if kind is NodeType.HUMAN:
        return f"you answered {_short(out.get('response'))}", _quote(
            out.get("prompt") or "", "(no question)"
        )
    if kind is NodeType.LOOP:
        return _loop(node, execution)
    if kind is NodeType.MERGE:
        branches = [str(b) for b in out.get("branches") or []]
        merged = out.get("merged") or {}
        lines = [f"{b}: {_short(merged.get(b, {}), SUMMARY_CHARS)}" for b in branches]
        return f"joined {', '.join(branches) or 'nothing'}", _quote(
            "\n".join(lines), "No branch arrived."
        )
    if kind is NodeType.WAIT:
        if "event" in out:
            return f"got event {_short(out.get('event'))}", _code(out.get("data"), "(no data)")
        seconds = out.get("waited_seconds")
        return f"waited {seconds} s", blockquote(f"Waited {seconds} seconds, then went on.")
    if kind is NodeType.PARALLEL:
        return "started the branches", blockquote("The steps after this one run side by side.")
    return "done", _code(out if out else "", "(no output)")


def _loop(node: NodeDefinition, execution: NodeExecution) -> tuple[str, str]:
    out = execution.output_data
    iteration = out.get("iteration", 0)
    if out.get("continue"):
        state, line = "again", f"Iteration {iteration}: the loop runs its body again."
    elif out.get("exhausted"):
        limit = node.config.get("max_iterations", iteration)
        state, line = "done", f"Iteration {iteration}: stopped at max_iterations ({limit})."
    else:
        state, line = "done", f"Iteration {iteration}: the condition no longer holds."
    condition = node.config.get("condition")
    body = blockquote(line)
    if condition:
        body += "\n>\n> while " + code_span(str(condition))
    return f"iteration {iteration}, {state}", body


def node_block(node: NodeDefinition, execution: NodeExecution) -> str:
    """One finished block for a node (START and END get none: empty string).

    Args:
        node: The node's definition (label, type, config).
        execution: Its latest execution.

    Returns:
        The block, ending with a newline: a summary line ("<label> (<type>): <what happened>",
        "❌ …: failed: <error>" for a failed node) and at least one body line.
    """
    if node.type in (NodeType.START, NodeType.END):
        return ""
    failed = execution.status is NodeStatus.FAILED
    what, body = _failed(execution) if failed else _describe(node, execution)
    kind = node.type.value
    if node.type is NodeType.CUSTOM and isinstance(node.config.get("handler"), str):
        kind = f"{kind}: {node.config['handler']}"
    mark = "❌ " if failed else ""
    summary = inert_text(" ".join(f"{mark}{node_label(node)} ({kind}): {what}".split()))
    return (
        f'<details type="workflow_node" done="true">\n<summary>{summary}</summary>\n'
        f"{body}\n</details>\n"
    )


def question_text(prompt: str, options: Sequence[str] | None) -> str:
    """A HUMAN node's question as chat text, with how to answer."""
    lines = [prompt.strip()]
    if options:
        listed = ", ".join(f"`{o}`" for o in options)
        lines.append(f"Reply with one of: {listed} (or `cancel` to stop).")
    else:
        lines.append("Reply with your answer (or `cancel` to stop).")
    return "\n\n".join(lines)


def result_text(result: Any) -> str:
    """The run's result as chat text (JSON in a code block when it is not text)."""
    if isinstance(result, str) and result.strip():
        return result
    if result is None or isinstance(result, str):
        return "The workflow finished without an answer."
    return "```json\n" + json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n```"
