"""What a workflow run looks like in the chat: one finished block per node, questions, answers.

Every finished node (except START and END) becomes one collapsed block, written once and never
changed (Open WebUI's stream is append-only; see OPENWEBUI.md)::

    <details type="workflow_node" done="true">
    <summary>route (condition): true</summary>
    > `billing_signals and not technical_signals`
    </details>

Open WebUI shows the summary line with a chevron and the body when opened; a plain OpenAI client
shows the summary as a readable line. Open WebUI sends the blocks back in the history, where they
are stripped before fingerprints and models see them. Text from models and users is HTML-escaped
inside blocks, so an answer cannot close a block early or inject markup.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from liteagent.workflows import NodeDefinition, NodeExecution, NodeStatus, NodeType

__all__ = ["node_block", "node_label", "question_text", "result_text"]

SUMMARY_CHARS = 100
BODY_CHARS = 1500


def node_label(node: NodeDefinition) -> str:
    """The node's ``label``, else its id."""
    label = node.config.get("label")
    return label if isinstance(label, str) and label.strip() else node.id


def _short(value: Any, limit: int = SUMMARY_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str, limit: int = BODY_CHARS) -> str:
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    escaped = html.escape(text, quote=False)
    return "\n".join(f"> {line}" if line.strip() else ">" for line in escaped.splitlines())


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return _quote(f"`{_short(text, BODY_CHARS)}`")


def _describe(node: NodeDefinition, execution: NodeExecution) -> tuple[str, str]:
    """(summary after the node's name, body) for a finished node."""
    out = execution.output_data
    kind = node.type
    if execution.status is NodeStatus.FAILED:
        suffix = " (continued)" if out.get("error_suppressed") else ""
        return f"failed{suffix}: {_short(execution.error or out.get('error') or '')}", ""
    if kind is NodeType.AGENT:
        calls = len(out.get("tool_calls") or [])
        extra = f", {calls} tool call{'s' if calls != 1 else ''}" if calls else ""
        return f"answered{extra}", _quote(str(out.get("response") or ""))
    if kind is NodeType.CONDITION:
        condition = str(node.config.get("condition", ""))
        return str(bool(out.get("condition_result"))).lower(), _code(condition)
    if kind is NodeType.TRANSFORM:
        return _short(out.get("result")), ""
    if kind is NodeType.HUMAN:
        return f"you answered {_short(out.get('response'))}", _quote(str(out.get("prompt") or ""))
    if kind is NodeType.LOOP:
        state = "again" if out.get("continue") else "done"
        return f"iteration {out.get('iteration', 0)}, {state}", ""
    if kind is NodeType.MERGE:
        return f"joined {', '.join(map(str, out.get('branches') or [])) or 'nothing'}", ""
    if kind is NodeType.WAIT:
        return f"waited {out.get('waited_seconds')} s", ""
    if kind is NodeType.PARALLEL:
        return "started the branches", ""
    return "done", _code(out) if out else ""


def node_block(node: NodeDefinition, execution: NodeExecution) -> str:
    """One finished block for a node (START and END get none: empty string)."""
    if node.type in (NodeType.START, NodeType.END):
        return ""
    what, body = _describe(node, execution)
    kind = node.type.value
    if node.type is NodeType.CUSTOM and isinstance(node.config.get("handler"), str):
        kind = f"{kind}: {node.config['handler']}"
    summary = html.escape(f"{node_label(node)} ({kind}): {what}", quote=False)
    inner = f"{body}\n" if body else ""
    return (
        f'<details type="workflow_node" done="true">\n<summary>{summary}</summary>\n'
        f"{inner}</details>\n"
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
