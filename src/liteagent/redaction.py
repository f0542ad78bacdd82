"""Keep secrets out of logs, errors and API responses.

``redact_text`` masks credential-looking substrings in free text; ``redact_mapping`` masks the
values of credential-named keys in nested data. Both are used by the log processor chain and by
every error message, so a secret that slips into an exception never reaches a user or a log.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

MASK = "***"

# A key is sensitive when it *ends* with one of these words ("access_token", "x-api-key",
# "OPENAI_API_KEY"), so counters such as "max_tokens" or "token_count" stay readable.
_SENSITIVE_KEY = re.compile(
    r"(?:^|[_-])(?:api[_-]?key|authorization|password|passwd|secret|secret[_-]?key|token|"
    r"credentials?|cookie|private[_-]?key|master[_-]?key|access[_-]?key|fernet[_-]?key|"
    r"encryption[_-]?key)$|^(?:authorization|password|secret|token|cookie|credentials?)$",
    re.IGNORECASE,
)

# Every pattern runs in linear time on any text (log lines and error messages can carry a whole
# request): each starts at a literal or costs a bounded number of steps where it starts, and
# none has two quantifiers that can share the same characters.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # userinfo in URLs: scheme://user:password@host (schemes are short: bounding the scheme keeps
    # a long run of letters from being rescanned at each of its positions)
    (
        re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/\s:@]+:[^/\s@]+@"),
        r"\g<scheme>***@",
    ),
    # Authorization headers and bearer tokens
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    # Well-known key shapes: OpenAI/LiteLLM (sk-...), Anthropic (sk-ant-...), NVIDIA (nvapi-...),
    # GitLab (glpat-...), GitHub (ghp_...), Google OAuth (ya29. / 1//), Slack (xox?-).
    (
        re.compile(
            r"\b(sk-(?:ant-)?[A-Za-z0-9_-]{8,}|nvapi-[A-Za-z0-9_-]{8,}|glpat-[A-Za-z0-9_-]{8,}|"
            r"gh[pousr]_[A-Za-z0-9]{16,}|ya29\.[A-Za-z0-9._-]{8,}|1//[A-Za-z0-9._-]{16,}|"
            r"xox[abprs]-[A-Za-z0-9-]{8,}|ATATT[A-Za-z0-9_=-]{16,}|GOCSPX-[A-Za-z0-9_-]{8,}|"
            r"4/0[A-Za-z0-9_-]{16,})"
        ),
        MASK,
    ),
    # key=value / "key": "value" pairs whose key names (or ends with) a credential word. The
    # match starts at the word: the rest of the key stays as written either way.
    (
        re.compile(
            r"(?i)((?:api[_-]?key|password|secret|token)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',;&}]{4,}"
        ),
        r"\1***",
    ),
)


# Secret values the process has handled (users' toolkit tokens): masked wherever they appear,
# whatever their shape. Bounded; the oldest are forgotten first.
_KNOWN_MAX = 10_000
_KNOWN_MIN_LENGTH = 8
_known: OrderedDict[str, None] = OrderedDict()
_known_pattern: re.Pattern[str] | None = None
_known_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask ``value`` in every later ``redact_text`` (and so in every log line)."""
    global _known_pattern
    if not isinstance(value, str) or len(value) < _KNOWN_MIN_LENGTH:
        return
    with _known_lock:
        if value in _known:
            _known.move_to_end(value)
            return
        _known[value] = None
        while len(_known) > _KNOWN_MAX:
            _known.popitem(last=False)
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact_text(text: str) -> str:
    """Return ``text`` with credential-looking substrings replaced by ``***``."""
    known = _known_pattern
    if known is not None:
        text = known.sub(MASK, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_sensitive_key(key: str) -> bool:
    """Whether a mapping key names a credential (``api_key``, ``Authorization``…)."""
    return bool(_SENSITIVE_KEY.search(key))


def redact_value(value: Any) -> Any:
    """Redact strings, mappings and sequences recursively."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Copy ``data`` with credential-named keys masked and other values redacted."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and is_sensitive_key(key) and value not in (None, ""):
            out[key] = MASK
        else:
            out[key] = redact_value(value)
    return out
