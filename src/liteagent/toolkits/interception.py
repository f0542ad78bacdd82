"""Toolkit interception: what happens to a chat message before an agent sees it.

For one request of one user (``ChatRequest.user_key``, the proxy's ``RequestContext`` — never
anything the message says):

1. Every credential in the conversation is removed from the messages: the shapes each
   registered toolkit recognises (``glpat-…``, ``ATATT…``, OAuth codes, "jira token …") and the
   exact values this user has stored, wherever they reappear (Open WebUI sends the whole
   history back on every turn, title-generation tasks included).
2. Background tasks (Open WebUI titles, tags…) stop there: nothing is stored or prompted.
3. "revoke <toolkit>" deletes that toolkit's credentials.
4. Credentials in the latest message are checked with the service and stored encrypted; the
   answer is the confirmation (or what was wrong), without running the agent.
5. A required toolkit the user has not configured is asked for; an optional one only when the
   message asks for its features.

Storing or deleting credentials notifies ``TokenStorage``'s subscribers, and the handler drops
the user's cached agents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from liteagent.llm.base import content_to_text
from liteagent.log import get_logger
from liteagent.toolkits.base import BaseToolkitConfig, toolkit_registry
from liteagent.toolkits.store import secret_values

logger = get_logger(__name__)


class ChatRequest(Protocol):
    """What interception reads of one request (the proxy's ``RequestContext`` has it)."""

    @property
    def user_key(self) -> str: ...

    @property
    def messages(self) -> list[dict[str, Any]]: ...

    @property
    def is_task_request(self) -> bool: ...


REMOVED = "[credential removed]"


@dataclass(frozen=True)
class GateResult:
    """The outcome of interception.

    Attributes:
        reply: Answer the user with this instead of running the agent (``None``: run it).
        messages: The conversation with every credential removed.
        changed: Credentials were stored or deleted in this request.
        configured: Names of the toolkits the user has configured (after this request).
    """

    reply: str | None
    messages: list[dict[str, Any]]
    changed: bool = False
    configured: frozenset[str] = field(default_factory=frozenset)


def _all_pattern_secrets(text: str, configs: Iterable[BaseToolkitConfig]) -> list[str]:
    found: list[str] = []
    for config in configs:
        found.extend(config.find_secrets(text))
    return found


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret (longest first) replaced by ``[credential removed]``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REMOVED)
    return text


def scrub_messages(
    messages: Sequence[Mapping[str, Any]], secrets: Iterable[str]
) -> list[dict[str, Any]]:
    """Copies of ``messages`` with the secrets removed from every text part."""
    secrets = list(secrets)
    out: list[dict[str, Any]] = []
    for msg in messages:
        copy = dict(msg)
        content = copy.get("content")
        if isinstance(content, str):
            copy["content"] = scrub_text(content, secrets)
        elif isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    part = {**part, "text": scrub_text(part["text"], secrets)}
                parts.append(part)
            copy["content"] = parts
        out.append(copy)
    return out


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the latest message, when it is the user's (else ``""``)."""
    if not messages or messages[-1].get("role") != "user":
        return ""
    return content_to_text(messages[-1].get("content")) or ""


class ToolkitGate:
    """Runs the interception steps for one catalog entry's toolkits.

    Args:
        configs: The entry's toolkit configs (required ones first in prompts).
        recognisers: Toolkits whose credential shapes are removed from messages even when the
            entry does not use them (default: every registered toolkit).
    """

    def __init__(
        self,
        configs: Sequence[BaseToolkitConfig],
        recognisers: Sequence[BaseToolkitConfig] | None = None,
    ) -> None:
        self.configs = list(configs)
        if recognisers is None:
            recognisers = list(self.configs)
            names = {c.name for c in self.configs}
            if self.configs:
                first = self.configs[0]
                for name in toolkit_registry.list_providers():
                    if name not in names:
                        cls = toolkit_registry.get_class(name)
                        recognisers.append(cls(settings=first.settings, storage=first.storage))
        self.recognisers = list(recognisers)

    async def _stored(self, user: str) -> dict[str, dict[str, Any]]:
        stored: dict[str, dict[str, Any]] = {}
        for config in self.configs:
            data = await config.credentials(user)
            if data is not None:
                stored[config.name] = data
        return stored

    def scrub_shapes(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The conversation without credential-shaped strings (no stored values looked up)."""
        return self._scrub(messages, {})

    async def scrub(self, ctx: ChatRequest) -> list[dict[str, Any]]:
        """The conversation without credentials (pattern-shaped and the user's stored ones)."""
        stored = await self._stored(ctx.user_key)
        return self._scrub(ctx.messages, stored)

    def _scrub(
        self, messages: Sequence[Mapping[str, Any]], stored: Mapping[str, Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        secrets: list[str] = []
        for data in stored.values():
            secrets.extend(secret_values(data))
        for msg in messages:
            text = content_to_text(msg.get("content")) or ""
            secrets.extend(_all_pattern_secrets(text, self.recognisers))
        return scrub_messages(messages, secrets)

    async def intercept(self, ctx: ChatRequest) -> GateResult:
        """Apply the interception steps (see the module docs) to one request."""
        user = ctx.user_key
        stored = await self._stored(user)
        text = last_user_text(ctx.messages)
        found = _all_pattern_secrets(text, self.recognisers)
        messages = self._scrub(ctx.messages, stored)
        if ctx.is_task_request or not self.configs:
            return GateResult(None, messages, configured=frozenset(stored))

        replies: list[str] = []
        changed = False
        for config in self.configs:
            if config.is_revoke_request(text):
                existed = await config.revoke(user)
                changed = True
                stored.pop(config.name, None)
                replies.append(config.revoke_message(existed))
                logger.info("toolkit_revoked_by_chat", toolkit=config.name, user=user)
        if not replies:
            for config in self.configs:
                outcome = await config.extract_and_store_config(text, user)
                if outcome is None:
                    continue
                found.extend(outcome.secrets)
                replies.append(outcome.message)
                if outcome.stored:
                    changed = True
                    stored = await self._stored(user)
                logger.info(
                    "toolkit_configured_by_chat" if outcome.stored else "toolkit_config_rejected",
                    toolkit=config.name,
                    user=user,
                )
            if replies:  # mention what is still missing for this agent to work
                replies += [
                    c.get_config_prompt(user)
                    for c in self.configs
                    if c.required and c.name not in stored
                ]
        if found:
            messages = scrub_messages(messages, found)
        if replies:
            return GateResult("\n\n".join(replies), messages, changed, frozenset(stored))

        missing = [c for c in self.configs if c.required and c.name not in stored]
        asked = [
            c
            for c in self.configs
            if not c.required and c.name not in stored and c.check_authorization_request(text)
        ]
        if missing or asked:
            logger.info(
                "toolkit_config_prompted",
                user=user,
                toolkits=[c.name for c in (*missing, *asked)],
            )
            prompts = [c.get_config_prompt(user) for c in (*missing, *asked)]
            return GateResult("\n\n".join(prompts), messages, False, frozenset(stored))
        return GateResult(None, messages, False, frozenset(stored))
