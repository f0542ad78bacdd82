"""``RequestContext``: everything a run needs to know about one proxied request.

Built from what the LiteLLM proxy hands a ``CustomLLM``:

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

``RequestLimits`` are checked before anything else reads the request: the messages' text
(413), the forwarded headers' length, the number of messages, of values in them and their
nesting (400). Everything here that scans request text does so in linear time.
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

from liteagent.config import Settings
from liteagent.errors import (
    HeaderTooLargeError,
    InvalidRequestError,
    RequestTooLargeError,
    UserIdentityError,
)
from liteagent.llm.base import content_to_text
from liteagent.log import get_logger
from liteagent.proxy.request_options import (
    RequestOptions,
    parse_request_options,
    validate_content,
    validate_message_fields,
)

logger = get_logger(__name__)

VALID_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# The tags of a ``<details>`` block; each match costs constant work, so a scan is linear.
_DETAILS_TAG = re.compile(r"<details\b|</details>", re.IGNORECASE)
_DETAILS_CLOSER = re.compile(r"</details>", re.IGNORECASE)
_DETAILS_OPENER = re.compile(r"<details\b", re.IGNORECASE)
# What follows a stripped block and goes with it.
_BLOCK_TRAILER = re.compile(r"[ \t]*\n?")
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


def _details_blocks(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every outermost closed ``<details …>…</details>`` block in ``text``.

    One pass over the tags, in linear time whatever the input. An opener's tag runs to the
    first ``>`` after it (a ``</details>`` inside it is part of the tag, not a closer); blocks
    nest, as in Open WebUI's renderer. An opener that is never closed strips nothing, but the
    closed blocks inside it still count; a closer with no opener is plain text.
    """
    blocks: list[tuple[int, int]] = []
    open_at: list[int] = []
    tag_end = -1  # the end of the last opener's tag: tags before it are inside that tag
    next_gt = -1  # the ``>`` last found: openers before it all end there
    position = 0
    while True:
        # With nothing open, closers are plain text: skip straight to the next opener.
        match = (_DETAILS_TAG if open_at else _DETAILS_OPENER).search(text, position)
        if match is None:
            break
        position = match.end()
        start = match.start()
        if start < tag_end:
            continue
        if match.group().startswith("</"):
            if open_at:
                opener = open_at.pop()
                while blocks and blocks[-1][0] > opener:  # closed inside this one
                    blocks.pop()
                blocks.append((opener, match.end()))
            continue
        if next_gt < match.end():
            next_gt = text.find(">", match.end())
            if next_gt < 0:  # no opener from here on has an end: none is a block
                break
        open_at.append(start)
        tag_end = next_gt + 1
    return blocks


def strip_rendered_blocks(text: str) -> str:
    """Remove ``<details …>…</details>`` blocks we rendered earlier (tool steps, reasoning).

    The spaces and the one line break that follow a block go with it. Linear in ``text``.
    """
    if "<" not in text or not _DETAILS_CLOSER.search(text):  # no block can be closed
        return text
    parts: list[str] = []
    kept_from = 0
    for start, end in _details_blocks(text):
        parts.append(text[kept_from:start])
        trailer = _BLOCK_TRAILER.match(text, end)
        kept_from = trailer.end() if trailer else end
    parts.append(text[kept_from:])
    return "".join(parts)


# A message object, its content array, a part, a part's object (``image_url``…) and what that
# holds: OpenAI's shapes (tool calls included) are at most this deep.
MAX_NESTING = 6
# Keys whose strings are not counted as text: attachments (image and file data URLs, audio)
# and the labels of a message or part.
_UNCOUNTED_KEYS = frozenset({"url", "data", "file_data", "role", "type"})
# Open WebUI's signed user is a JWT: far longer than the plain headers it replaces.
_JWT_LENGTH_FACTOR = 32


@dataclass(frozen=True)
class RequestLimits:
    """How much one request may carry; beyond it, it is refused before any work is done.

    Attributes:
        max_chars: Characters of all the messages' text (attachments not counted): 413 beyond.
        max_header_chars: Longest forwarded ``X-OpenWebUI-*`` header value and request
            ``user`` field: 400 beyond (the signed ``X-OpenWebUI-User-Jwt`` may be
            ``_JWT_LENGTH_FACTOR`` times as long).
        max_messages: Most messages in one request: 400 beyond.
        max_nesting: Deepest nesting of arrays and objects in a message: 400 beyond.
        max_items: Most values (strings, numbers, arrays, objects) in all the messages: 400
            beyond; a plain conversation has a handful per message.
    """

    max_chars: int = 1_000_000
    max_header_chars: int = 256
    max_messages: int = 1_000
    max_nesting: int = MAX_NESTING
    max_items: int = 100_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        """The limits ``LITEAGENT_MAX_REQUEST_CHARS`` / ``_HEADER_CHARS`` / ``_MESSAGES`` set."""
        return cls(
            max_chars=settings.max_request_chars,
            max_header_chars=settings.max_header_chars,
            max_messages=settings.max_messages,
        )


def _header_name(lowered: str) -> str:
    """``x-openwebui-user-id`` → ``X-OpenWebUI-User-Id``."""
    rest = lowered.removeprefix("x-openwebui-")
    return "X-OpenWebUI-" + "-".join(part.capitalize() for part in rest.split("-"))


def check_headers(headers: Mapping[str, str], limits: RequestLimits) -> None:
    """Refuse a forwarded header longer than its limit (``HeaderTooLargeError``, 400).

    Args:
        headers: The request's headers, names lower-cased.
        limits: The limits to apply.
    """
    for name in (*_FORWARDED_HEADERS, USER_JWT_HEADER):
        value = headers.get(name)
        limit = limits.max_header_chars * (_JWT_LENGTH_FACTOR if name == USER_JWT_HEADER else 1)
        if value is not None and len(value) > limit:
            logger.warning("request_header_too_large", header=name, chars=len(value), limit=limit)
            raise HeaderTooLargeError(
                f"The {_header_name(name)} header is too large: {len(value)} characters, "
                f"the limit is {limit}."
            )


def check_messages_size(messages: Any, limits: RequestLimits) -> None:
    """Refuse messages over the limits before anything reads their text. Linear in their size.

    Raises:
        InvalidRequestError: Too many messages or values in them, or a message nested deeper
            than ``max_nesting``.
        RequestTooLargeError: More text than ``max_chars`` (413).
    """
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        return  # not an array: validate_messages names the problem
    if len(messages) > limits.max_messages:
        raise InvalidRequestError(
            f"Too many messages: {len(messages)}, the limit is {limits.max_messages}."
        )
    total = 0
    items = 0
    for i, message in enumerate(messages):
        stack: list[tuple[Any, int]] = [(message, 1)]
        while stack:
            value, depth = stack.pop()
            items += 1
            if items > limits.max_items:
                raise InvalidRequestError(
                    f"The messages hold too many values: more than {limits.max_items}."
                )
            if isinstance(value, str):
                total += len(value)
                continue
            if not isinstance(value, Mapping | list | tuple):
                continue
            if depth > limits.max_nesting:
                raise InvalidRequestError(
                    f"messages[{i}] is nested too deeply: more than {limits.max_nesting} "
                    "levels of arrays and objects."
                )
            if isinstance(value, Mapping):
                stack.extend(
                    (item, depth + 1) for key, item in value.items() if key not in _UNCOUNTED_KEYS
                )
            else:
                stack.extend((item, depth + 1) for item in value)
    if total > limits.max_chars:
        logger.warning("request_too_large", chars=total, limit=limits.max_chars)
        raise RequestTooLargeError(
            f"Request too large: {total} characters, the limit is {limits.max_chars}."
        )


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
    last = len(out) - 1
    if (
        out[last]["role"] == "user"
        and not (content_to_text(out[last].get("content")) or "").strip()
    ):
        if isinstance(out[last].get("content"), list) and out[last]["content"]:
            raise InvalidRequestError(
                f"messages[{last}] has no text: LiteAgent models read text only (images, audio "
                "and files are not read). Write what you need in words."
            )
        raise InvalidRequestError(f"messages[{last}] is empty: write what you need.")
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
    # the input checks this request's messages matched (``input_validation: flag``)
    input_flags: tuple[str, ...] = ()

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
        """Open WebUI background task (title, tags, follow-ups…): see docs/openwebui.md."""
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
        limits: RequestLimits | None = None,
    ) -> RequestContext:
        """Build from a ``CustomLLM`` call's arguments (validates ``messages``).

        Args:
            model: The requested model name.
            messages: The request's ``messages`` (validated here).
            optional_params: LiteLLM's ``optional_params`` (temperature, max_tokens, tools).
            litellm_params: LiteLLM's ``litellm_params`` (metadata, headers, raw body).
            stream: Whether the client asked for a stream.
            openwebui_jwt_secret: Verifies Open WebUI's signed ``X-OpenWebUI-User-Jwt``.
            limits: Size limits checked first (default: ``RequestLimits()``).

        Raises:
            InvalidRequestError: ``messages`` or a parameter is malformed
                (``liteagent.proxy.request_options``), has too many entries or nests too
                deeply; a forwarded header is too large (``HeaderTooLargeError``).
            RequestTooLargeError: The messages carry more text than the limit (413).
            UserIdentityError: The forwarded Open WebUI user cannot be established.
        """
        optional = optional_params or {}
        params = litellm_params or {}
        metadata = params.get("metadata") or params.get("litellm_metadata") or {}
        if not isinstance(metadata, Mapping):
            metadata = {}
        raw_headers = metadata.get("headers") or {}
        lowered = {
            str(k).lower(): str(v)
            for k, v in (raw_headers.items() if isinstance(raw_headers, Mapping) else [])
        }
        limits = limits or RequestLimits()
        check_headers(lowered, limits)
        check_messages_size(messages, limits)
        options = parse_request_options(optional)
        headers = {k: v for k, v in lowered.items() if k in _FORWARDED_HEADERS}
        user = forwarded_user(headers, _first(lowered.get(USER_JWT_HEADER)), openwebui_jwt_secret)
        body = (params.get("proxy_server_request") or {}).get("body") or {}
        body_user = body.get("user") if isinstance(body, Mapping) else None
        for user_field in (body_user, optional.get("user")):
            if isinstance(user_field, str) and len(user_field) > limits.max_header_chars:
                raise InvalidRequestError(
                    f"The request's 'user' field is too large: {len(user_field)} characters, "
                    f"the limit is {limits.max_header_chars}."
                )

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
