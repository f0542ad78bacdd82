"""Open WebUI's background tasks (titles, tags, follow-ups, search queries…), for every kind.

Open WebUI sends these to the chat's own model unless an admin picked a task model: one
non-streaming user message that starts with ``### Task:`` and holds ``<chat_history>``, asking
for a JSON object back, with ``max_tokens: 1000``; the title request arrives a fraction of a
second *before* the first chat request of a new chat. So they are answered here, before any
runner is looked up, the same way for agents, RAG agents, workflows and Agno agents:

- nothing runs but (at most) one small model call: no tools, no retrieval, no stored state, no
  runner built or cached for the task's own options;
- with the bundled local model, no model call at all: the answer is derived from the chat
  history (a title from the first message, ``General`` as the tag, no follow-ups), so a task
  never makes the person's first answer wait behind it on the one local model;
- otherwise one call capped at ``LITEAGENT_TASK_MAX_TOKENS`` tokens, at temperature 0;
- the answer is always valid JSON with the key the task asks for (repaired when the model's
  JSON was cut by the cap, derived from the history when the model wrote none or failed);
- credentials pasted into the chat are removed from the prompt first (entries with toolkits).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from typing import Any

from liteagent.catalog import ModelSpec
from liteagent.config import Settings
from liteagent.errors import LiteAgentError
from liteagent.llm import BaseLLMProvider, ChatOptions, create_llm
from liteagent.llm.base import content_to_text
from liteagent.llm.provider_specs import ModelChainSpec
from liteagent.log import get_logger
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import RunEvent, RunFinished, TextDelta, UsageReport

logger = get_logger(__name__)

__all__ = ["TaskAnswerer", "task_answer_json", "uses_bundled_model"]

_TASK_KEYS = ("follow_ups", "queries", "title", "tags", "text")
_LIST_KEYS = ("follow_ups", "queries", "tags")
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_HISTORY_OPEN, _HISTORY_CLOSE = "<chat_history>", "</chat_history>"


def _task_key(prompt: str) -> str | None:
    """The JSON key the task asks for: the first of the known keys its prompt names."""
    found = [(prompt.find(f'"{key}"'), key) for key in _TASK_KEYS if f'"{key}"' in prompt]
    return min(found)[1] if found else None


def _chat_lines(prompt: str) -> list[str]:
    """The person's lines of the task's ``<chat_history>`` (``USER: …``)."""
    # str.find, not a lazy regex: that rescans the rest of the prompt from every opening tag
    start = prompt.find(_HISTORY_OPEN)
    end = prompt.find(_HISTORY_CLOSE, start + len(_HISTORY_OPEN)) if start >= 0 else -1
    body = prompt[start + len(_HISTORY_OPEN) : end] if end >= 0 else ""
    return [
        line.split(":", 1)[1].strip()
        for line in body.splitlines()
        if line.strip().upper().startswith("USER:")
    ]


def _title(text: str) -> str:
    """A short title from the first message: its first line, markup removed, six words at most."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"[`*#>\[\]()<]+|(?<!\w)_+|_+(?!\w)", " ", line)
    words = line.split()[:6]
    title = " ".join(words).strip(" .,:;?!\"'")
    return (title[:1].upper() + title[1:]) if title else "New chat"


def _derived(key: str | None, prompt: str) -> dict[str, Any]:
    """The answer a task gets without a model: deterministic, from the chat history."""
    users = _chat_lines(prompt)
    if key == "title":
        return {"title": _title(users[0] if users else "")}
    if key == "tags":
        return {"tags": ["General"]}
    if key == "queries":
        return {"queries": [users[-1]] if users else []}
    if key == "follow_ups":
        return {"follow_ups": []}
    if key == "text":
        return {"text": ""}
    return {}


def _repaired(key: str, model_text: str) -> dict[str, Any] | None:
    """What a JSON answer cut short by the token cap still holds for ``key``, if anything."""
    if key in _LIST_KEYS:
        match = re.search(rf'"{key}"\s*:\s*\[(.*)', model_text, re.S)
        if match:
            items = [json.loads(s) for s in re.findall(_JSON_STRING, match.group(1))]
            if items:
                return {key: items}
    elif key in ("title", "text"):
        match = re.search(rf'"{key}"\s*:\s*({_JSON_STRING})', model_text, re.S)
        if match:
            return {key: json.loads(match.group(1))}
    return None


def task_answer_json(model_text: str, prompt: str) -> str:
    """Valid JSON for an Open WebUI task request (title, tags, follow-ups, queries…).

    The model's JSON object is used when it parses and has the key the task asks for; a JSON
    answer cut short is repaired to what it holds; otherwise the answer is derived from the chat
    history, so the client always gets valid JSON.
    """
    key = _task_key(prompt)
    match = _JSON_OBJECT.search(model_text)
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and (key is None or key in data):
            return json.dumps(data, ensure_ascii=False)
    repaired = _repaired(key, model_text) if key else None
    return json.dumps(repaired or _derived(key, prompt), ensure_ascii=False)


def uses_bundled_model(model: str | ModelChainSpec | None, settings: Settings) -> bool:
    """Whether an entry's ``model:`` (or the default) first asks the bundled local model."""
    chosen: str | ModelChainSpec | None = model or settings.resolved_default_model()
    if isinstance(chosen, ModelChainSpec):
        chosen = chosen.fallbacks[0].model
    if not isinstance(chosen, str):
        return False
    provider = chosen.partition("/")[0]
    return provider == "local"


class TaskAnswerer:
    """Answers Open WebUI task requests for any catalog entry (one per handler).

    The model of each entry is built once, on the first task that needs it, and shared by every
    user (a task uses no per-user state).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._llms: dict[str, BaseLLMProvider] = {}

    def _llm(self, spec: ModelSpec) -> BaseLLMProvider:
        llm = self._llms.get(spec.name)
        if llm is None:
            llm = create_llm(spec.model, settings=self.settings)
            self._llms[spec.name] = llm
        return llm

    async def _prompt(self, spec: ModelSpec, ctx: RequestContext) -> str:
        messages: list[dict[str, Any]] = ctx.messages
        toolkits = getattr(spec, "toolkits", ())
        if toolkits:
            # the history in the prompt may hold a credential the person pasted
            from liteagent.toolkits import get_toolkit_service
            from liteagent.toolkits.interception import ToolkitGate

            gate = ToolkitGate(get_toolkit_service(self.settings).configs(toolkits))
            messages = await gate.scrub(ctx)
        return content_to_text(messages[0].get("content")) or ""

    async def answer(self, spec: ModelSpec, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        """The task's answer as run events: at most one model call, valid JSON text."""
        prompt = await self._prompt(spec, ctx)
        if uses_bundled_model(spec.model, self.settings):
            logger.info("task_answered", model=spec.model_name, source="history")
            yield TextDelta(task_answer_json("", prompt))
            yield RunFinished(metadata={"task": True})
            return
        llm = self._llm(spec)
        cap = self.settings.task_max_tokens
        if ctx.max_tokens is not None:
            cap = max(1, min(cap, ctx.max_tokens))
        try:
            response = await llm.chat(
                [{"role": "user", "content": prompt}],
                ChatOptions(temperature=0.0, max_tokens=cap),
            )
        except LiteAgentError as exc:
            # a title is not worth an error in the person's chat: answer from the history
            logger.warning("task_model_failed", model=spec.model_name, error=exc.message)
            yield TextDelta(task_answer_json("", prompt))
            yield RunFinished(metadata={"model": llm.model_id, "task": True})
            return
        logger.info("task_answered", model=spec.model_name, source="model", max_tokens=cap)
        yield UsageReport(response.usage, model=llm.model_id)
        yield TextDelta(task_answer_json(response.content, prompt))
        yield RunFinished(metadata={"model": llm.model_id, "task": True})

    async def aclose(self) -> None:
        """Close the models built for tasks."""
        llms, self._llms = list(self._llms.values()), {}
        for llm in llms:
            await llm.aclose()
