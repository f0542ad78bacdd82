"""``RequestContext``: everything a run needs to know about one proxied request.

Built from what the LiteLLM proxy hands a ``CustomLLM`` (see DESIGN.md):

- identity from the *authenticated* key metadata (``user_api_key_user_id`` / ``_team_id`` /
  ``_hash``) and, below it, the end user: the user Open WebUI forwards (it authenticates its
  users), LiteLLM's ``user_api_key_end_user_id`` or the raw body's ``user``. Identity fields
  inside the request body's ``metadata`` are never trusted.
- the chat id from ``x-openwebui-chat-id``;
- generation options from ``optional_params``.

Open WebUI forwards its user in one of two ways. Plain ``X-OpenWebUI-User-Id/-Email/-Name/-Role``
headers, or, when its ``FORWARD_USER_INFO_HEADER_JWT_SECRET`` is set, a single HS256-signed
``X-OpenWebUI-User-Jwt`` (claims ``sub``, ``email``, ``name``, ``role``, ``iss="open-webui"``,
``iat``, ``exp``). The signed form is verified with ``Settings.openwebui_jwt_secret``; once a
secret is configured, unsigned user headers are refused (anyone holding the key could forge
them), and without a secret a token is refused rather than guessed at: every Open WebUI user
would otherwise collapse into one anonymous user. Either refusal is a ``UserIdentityError``.

``user_key`` scopes the end user under the key that made the request, so a caller holding one
key can never reach state that belongs to another key's users.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import jwt
from pydantic import SecretStr

from liteagent.errors import InvalidRequestError, UserIdentityError
from liteagent.log import get_logger
from liteagent.proxy.request_options import (
    RequestOptions,
    parse_request_options,
    validate_content,
    validate_message_fields,
)

logger = get_logger(__name__)

VALID_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_DETAILS_BLOCK = re.compile(r"<details\b[^>]*>.*?</details>[ \t]*\n?", re.DOTALL | re.IGNORECASE)
_USER_ID_HEADER = "x-openwebui-user-id"
_FORWARDED_HEADERS = (
    _USER_ID_HEADER,
    "x-openwebui-user-email",
    "x-openwebui-user-name",
    "x-openwebui-user-role",
    "x-openwebui-chat-id",
    "x-openwebui-message-id",
)
# Read and verified, never kept in ``RequestContext.headers``: it is a credential for its
# lifetime. (``x-openwebui-auth-type`` says how the person signed in to Open WebUI; not needed.)
USER_JWT_HEADER = "x-openwebui-user-jwt"
_JWT_ISSUER = "open-webui"
_JWT_ALGORITHMS = ["HS256"]
# Clock drift tolerated between the Open WebUI and LiteAgent hosts (tokens live 300 s).
_JWT_LEEWAY = timedelta(seconds=30)
# Open WebUI's temporary (unsaved) chats: ``local``, ``local:<socket id>``, ``temporary:<id>``.
# The socket id is the browser tab's connection, so every temporary chat of that tab shares it.
_TEMPORARY_CHAT_PREFIXES = ("local:", "temporary:")


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
        validate_content(i, role, msg.get("content"))
        validate_message_fields(i, msg)
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
class ForwardedUser:
    """The end user Open WebUI forwards, from its signed token or its plain headers."""

    id: str
    email: str | None = None
    name: str | None = None
    role: str | None = None


def _claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return (value.strip() or None) if isinstance(value, str) else None


def _jwt_refusal(exc: jwt.PyJWTError) -> tuple[str, str]:
    """``(reason code, sentence)`` for a rejected token; never the token or a claim value."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired", "it has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not_yet_valid", "it is dated in the future"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad_signature", "its signature does not match the configured secret"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "bad_algorithm", "it is not signed with HS256"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "bad_issuer", f"it was not issued by Open WebUI (iss must be '{_JWT_ISSUER}')"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "missing_claim", f"it lacks the '{exc.claim}' claim"
    if isinstance(exc, jwt.DecodeError):
        return "malformed", "it is not a well-formed JWT"
    return "invalid", "it is not valid"


_JWT_HINTS = {
    "expired": " Check that the clocks of the Open WebUI and LiteAgent hosts agree.",
    "not_yet_valid": " Check that the clocks of the Open WebUI and LiteAgent hosts agree.",
    "bad_signature": " Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET and LiteAgent's"
    " LITEAGENT_OPENWEBUI_JWT_SECRET must hold the same value.",
}


def verify_openwebui_jwt(token: str, secret: SecretStr) -> ForwardedUser:
    """Verify Open WebUI's ``X-OpenWebUI-User-Jwt`` and return the user its claims name.

    Args:
        token: The header's value.
        secret: The secret Open WebUI signs with (its ``FORWARD_USER_INFO_HEADER_JWT_SECRET``).

    Raises:
        UserIdentityError: The token is malformed, forged, expired, not Open WebUI's or names
            no user. The message says which, and never contains the token or the secret.
    """
    try:
        claims = jwt.decode(
            token,
            secret.get_secret_value(),
            algorithms=_JWT_ALGORITHMS,
            issuer=_JWT_ISSUER,
            leeway=_JWT_LEEWAY,
            options={"require": ["exp", "iss", "sub"]},
        )
    except jwt.PyJWTError as exc:
        reason, sentence = _jwt_refusal(exc)
        logger.warning("openwebui_user_jwt_rejected", reason=reason)
        raise UserIdentityError(
            f"The signed Open WebUI user (X-OpenWebUI-User-Jwt header) was refused: {sentence}."
            + _JWT_HINTS.get(reason, "")
        ) from None
    user_id = _claim(claims, "sub")
    if user_id is None:
        logger.warning("openwebui_user_jwt_rejected", reason="empty_subject")
        raise UserIdentityError(
            "The signed Open WebUI user (X-OpenWebUI-User-Jwt header) was refused: "
            "its 'sub' claim names no user."
        )
    return ForwardedUser(
        id=user_id,
        email=_claim(claims, "email"),
        name=_claim(claims, "name"),
        role=_claim(claims, "role"),
    )


def forwarded_user(
    headers: Mapping[str, str], token: str | None, secret: SecretStr | None
) -> ForwardedUser | None:
    """The end user Open WebUI forwards with this request, or ``None`` when it names none.

    Args:
        headers: The request's ``x-openwebui-*`` headers, lower-cased (without the token).
        token: The ``X-OpenWebUI-User-Jwt`` header, if any.
        secret: ``Settings.openwebui_jwt_secret``.

    Raises:
        UserIdentityError: A token that fails verification; a token with no secret to verify
            it (and no plain user id beside it); plain user headers while a secret is set.
    """
    plain_id = _first(headers.get(_USER_ID_HEADER))
    if secret is not None:
        if token:
            return verify_openwebui_jwt(token, secret)
        if plain_id is not None:
            logger.warning("openwebui_unsigned_user_refused")
            raise UserIdentityError(
                "This request names its Open WebUI user in unsigned X-OpenWebUI-User-* headers, "
                "but LiteAgent only accepts signed ones (LITEAGENT_OPENWEBUI_JWT_SECRET is set). "
                "Set FORWARD_USER_INFO_HEADER_JWT_SECRET in Open WebUI to the same value, or "
                "unset LITEAGENT_OPENWEBUI_JWT_SECRET to accept unsigned headers."
            )
        return None
    if plain_id is None:
        if token:
            logger.warning("openwebui_user_jwt_unverifiable")
            raise UserIdentityError(
                "Open WebUI sent a signed user (X-OpenWebUI-User-Jwt header) that LiteAgent "
                "cannot verify, so it cannot tell its users apart. Set "
                "LITEAGENT_OPENWEBUI_JWT_SECRET on the LiteAgent proxy to the value of Open "
                "WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET (or unset that one in Open WebUI)."
            )
        return None
    name = headers.get("x-openwebui-user-name")
    return ForwardedUser(
        id=plain_id,
        email=headers.get("x-openwebui-user-email"),
        name=unquote(name) if name else None,
        role=headers.get("x-openwebui-user-role"),
    )


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
    options: RequestOptions = field(default_factory=RequestOptions)
    stream: bool = False
    request_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def user_key(self) -> str:
        """Stable per-user scope: ``<principal>`` or ``<principal>/<end user>``."""
        return f"{self.principal}/{self.end_user}" if self.end_user else self.principal

    @property
    def is_temporary_chat(self) -> bool:
        """Open WebUI's temporary chat: its id (``local…``, ``temporary:…``) is not unique."""
        chat_id = self.chat_id or ""
        return chat_id == "local" or chat_id.startswith(_TEMPORARY_CHAT_PREFIXES)

    @property
    def session_key(self) -> str:
        """Where run state for this conversation lives.

        ``<user_key>:chat:<chat id>`` when the client sends ``X-OpenWebUI-Chat-Id``. Otherwise
        ``<user_key>:conv:<hash>`` of the user, the model and the first user message, so that a
        plain OpenAI client resending the growing history of one conversation keeps landing on
        the same session. Open WebUI's temporary chats share one id per browser tab, so they get
        ``<user_key>:temp:<hash>`` of that id and the first user message: each keeps its own
        session across its turns, and two temporary chats never share one.
        """
        if self.chat_id and not self.is_temporary_chat:
            return f"{self.user_key}:chat:{self.chat_id}"
        first_user = next((m for m in self.messages if m.get("role") == "user"), {})
        kind, scope = ("temp", self.chat_id) if self.chat_id else ("conv", self.model)
        digest = hashlib.sha256(
            "\x1f".join((self.user_key, scope, str(first_user.get("content")))).encode()
        ).hexdigest()[:24]
        return f"{self.user_key}:{kind}:{digest}"

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
        openwebui_jwt_secret: SecretStr | None = None,
    ) -> RequestContext:
        """Build from a ``CustomLLM`` call's arguments (validates ``messages``).

        Args:
            model: The requested model name.
            messages: The request's ``messages`` (validated here).
            optional_params: LiteLLM's ``optional_params`` (temperature, max_tokens, tools).
            litellm_params: LiteLLM's ``litellm_params`` (metadata, headers, raw body).
            stream: Whether the client asked for a stream.
            openwebui_jwt_secret: Verifies Open WebUI's signed ``X-OpenWebUI-User-Jwt``.

        Raises:
            InvalidRequestError: ``messages`` or a parameter is malformed
                (``liteagent.proxy.request_options``).
            UserIdentityError: The forwarded Open WebUI user cannot be established.
        """
        optional = optional_params or {}
        options = parse_request_options(optional)
        params = litellm_params or {}
        metadata = params.get("metadata") or params.get("litellm_metadata") or {}
        if not isinstance(metadata, Mapping):
            metadata = {}
        raw_headers = metadata.get("headers") or {}
        lowered = {
            str(k).lower(): str(v)
            for k, v in (raw_headers.items() if isinstance(raw_headers, Mapping) else [])
        }
        headers = {k: v for k, v in lowered.items() if k in _FORWARDED_HEADERS}
        user = forwarded_user(headers, _first(lowered.get(USER_JWT_HEADER)), openwebui_jwt_secret)
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
            user.id if user else None,
            metadata.get("user_api_key_end_user_id"),
            body_user,
            optional.get("user"),
        )
        if end_user is not None and principal is not None and end_user == principal:
            end_user = None
        return cls(
            model=model if model.startswith("liteagent/") else f"liteagent/{model}",
            messages=validate_messages(messages),
            principal=principal or "anonymous",
            end_user=end_user,
            chat_id=_first(headers.get("x-openwebui-chat-id")),
            user_email=user.email if user else None,
            user_name=user.name if user else None,
            user_role=user.role if user else None,
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            tools=options.tools,
            options=options,
            stream=stream,
            request_id=_first(params.get("litellm_call_id")),
            headers=headers,
        )
