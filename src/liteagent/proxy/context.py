"""``RequestContext``: everything a run needs to know about one proxied request.

Built from what the LiteLLM proxy hands a ``CustomLLM`` (see DESIGN.md):

- identity from the *authenticated* key metadata (``user_api_key_user_id`` / ``_team_id`` /
  ``_hash``) and, below it, the end user: the ``x-openwebui-user-id`` header (Open WebUI
  authenticates its users and forwards the id), LiteLLM's ``user_api_key_end_user_id`` or the
  raw body's ``user``. Identity fields inside the request body's ``metadata`` are never trusted.
- the chat id from ``x-openwebui-chat-id``;
- generation options from ``optional_params``.

``user_key`` scopes the end user under the key that made the request, so a caller holding one
key can never reach state that belongs to another key's users.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from liteagent.errors import InvalidRequestError

VALID_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_DETAILS_BLOCK = re.compile(r"<details\b[^>]*>.*?</details>[ \t]*\n?", re.DOTALL | re.IGNORECASE)
_FORWARDED_HEADERS = (
    "x-openwebui-user-id",
    "x-openwebui-user-email",
    "x-openwebui-user-name",
    "x-openwebui-user-role",
    "x-openwebui-chat-id",
    "x-openwebui-message-id",
)


def strip_rendered_blocks(text: str) -> str:
    """Remove ``<details …>…</details>`` blocks we rendered earlier (tool steps, reasoning)."""
    return _DETAILS_BLOCK.sub("", text)


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    """Check an OpenAI ``messages`` array; raise ``InvalidRequestError`` naming the problem."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise InvalidRequestError("'messages' must be an array of message objects.")
    if not messages:
        raise InvalidRequestError("'messages' must contain at least one message.")
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise InvalidRequestError(f"messages[{i}] must be an object with 'role' and 'content'.")
        role = msg.get("role")
        if role not in VALID_ROLES:
            raise InvalidRequestError(
                f"messages[{i}].role must be one of {', '.join(VALID_ROLES)} (got {role!r})."
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequestError(f"messages[{i}].content must be a string or an array.")
        if content is None and role in ("system", "developer", "user"):
            raise InvalidRequestError(f"messages[{i}].content is required for role '{role}'.")
        out.append(dict(msg))
    if not any(m["role"] == "user" for m in out):
        raise InvalidRequestError("'messages' must contain at least one user message.")
    return out


def _first(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


@dataclass(frozen=True)
class RequestContext:
    """One request as the handler sees it."""

    model: str
    messages: list[dict[str, Any]]
    principal: str = "anonymous"
    end_user: str | None = None
    chat_id: str | None = None
    user_email: str | None = None
    user_name: str | None = None
    user_role: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: tuple[Mapping[str, Any], ...] = ()
    stream: bool = False
    request_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def user_key(self) -> str:
        """Stable per-user scope: ``<principal>`` or ``<principal>/<end user>``."""
        return f"{self.principal}/{self.end_user}" if self.end_user else self.principal

    @property
    def session_key(self) -> str:
        """Where run state for this conversation lives.

        ``<user_key>:chat:<chat id>`` when the client sends ``X-OpenWebUI-Chat-Id``; otherwise a
        hash of the user, the model and the first user message, so that a plain OpenAI client
        resending the growing history of one conversation keeps landing on the same session.
        """
        if self.chat_id:
            return f"{self.user_key}:chat:{self.chat_id}"
        first_user = next((m for m in self.messages if m.get("role") == "user"), {})
        digest = hashlib.sha256(
            "\x1f".join((self.user_key, self.model, str(first_user.get("content")))).encode()
        ).hexdigest()[:24]
        return f"{self.user_key}:conv:{digest}"

    @property
    def is_task_request(self) -> bool:
        """Open WebUI background task (title, tags, follow-ups…): see OPENWEBUI.md."""
        if self.stream or len(self.messages) != 1 or self.messages[0].get("role") != "user":
            return False
        content = self.messages[0].get("content")
        text = content if isinstance(content, str) else str(content)
        return text.lstrip().startswith("### Task:") and "<chat_history>" in text

    @classmethod
    def from_litellm(
        cls,
        *,
        model: str,
        messages: Any,
        optional_params: Mapping[str, Any] | None = None,
        litellm_params: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> RequestContext:
        """Build from a ``CustomLLM`` call's arguments (validates ``messages``)."""
        optional = optional_params or {}
        params = litellm_params or {}
        metadata = params.get("metadata") or params.get("litellm_metadata") or {}
        if not isinstance(metadata, Mapping):
            metadata = {}
        raw_headers = metadata.get("headers") or {}
        headers = {
            str(k).lower(): str(v)
            for k, v in (raw_headers.items() if isinstance(raw_headers, Mapping) else [])
            if str(k).lower() in _FORWARDED_HEADERS
        }
        body = (params.get("proxy_server_request") or {}).get("body") or {}
        body_user = body.get("user") if isinstance(body, Mapping) else None

        key_hash = _first(metadata.get("user_api_key_hash"), metadata.get("user_api_key"))
        principal = _first(
            metadata.get("user_api_key_user_id"),
            f"team:{metadata['user_api_key_team_id']}"
            if _first(metadata.get("user_api_key_team_id"))
            else None,
            f"key:{key_hash[:16]}" if key_hash else None,
        )
        end_user = _first(
            headers.get("x-openwebui-user-id"),
            metadata.get("user_api_key_end_user_id"),
            body_user,
            optional.get("user"),
        )
        if end_user is not None and principal is not None and end_user == principal:
            end_user = None
        user_name = headers.get("x-openwebui-user-name")
        return cls(
            model=model if model.startswith("liteagent/") else f"liteagent/{model}",
            messages=validate_messages(messages),
            principal=principal or "anonymous",
            end_user=end_user,
            chat_id=_first(headers.get("x-openwebui-chat-id")),
            user_email=headers.get("x-openwebui-user-email"),
            user_name=unquote(user_name) if user_name else None,
            user_role=headers.get("x-openwebui-user-role"),
            temperature=optional.get("temperature"),
            max_tokens=optional.get("max_tokens") or optional.get("max_completion_tokens"),
            tools=tuple(optional.get("tools") or ()),
            stream=stream,
            request_id=_first(params.get("litellm_call_id")),
            headers=headers,
        )
