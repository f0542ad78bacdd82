"""Prompts the agent owns (factor 2): templates, a builder and a versioned registry.

Every text the engine sends to a model or shows a person comes from a ``PromptTemplate`` in
``agent_prompts`` (a ``PromptRegistry``). Register a newer version under the same name to change
one without touching the engine::

    agent_prompts.register(
        "agent.tool_error", PromptTemplate("{tool_name} broke: {error}"), version="2.0"
    )

Template formats: ``FSTRING`` (``{name}``, the default), ``PYTHON`` (``$name``, from
``string.Template``) and ``JINJA2`` (sandboxed). Field expressions such as ``{a.b}`` or
``{a[0]}`` are refused, so templates from configuration cannot reach into objects.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liteagent.agents.types import ToolCall, ToolDefinition

__all__ = [
    "AgentPrompts",
    "PromptBuilder",
    "PromptRegistry",
    "PromptTemplate",
    "PromptVariable",
    "TemplateFormat",
    "ValidationResult",
    "agent_prompts",
]


class TemplateFormat(StrEnum):
    """How a template marks its variables."""

    PYTHON = "python"  # $name / ${name} (string.Template)
    JINJA2 = "jinja2"  # {{ name }} in a sandbox
    FSTRING = "fstring"  # {name} (str.format without attribute or index access)


@dataclass
class ValidationResult:
    """Outcome of checking values against a template's variables."""

    valid: bool
    errors: list[str] = field(default_factory=list)


@dataclass
class PromptVariable:
    """A declared template variable."""

    name: str
    description: str = ""
    required: bool = True
    default: Any = None

    def validate(self, value: Any) -> bool:
        """A required variable must be given and not empty."""
        if value is None:
            return not self.required
        return not (self.required and isinstance(value, str) and not value.strip())


class PromptTemplate:
    """A text with named variables.

    Args:
        template: The text.
        variables: Declared variables (descriptions, defaults); undeclared names found in the
            text are required.
        format: How variables are written (default ``{name}``).
    """

    def __init__(
        self,
        template: str,
        variables: Sequence[PromptVariable] | None = None,
        format: TemplateFormat = TemplateFormat.FSTRING,
    ) -> None:
        self.template = template
        self.format = TemplateFormat(format)
        declared = {v.name: v for v in variables or ()}
        for name in self._names_in_text():
            declared.setdefault(name, PromptVariable(name=name))
        self.variables: dict[str, PromptVariable] = declared

    def _names_in_text(self) -> list[str]:
        names: list[str] = []
        if self.format == TemplateFormat.FSTRING:
            for _, field_name, _, _ in string.Formatter().parse(self.template):
                if field_name is None:
                    continue
                if not field_name.isidentifier():
                    raise ValueError(
                        f"template field '{{{field_name}}}' must be a plain name "
                        "(no attribute access, indexing or positional fields)"
                    )
                names.append(field_name)
        elif self.format == TemplateFormat.PYTHON:
            names = list(string.Template(self.template).get_identifiers())
        else:
            from jinja2 import meta
            from jinja2.sandbox import SandboxedEnvironment

            parsed = SandboxedEnvironment().parse(self.template)
            names = sorted(meta.find_undeclared_variables(parsed))
        return list(dict.fromkeys(names))

    def get_variable_names(self) -> list[str]:
        return list(self.variables)

    def validate_variables(self, values: Mapping[str, Any]) -> ValidationResult:
        errors = [
            f"missing or empty variable '{name}'"
            for name, var in self.variables.items()
            if not var.validate(values.get(name, var.default))
        ]
        return ValidationResult(valid=not errors, errors=errors)

    def render(self, **values: Any) -> str:
        """Fill in the variables; raises ``ValueError`` naming any that are missing."""
        merged = {
            name: var.default for name, var in self.variables.items() if var.default is not None
        }
        merged.update(values)
        result = self.validate_variables(merged)
        if not result.valid:
            raise ValueError("; ".join(result.errors))
        if self.format == TemplateFormat.FSTRING:
            return self.template.format_map({k: merged.get(k, "") for k in self.variables})
        if self.format == TemplateFormat.PYTHON:
            return string.Template(self.template).safe_substitute(merged)
        from jinja2 import StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        return env.from_string(self.template).render(**merged)

    def __call__(self, **values: Any) -> str:
        return self.render(**values)

    def __repr__(self) -> str:
        return f"PromptTemplate({self.template[:40]!r}, format={self.format.value})"


class PromptBuilder:
    """Assemble a prompt piece by piece; ``{name}`` placeholders are filled at ``build``."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._variables: dict[str, Any] = {}

    def add(self, text: str) -> PromptBuilder:
        self._parts.append(text)
        return self

    def add_line(self, text: str = "") -> PromptBuilder:
        self._parts.append(text + "\n")
        return self

    def add_section(self, title: str, content: str) -> PromptBuilder:
        if self._parts and not self._parts[-1].endswith("\n\n"):
            self._parts.append("\n" if self._parts[-1].endswith("\n") else "\n\n")
        self._parts.append(f"{title}:\n{content.rstrip()}\n")
        return self

    def add_if(self, condition: bool, text: str) -> PromptBuilder:
        if condition:
            self._parts.append(text)
        return self

    def set_variable(self, name: str, value: Any) -> PromptBuilder:
        self._variables[name] = value
        return self

    def build(self) -> str:
        text = "".join(self._parts).strip()
        if not self._variables:
            return text
        return PromptTemplate(text).render(**self._variables)

    def clear(self) -> PromptBuilder:
        self._parts.clear()
        self._variables.clear()
        return self


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-]", version))


class PromptRegistry:
    """Named templates with versions; ``get`` without a version returns the newest."""

    def __init__(self) -> None:
        self._templates: dict[str, dict[str, PromptTemplate]] = {}

    def register(self, name: str, template: PromptTemplate, version: str = "1.0") -> None:
        self._templates.setdefault(name, {})[version] = template

    def get(self, name: str, version: str | None = None) -> PromptTemplate:
        versions = self._templates.get(name)
        if not versions:
            raise KeyError(f"no prompt named '{name}'")
        if version is None:
            return versions[max(versions, key=_version_key)]
        try:
            return versions[version]
        except KeyError:
            raise KeyError(
                f"prompt '{name}' has no version {version} (has {', '.join(sorted(versions))})"
            ) from None

    def versions(self, name: str) -> list[str]:
        return sorted(self._templates.get(name, {}), key=_version_key)

    def list_templates(self) -> list[str]:
        return sorted(self._templates)

    def render(self, name: str, version: str | None = None, **values: Any) -> str:
        return self.get(name, version).render(**values)


agent_prompts = PromptRegistry()
"""The engine's own prompts; register a newer version of a name to change it."""

agent_prompts.register(
    "agent.system",
    PromptTemplate(
        "{purpose}\n\nYou can use these tools:\n{tool_list}\n\n"
        "Call a tool when it helps; otherwise answer directly. "
        "When a tool result arrives, answer the user with it.{human_hint}",
        variables=[PromptVariable("human_hint", "Optional hint about asking the user", False)],
    ),
)
agent_prompts.register(
    "agent.human_hint",
    PromptTemplate(
        " If you need information only the user can give, call request_human_input "
        "with your question."
    ),
)
agent_prompts.register(
    "agent.tool_error",
    PromptTemplate(
        "Error from {tool_name}: {error}\nFix the arguments and call it again, "
        "or tell the user what went wrong."
    ),
)
agent_prompts.register(
    "agent.approval_request",
    PromptTemplate(
        "**Approval needed.** I want to run:\n\n{calls}\n\n"
        'Reply **approve** (or "yes") to run {it}, or **reject** followed by your reason to '
        "refuse."
    ),
)
agent_prompts.register(
    "agent.rejected",
    PromptTemplate("The user rejected this call and it was not run. Reason: {reason}"),
)
agent_prompts.register("agent.input_request", PromptTemplate("**I need your input.** {question}"))
agent_prompts.register(
    "agent.clarification_request",
    PromptTemplate(
        "**I need your help.** My last {count} tool calls failed; the last error was:\n\n"
        "> {error}\n\nTell me how to proceed (or reply **cancel** to stop)."
    ),
)
agent_prompts.register(
    "agent.tool_result_as_text",
    PromptTemplate("[result of {tool_name}]\n{content}"),
)


class AgentPrompts:
    """The texts of the agent loop, rendered from ``agent_prompts``."""

    @staticmethod
    def system_prompt(agent_purpose: str, tools: Sequence[ToolDefinition]) -> str:
        """The purpose, followed by the tools in plain language when there are any."""
        visible = [t for t in tools if t.name != "request_human_input"]
        if not tools:
            return agent_purpose.strip()
        lines = []
        for t in visible:
            note = " (asks the user for approval first)" if t.requires_human_approval else ""
            lines.append(f"- {t.name}: {t.description.strip()}{note}")
        asks = any(t.name == "request_human_input" for t in tools)
        return agent_prompts.render(
            "agent.system",
            purpose=agent_purpose.strip(),
            tool_list="\n".join(lines) or "- request_human_input: ask the user a question",
            human_hint=agent_prompts.render("agent.human_hint") if asks else "",
        )

    @staticmethod
    def error_context(error: str, tool_name: str) -> str:
        """What the model reads when a tool failed (the error is already compact)."""
        return agent_prompts.render("agent.tool_error", error=error, tool_name=tool_name)

    @staticmethod
    def describe_call(call: ToolCall) -> str:
        """One held call as the person sees it: the tool's name, then its arguments as they will
        be run, in a code fence no argument can close (so nothing the model chose renders as
        markdown: no links, images or bold "safe to approve" text)."""
        args = json.dumps(call.arguments, ensure_ascii=False, indent=2)
        longest = max((len(run) for run in re.findall(r"`+", args)), default=0)
        fence = "`" * max(3, longest + 1)
        name = re.sub(r"[^\w.-]", "_", call.name)
        return f"`{name}` with:\n\n{fence}json\n{args}\n{fence}"

    @staticmethod
    def approval_request(calls: Sequence[ToolCall]) -> str:
        return agent_prompts.render(
            "agent.approval_request",
            calls="\n\n".join(AgentPrompts.describe_call(c) for c in calls),
            it="it" if len(calls) == 1 else "them",
        )

    @staticmethod
    def rejected(reason: str) -> str:
        return agent_prompts.render("agent.rejected", reason=reason.strip() or "no reason given")

    @staticmethod
    def input_request(question: str) -> str:
        return agent_prompts.render("agent.input_request", question=question)

    @staticmethod
    def clarification_request(error: str, count: int) -> str:
        return agent_prompts.render("agent.clarification_request", error=error, count=count)

    @staticmethod
    def tool_result_as_text(tool_name: str, content: str) -> str:
        return agent_prompts.render(
            "agent.tool_result_as_text", tool_name=tool_name, content=content
        )
