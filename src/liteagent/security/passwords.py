"""Password hashing for the standalone management API's users: scrypt, from the standard library.

A stored hash is self-describing, ``scrypt$ln=14,r=8,p=5$<salt>$<hash>`` (base64 without
padding), so the cost can be raised later and older hashes still verify (``needs_rehash`` says
when one should be replaced at the next login). The parameters (N=2^14, r=8, p=5: 16 MiB, five
passes) are one of OWASP's equivalent scrypt settings for password storage. Hashing takes a
noticeable fraction of a second by design: call these from a worker thread in async code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "needs_rehash", "verify_password"]

_SCHEME = "scrypt"
_LOG_N = 14
_R = 8
_P = 5
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_MEMORY = 256 * 1024 * 1024  # refuse stored parameters that would need more to check


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r,  # 128·N·r bytes are needed: leave room for OpenSSL's overhead
        dklen=_KEY_BYTES,
    )


def hash_password(password: str) -> str:
    """Hash ``password`` with a fresh random salt (the string to store)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    derived = _derive(password, salt, _LOG_N, _R, _P)
    return f"{_SCHEME}$ln={_LOG_N},r={_R},p={_P}${_b64(salt)}${_b64(derived)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, params, salt, derived = stored.split("$")
        if scheme != _SCHEME:
            return None
        values = dict(part.split("=", 1) for part in params.split(","))
        log_n, r, p = int(values["ln"]), int(values["r"]), int(values["p"])
        if not (1 <= log_n <= 24 and r >= 1 and 1 <= p <= 16):
            return None
        if 128 * (r << log_n) > _MAX_MEMORY:
            return None
        return log_n, r, p, _unb64(salt), _unb64(derived)
    except (ValueError, KeyError):
        return None


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison).

    A malformed stored value never matches.
    """
    parsed = _parse(stored)
    if parsed is None:
        return False
    log_n, r, p, salt, expected = parsed
    return hmac.compare_digest(_derive(password, salt, log_n, r, p), expected)


def needs_rehash(stored: str) -> bool:
    """Whether the stored hash uses weaker parameters than new hashes do."""
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (_LOG_N, _R, _P)
