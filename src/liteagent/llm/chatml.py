"""ChatML prompts for the local model, in the format of llama-cpp-python's
``chatml-function-calling`` chat handler, without its HTML escaping.

That handler renders its template in a Jinja environment with ``autoescape`` on, so the model
saw ``&lt;``, ``&#34;`` and ``&#39;`` instead of ``<``, ``"`` and ``'`` — and wrote them back
(``{&#34;limit&#34;:5}``). Here the same prompt is built with plain string operations: every
message reaches the model exactly as written. Two differences, both deliberate:

- ``tool`` messages are rendered like any other ChatML turn (the handler's template emitted
  only a dangling ``<|im_start|>tool`` header and dropped the content);
- tool schemas are plain ``json.dumps(..., sort_keys=True)`` (the handler's ``tojson`` filter
  also turned ``<``, ``>``, ``&`` and ``'`` into ``\\u003c``-style escapes).

``plan_tool_choice`` says how a request with tools is generated; the grammar-constrained steps
themselves run in ``liteagent.llm.local``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "IM_END",
    "ToolPlan",
    "choice_grammar",
    "plan_tool_choice",
    "render_prompt",
]

IM_END = "<|im_end|>"

_TOOLS_INTRO = "\n\nYou have access to the following functions:\n"
_TOOLS_USAGE = (
    "\n\nYou can respond to users messages with either a single message or one or more "
    "function calls."
    "\n\nTo respond with a message begin the message with 'message:', use the following format:"
    "\n\nmessage:"
    "\n<message>"
    "\n\nTo respond with one or more function calls begin the message with "
    "'functions.<function_name>:', use the following format:"
    "\n\nfunctions.<function_name>:"
    '\n{ "arg1": "value1", "arg2": "value2" }'
    "\nfunctions.<function_name>:"
    '\n{ "arg1": "value1", "arg2": "value2" }'
)


def _tool_catalogue(tools: Sequence[Mapping[str, Any]]) -> str:
    lines = [_TOOLS_INTRO]
    for tool in tools:
        function = tool["function"]
        parameters = json.dumps(function.get("parameters") or {}, sort_keys=True)
        lines.append(f"\nfunctions.{function['name']}:\n{parameters}\n")
    lines.append(_TOOLS_USAGE)
    return "".join(lines)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def render_prompt(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] = (),
    *,
    offer_tools: bool = False,
) -> str:
    """The ChatML prompt for OpenAI-style ``messages``, ending with the assistant header.

    Args:
        messages: ``role``/``content`` dicts; assistant turns may carry ``tool_calls``.
        tools: OpenAI tool definitions, listed in the system message when ``offer_tools``.
        offer_tools: Describe the tools and the ``message:`` / ``functions.<name>:`` answer
            format (the handler does this whenever a tool may be called).
    """
    parts: list[str] = []
    for message in messages:
        role = _text(message.get("role"))
        content = _text(message.get("content"))
        parts.append(f"<|im_start|>{role}\n")
        if role == "system":
            parts.append(content)
            if offer_tools:
                parts.append(_tool_catalogue(tools))
            parts.append(f"{IM_END}\n")
        elif role == "assistant":
            if content:
                parts.append(("message:\n" if offer_tools else "") + content + f"{IM_END}\n")
            calls = message.get("tool_calls")
            if calls is not None:
                for call in calls:
                    function = call["function"]
                    parts.append(f"functions.{function['name']}:\n{_text(function['arguments'])}")
                parts.append(f"{IM_END}\n")
        else:
            parts.append(f"{content}{IM_END}\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


@dataclass(frozen=True)
class ToolPlan:
    """How a request is generated.

    ``mode`` is ``text`` (a plain answer, tools not offered), ``call`` (the arguments of
    ``tool`` under a grammar built from its JSON schema) or ``choose`` (a grammar-constrained
    choice between ``message:`` and ``functions.<name>:`` first; ``required`` leaves out
    ``message:``).
    """

    mode: Literal["text", "call", "choose"]
    tool: Mapping[str, Any] | None = None
    required: bool = False


def plan_tool_choice(
    tools: Sequence[Mapping[str, Any]], tool_choice: str | Mapping[str, Any] | None
) -> ToolPlan:
    """The generation plan for ``tools`` and an OpenAI ``tool_choice``.

    Raises:
        ValueError: ``tool_choice`` names a function that is not among ``tools``, or is not
            one of ``auto``, ``none``, ``required``.
    """
    if not tools or tool_choice is None or tool_choice == "none":
        return ToolPlan("text")
    if isinstance(tool_choice, Mapping):
        name = tool_choice.get("function", {}).get("name")
        tool = next((t for t in tools if t["function"]["name"] == name), None)
        if tool is None:
            raise ValueError(f"Tool with name '{name}' not found in tools")
        return ToolPlan("call", tool)
    if tool_choice in ("auto", "required"):
        return ToolPlan("choose", required=tool_choice == "required")
    raise ValueError(f"Unsupported tool_choice {tool_choice!r}")


def choice_grammar(tools: Sequence[Mapping[str, Any]], *, required: bool) -> str:
    """GBNF that lets the model pick ``functions.<name>:`` (or ``message:`` unless required)."""
    names = " | ".join(json.dumps(f"functions.{t['function']['name']}:") for t in tools)
    root = "functions" if required else 'functions | "message:"'
    return f"root ::= {root}\nfunctions ::= {names}\n"
