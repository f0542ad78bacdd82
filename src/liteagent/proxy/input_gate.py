"""Input validation of chat requests: an entry's ``input_validation`` (``off | flag | block``).

Before a run starts, the text people and clients wrote (system, user and tool messages; not the
assistant turns, which are the model's own earlier answers) goes through the seeds'
``MessageValidator`` (``liteagent.security.validation``):

- ``flag`` (the default, ``LITEAGENT_INPUT_VALIDATION``): the request runs; an ``input_flagged``
  event is logged with the names of the checks and the positions of the messages (never their
  text), the run's response metadata (``liteagent.input_flags``) and a stored agent run's state
  (``metadata.input_flags``) name the checks;
- ``block``: the request is refused with a 400 that names the check and says what to do;
- ``off``: nothing is checked.

Open WebUI's background tasks (titles, tags, follow-ups) are never checked: they quote the chat
and run no tools. A request with more text than ``OFF_LOOP_CHARS`` is scanned in a worker thread
(the scans release the GIL), so a large request never holds the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from liteagent.catalog import ModelSpec
from liteagent.config import Settings
from liteagent.errors import InputRejectedError
from liteagent.log import get_logger
from liteagent.proxy.context import RequestContext
from liteagent.runtime.metrics import metrics
from liteagent.security.validation import MessageValidator, ValidationResult

__all__ = ["OFF_LOOP_CHARS", "InputVerdict", "check_input", "validation_mode"]

logger = get_logger(__name__)

Mode = Literal["off", "flag", "block"]
OFF_LOOP_CHARS = 16_384
"""Requests with more text than this are scanned in a worker thread."""

_VALIDATOR = MessageValidator()
_WHAT = {
    "prompt_injection": (
        "a prompt-injection attempt",
        "Rephrase it without instructions about the assistant's own instructions, rules or prompt.",
    ),
    "dangerous_markup": (
        "active web markup (a script, a javascript: link or an event handler)",
        "Remove the markup, or describe it in words.",
    ),
}


@dataclass(frozen=True)
class InputVerdict:
    """What the checks found in one request, and the mode they ran in."""

    mode: Mode
    result: ValidationResult

    @property
    def flagged(self) -> bool:
        return bool(self.result.findings)


def validation_mode(spec: ModelSpec, settings: Settings) -> Mode:
    """The entry's ``input_validation``, else ``LITEAGENT_INPUT_VALIDATION``."""
    return spec.input_validation or settings.input_validation


def _text_size(ctx: RequestContext) -> int:
    size = 0
    for message in ctx.messages:
        content = message.get("content")
        if isinstance(content, str):
            size += len(content)
        elif isinstance(content, list):
            size += sum(
                len(str(part.get("text") or "")) for part in content if isinstance(part, dict)
            )
    return size


def _refusal(spec: ModelSpec, ctx: RequestContext, result: ValidationResult) -> str:
    first = result.findings[0]
    index = int(first.where.removeprefix("messages[").removesuffix("]") or 0)
    role = str(ctx.messages[index].get("role", "user"))
    what, fix = _WHAT[first.category]
    return (
        f"{spec.model_name} refused this request: message {index + 1} of {len(ctx.messages)} "
        f"(role {role}) looks like {what} (input check: {', '.join(result.checks)}). {fix} "
        "If that message is already in the chat, edit or delete it, or start a new chat: the "
        "whole conversation is checked on every turn. If this is a false alarm, the operator "
        f"can set `input_validation: flag` for {spec.model_name}."
    )


async def check_input(
    spec: ModelSpec, ctx: RequestContext, settings: Settings
) -> InputVerdict | None:
    """Check the request's messages in the entry's mode.

    Returns:
        ``None`` when nothing was checked (mode ``off``, or an Open WebUI task request), else
        the verdict (``flagged`` when a check matched, in ``flag`` mode).

    Raises:
        InputRejectedError: A check matched and the mode is ``block`` (400).
    """
    mode = validation_mode(spec, settings)
    if mode == "off" or ctx.is_task_request:
        return None
    if _text_size(ctx) > OFF_LOOP_CHARS:
        result = await asyncio.to_thread(_VALIDATOR.validate_messages, ctx.messages)
    else:
        result = _VALIDATOR.validate_messages(ctx.messages)
    verdict = InputVerdict(mode, result)
    if not verdict.flagged:
        return verdict
    action = "blocked" if mode == "block" else "flagged"
    logger.warning(
        f"input_{action}",
        model=spec.model_name,
        user=ctx.user_key,
        request_id=ctx.request_id,
        checks=list(result.checks),
        categories=list(result.categories),
        messages=sorted({f.where for f in result.findings}),
    )
    for check in result.checks:
        metrics.increment(
            "input_checks", labels={"model": spec.model_name, "check": check, "action": action}
        )
    if mode == "block":
        raise InputRejectedError(_refusal(spec, ctx, result))
    return verdict
