"""The request's OpenAI parameters: each one checked, then honoured or refused.

One place for what a chat-completions request may ask of a ``liteagent/<name>`` model. LiteLLM
hands the handler the client's parameters in ``optional_params`` (``max_completion_tokens``
arrives as ``max_tokens``); ``parse_request_options`` checks them and returns
``RequestOptions``. A malformed value, or one no LiteAgent model can honour, is an
``InvalidRequestError`` (400 ``invalid_request_error``) that names the parameter: it is never
sent to a model, nor reported as an upstream failure.

=====================  ==========================================================================
parameter              handling
=====================  ==========================================================================
temperature            finite number 0-2; passed to the model (the entry's value otherwise)
top_p                  finite number 0-1; passed to the model
max_tokens             positive integer up to ``MAX_TOKENS_CAP``; passed to the model
stop                   a string or up to 4 non-empty strings; passed to the model as stop sequences
n                      1 only: a liteagent model gives one answer per request
response_format        ``text``; ``json_object`` and ``json_schema`` make the answer valid JSON
                       (``liteagent.proxy.structured``)
tools, tool_choice     the client's own tools: offered to the model or ignored, per catalog entry
                       (``client_tools``); a ``tool_choice`` that cannot be honoured is refused
logprobs, top_logprobs refused when asked for: no liteagent model returns log probabilities
seed, presence_penalty, frequency_penalty, logit_bias, user, parallel_tool_calls, metadata, …
                       checked for their type and accepted; they do not change an agent's answer
=====================  ==========================================================================

``validate_content`` checks one message's ``content`` (a string, ``null`` for assistant and tool
messages, or an array of known parts) for ``liteagent.proxy.context.validate_messages``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema

from liteagent.errors import InvalidRequestError
from liteagent.llm.base import ChatOptions

__all__ = [
    "MAX_TOKENS_CAP",
    "RequestOptions",
    "ResponseFormat",
    "chat_options",
    "check_for_entry",
    "parse_request_options",
    "validate_content",
    "validate_message_fields",
]

MAX_TOKENS_CAP = 1_000_000
"""The largest ``max_tokens`` accepted: above every model's output limit."""
MAX_STOP_SEQUENCES = 4
MAX_CLIENT_TOOLS = 128
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOOL_CHOICES = ("none", "auto", "required")
_PART_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "image_url": ("image_url",),
    "input_audio": ("input_audio",),
    "file": ("file",),
    "refusal": ("refusal",),
}
_ADVISORY_NUMBERS = ("presence_penalty", "frequency_penalty", "seed")


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def _shown(value: Any) -> str:
    """A client's value in an error message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ----------------------------------------------------------------------------- response_format
@dataclass(frozen=True)
class ResponseFormat:
    """A ``response_format`` asking for JSON: ``json_object``, or ``json_schema`` with a schema.

    Attributes:
        type: ``json_object`` or ``json_schema``.
        schema: The JSON schema the answer must match (``json_schema`` only).
        name: The schema's name (``json_schema`` only).
        strict: The client's ``strict`` flag, passed on to models that take it.
    """

    type: Literal["json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool | None = None

    def to_openai(self) -> dict[str, Any]:
        """The ``response_format`` for an OpenAI-wire model."""
        if self.type == "json_object":
            return {"type": "json_object"}
        spec: dict[str, Any] = {"name": self.name, "schema": dict(self.schema or {})}
        if self.strict is not None:
            spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}

    def problem(self, value: Any) -> str | None:
        """Why a parsed JSON value does not fit the format, or ``None`` when it does."""
        if self.schema is None:
            return None if isinstance(value, dict) else "the answer must be a JSON object"
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(self.schema)(self.schema).iter_errors(value)
        )
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"at {where}: {error.message}"


def _response_format(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(
            '\'response_format\' must be an object such as {"type": "json_object"} '
            f"(got {type(value).__name__})."
        )
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise _fail(
            "response_format.type must be 'text', 'json_object' or 'json_schema' "
            f"(got {_shown(kind)})."
        )
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping):
        raise _fail(
            "response_format.json_schema is required for type 'json_schema': an object with "
            "'name' and 'schema'."
        )
    name = spec.get("name", "response")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise _fail("response_format.json_schema.name must be 1-64 letters, digits, '_' or '-'.")
    schema = spec.get("schema")
    if not isinstance(schema, Mapping):
        raise _fail("response_format.json_schema.schema must be a JSON schema object.")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise _fail(
            f"response_format.json_schema.schema is not a valid JSON schema: {exc.message}"
        ) from None
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _fail("response_format.json_schema.strict must be true or false.")
    return ResponseFormat("json_schema", schema=dict(schema), name=name, strict=strict)


# ----------------------------------------------------------------------------- tools
def _tools(value: Any) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail('\'tools\' must be an array of {"type": "function", "function": …}.')
    if len(value) > MAX_CLIENT_TOOLS:
        raise _fail(f"'tools' may hold at most {MAX_CLIENT_TOOLS} tools (got {len(value)}).")
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            raise _fail(f'{where} must be an object with "type": "function".')
        fn = tool.get("function")
        if not isinstance(fn, Mapping):
            raise _fail(f"{where}.function must be an object with a 'name'.")
        name = fn.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _fail(f"{where}.function.name must be 1-64 letters, digits, '_' or '-'.")
        if name in seen:
            raise _fail(f"{where}.function.name '{name}' is listed twice.")
        seen.add(name)
        description = fn.get("description")
        if description is not None and not isinstance(description, str):
            raise _fail(f"{where}.function.description must be a string.")
        parameters = fn.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise _fail(f"{where}.function.parameters must be a JSON schema object.")
        clean: dict[str, Any] = {"name": name}
        if description:
            clean["description"] = description
        clean["parameters"] = (
            dict(parameters) if parameters is not None else {"type": "object", "properties": {}}
        )
        out.append({"type": "function", "function": clean})
    return tuple(out)


def _tool_choice(value: Any, tools: tuple[dict[str, Any], ...]) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in _TOOL_CHOICES:
            raise _fail(
                f"'tool_choice' must be 'none', 'auto', 'required' or "
                f'{{"type": "function", "function": {{"name": …}}}} (got {_shown(value)}).'
            )
        if value == "required" and not tools:
            raise _fail("'tool_choice' is 'required' but the request has no 'tools'.")
        return value
    fn = value.get("function") if isinstance(value, Mapping) else None
    name = fn.get("name") if isinstance(fn, Mapping) else None
    if (
        not isinstance(value, Mapping)
        or value.get("type") != "function"
        or not isinstance(name, str)
    ):
        raise _fail(
            "'tool_choice' must be 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": …}}.'
        )
    if name not in {t["function"]["name"] for t in tools}:
        raise _fail(f"'tool_choice' names the function '{name}', which is not in 'tools'.")
    return {"type": "function", "function": {"name": name}}


# ----------------------------------------------------------------------------- options
@dataclass(frozen=True)
class RequestOptions:
    """The request's checked parameters (``None``: the client did not set it)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    response_format: ResponseFormat | None = None
    tools: tuple[dict[str, Any], ...] = field(default=())
    tool_choice: str | dict[str, Any] | None = None


def _number(params: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or not low <= value <= high:
        raise _fail(f"'{name}' must be a number from {low:g} to {high:g} (got {_shown(value)}).")
    return float(value)


def _max_tokens(params: Mapping[str, Any]) -> int | None:
    for name in ("max_tokens", "max_completion_tokens"):
        value = params.get(name)
        if value is None:
            continue
        if not _is_int(value) or not 1 <= value <= MAX_TOKENS_CAP:
            raise _fail(
                f"'{name}' must be a whole number from 1 to {MAX_TOKENS_CAP} (got {_shown(value)})."
            )
        return int(value)
    return None


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not all(isinstance(s, str) and s for s in items)
        or len(items) > MAX_STOP_SEQUENCES
    ):
        raise _fail(
            f"'stop' must be a non-empty string or an array of up to {MAX_STOP_SEQUENCES} "
            "non-empty strings."
        )
    return tuple(dict.fromkeys(items))


def _n(value: Any) -> None:
    if value is None or (value == 1 and _is_int(value)):
        return
    if _is_int(value) and value > 1:
        raise _fail(
            f"n={value} is not supported: liteagent models give one answer per request. "
            "Send n=1 (or leave it out) and repeat the request for more answers."
        )
    raise _fail(f"'n' must be 1 (got {_shown(value)}).")


def _advisory(params: Mapping[str, Any]) -> None:
    """Parameters that do not change an agent's answer: only their type is checked."""
    for name in _ADVISORY_NUMBERS:
        value = params.get(name)
        if value is not None and (not _is_number(value) or not math.isfinite(value)):
            raise _fail(f"'{name}' must be a number (got {_shown(value)}).")
    for name in ("logit_bias", "metadata", "stream_options"):
        value = params.get(name)
        if value is not None and not isinstance(value, Mapping):
            raise _fail(f"'{name}' must be an object.")
    value = params.get("parallel_tool_calls")
    if value is not None and not isinstance(value, bool):
        raise _fail("'parallel_tool_calls' must be true or false.")
    if params.get("logprobs") not in (None, False):
        raise _fail("'logprobs' is not supported: liteagent models return no log probabilities.")
    if params.get("top_logprobs") is not None:
        raise _fail(
            "'top_logprobs' is not supported: liteagent models return no log probabilities."
        )


def parse_request_options(params: Mapping[str, Any] | None) -> RequestOptions:
    """Check the request's parameters (LiteLLM's ``optional_params``).

    Raises:
        InvalidRequestError: A parameter is malformed or asks for what no liteagent model does.
    """
    params = params or {}
    _n(params.get("n"))
    _advisory(params)
    tools = _tools(params.get("tools"))
    return RequestOptions(
        temperature=_number(params, "temperature", 0.0, 2.0),
        top_p=_number(params, "top_p", 0.0, 1.0),
        max_tokens=_max_tokens(params),
        stop=_stop(params.get("stop")),
        response_format=_response_format(params.get("response_format")),
        tools=tools,
        tool_choice=_tool_choice(params.get("tool_choice"), tools),
    )


def chat_options(
    options: RequestOptions,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    native_json: bool = True,
) -> ChatOptions:
    """Generation options for the model: the request's, else the catalog entry's.

    Args:
        options: The request's options.
        temperature: The entry's temperature, used when the request sets none.
        max_tokens: The entry's max_tokens, used when the request sets none.
        native_json: Pass ``response_format`` on (providers that do not take it ignore it;
            ``liteagent.proxy.structured`` asks for JSON in words as well and checks the answer).
    """
    return ChatOptions(
        temperature=options.temperature if options.temperature is not None else temperature,
        max_tokens=options.max_tokens if options.max_tokens is not None else max_tokens,
        top_p=options.top_p,
        stop=options.stop,
        response_format=(
            options.response_format.to_openai()
            if native_json and options.response_format is not None
            else None
        ),
    )


def check_for_entry(
    model: str, options: RequestOptions, client_tools: str, *, kind: str = "agent"
) -> None:
    """Refuse what the catalog entry cannot honour.

    Only an ``agent`` entry with ``client_tools: offer`` gives the model the request's tools;
    elsewhere they are ignored, so a choice that forces one of them is refused rather than
    silently dropped. A workflow runs several models, each with its node's own settings: the
    request's ``stop`` and ``top_p`` have no single model to go to.

    Raises:
        InvalidRequestError: ``tool_choice`` is ``required`` or names a function, and the
            entry does not offer the request's tools; ``stop`` or ``top_p`` for a workflow.
    """
    if kind == "workflow":
        for name, value in (("stop", options.stop or None), ("top_p", options.top_p)):
            if value is not None:
                raise _fail(
                    f"'{name}' is not supported by {model}: a workflow runs several models, "
                    "each with its own settings. Leave it out."
                )
    choice = options.tool_choice
    if choice in (None, "auto", "none") or client_tools == "offer":
        return
    shown = f"'{choice}'" if isinstance(choice, str) else f"naming '{choice['function']['name']}'"
    raise _fail(
        f"tool_choice {shown} cannot be honoured: {model} does not offer the request's tools "
        "to its model (its catalog entry needs client_tools: offer). Leave tool_choice out or "
        "set it to 'auto'."
    )


# ----------------------------------------------------------------------------- messages
def _part_problem(part: Any) -> str | None:
    if not isinstance(part, Mapping):
        return "must be an object with a 'type'"
    kind = part.get("type")
    if kind not in _PART_FIELDS:
        return f"has an unknown type {_shown(kind)} (known: {', '.join(_PART_FIELDS)})"
    value = part.get(kind)
    if kind in ("text", "refusal"):
        return None if isinstance(value, str) else f"needs '{kind}' as a string"
    if kind == "image_url":
        url = value.get("url") if isinstance(value, Mapping) else value
        return None if isinstance(url, str) else 'needs \'image_url\' as {"url": "…"}'
    if kind == "input_audio":
        ok = isinstance(value, Mapping) and all(
            isinstance(value.get(k), str) for k in ("data", "format")
        )
        return None if ok else 'needs \'input_audio\' as {"data": "…", "format": "…"}'
    ok = isinstance(value, Mapping) and all(
        value.get(k) is None or isinstance(value.get(k), str)
        for k in ("file_data", "file_id", "filename")
    )
    return None if ok else "needs 'file' as an object of strings (file_data, file_id, filename)"


def validate_content(index: int, role: str, content: Any) -> None:
    """Check ``messages[index].content``: a string, ``null`` (assistant, tool) or known parts.

    Raises:
        InvalidRequestError: Naming ``messages[i].content`` or ``messages[i].content[j]``.
    """
    where = f"messages[{index}].content"
    if content is None:
        if role in ("system", "developer", "user"):
            raise _fail(f"{where} is required for role '{role}'.")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(
            f"{where} must be a string or an array of content parts (got {type(content).__name__})."
        )
    for j, part in enumerate(content):
        problem = _part_problem(part)
        if problem is not None:
            raise _fail(f"{where}[{j}] {problem}.")


def validate_message_fields(index: int, message: Mapping[str, Any]) -> None:
    """Check a message's ``name``, ``tool_call_id`` and assistant ``tool_calls``.

    Raises:
        InvalidRequestError: Naming the field.
    """
    where = f"messages[{index}]"
    for key in ("name", "tool_call_id"):
        value = message.get(key)
        if value is not None and not isinstance(value, str):
            raise _fail(f"{where}.{key} must be a string.")
    calls = message.get("tool_calls")
    if calls is None:
        return
    if not isinstance(calls, list):
        raise _fail(f"{where}.tool_calls must be an array.")
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, Mapping) else None
        ok = (
            isinstance(call, Mapping)
            and isinstance(call.get("id"), str)
            and isinstance(fn, Mapping)
            and isinstance(fn.get("name"), str)
            and isinstance(fn.get("arguments", ""), str)
        )
        if not ok:
            raise _fail(
                f"{where}.tool_calls[{j}] must be "
                '{"id": "…", "type": "function", "function": {"name": "…", "arguments": "…"}}.'
            )
