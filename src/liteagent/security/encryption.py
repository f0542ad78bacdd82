"""Symmetric encryption of secrets at rest (Fernet, from ``cryptography``).

Ciphertexts are ``enc:v1:<Fernet token>``: the prefix says how to read the value, so a column can
be checked for plaintext by eye or by a scan, and a later scheme can be added as ``enc:v2:``.

The key comes from ``LITEAGENT_ENCRYPTION_KEY``: one Fernet key (32 url-safe base64 bytes), or
several separated by commas to rotate — the first encrypts, all of them decrypt. Make one with::

    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

Outside ``ENVIRONMENT=development`` / ``test`` a missing key stops start-up. In development and
test a missing key is replaced by a temporary one, generated at start and held only in memory,
with a loud warning: what is stored then cannot be read after a restart (stored credentials read
as "not configured" and the user is asked again). A malformed key is refused everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from liteagent.config import Settings, get_settings
from liteagent.errors import ConfigurationError
from liteagent.log import get_logger

logger = get_logger(__name__)

PREFIX = "enc:v1:"
KEY_ENV = "LITEAGENT_ENCRYPTION_KEY"
KEYGEN_COMMAND = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
_RELAXED_ENVIRONMENTS = ("development", "test")


class DecryptionError(ConfigurationError, error_code="decryption_error"):
    """A stored value cannot be decrypted with the configured key(s)."""


def _parse_keys(raw: str) -> list[bytes]:
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise ConfigurationError(f"{KEY_ENV} is empty. Generate a key with: {KEYGEN_COMMAND}")
    parsed: list[bytes] = []
    for i, key in enumerate(keys):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            which = f"key {i + 1} of {KEY_ENV}" if len(keys) > 1 else KEY_ENV
            raise ConfigurationError(
                f"{which} is not a valid Fernet key (32 url-safe base64-encoded bytes). "
                f"Generate one with: {KEYGEN_COMMAND}"
            ) from None
        parsed.append(key.encode())
    return parsed


class EncryptionService:
    """Encrypts and decrypts short secrets (tokens, passwords) with Fernet.

    Args:
        key: A Fernet key, or a list of keys (the first encrypts; all decrypt, for rotation).
            ``None`` generates a temporary key (tests, development).
    """

    def __init__(self, key: bytes | str | list[bytes] | None = None) -> None:
        if key is None:
            keys = [Fernet.generate_key()]
        elif isinstance(key, list):
            keys = list(key)
        else:
            keys = _parse_keys(key.decode() if isinstance(key, bytes) else key)
        if not keys:
            raise ConfigurationError(f"{KEY_ENV} is empty. Generate a key with: {KEYGEN_COMMAND}")
        self._keys = keys
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        """Return ``enc:v1:<token>`` for ``plaintext``."""
        return PREFIX + self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Return the plaintext of an ``enc:v1:`` value.

        Raises:
            DecryptionError: not an ``enc:v1:`` value, or no configured key can read it
                (the key was changed without keeping the old one for rotation).
        """
        if not self.is_encrypted(ciphertext):
            raise DecryptionError("The value is not encrypted (no 'enc:v1:' prefix).")
        try:
            return self._fernet.decrypt(ciphertext[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise DecryptionError(
                f"A stored secret cannot be decrypted with {KEY_ENV}: the key changed. Keep the "
                f"old key after the new one ({KEY_ENV}=new,old) while rotating."
            ) from None

    @staticmethod
    def is_encrypted(value: str) -> bool:
        """Whether ``value`` looks like one of our ciphertexts."""
        return isinstance(value, str) and value.startswith(PREFIX)

    def get_key(self) -> bytes:
        """The key that encrypts (the first configured)."""
        return self._keys[0]

    def sign(self, purpose: str, value: str) -> str:
        """A keyed digest of ``value`` for ``purpose`` (hex), stable while the key is.

        Used for values that must be unguessable without the key but need no decryption, such
        as an OAuth ``state`` or PKCE verifier bound to one user.
        """
        mac_key = hashlib.sha256(b"liteagent-sign\x00" + self._keys[0]).digest()
        return hmac.new(mac_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


_services: dict[str, EncryptionService] = {}
_lock = threading.Lock()


def check_encryption_key(settings: Settings) -> None:
    """Refuse start-up when the key is malformed, or missing outside development and test.

    Raises:
        ConfigurationError: with the command that generates a key.
    """
    raw = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    if raw.strip():
        _parse_keys(raw)
        return
    if settings.environment not in _RELAXED_ENVIRONMENTS:
        raise ConfigurationError(
            f"{KEY_ENV} is not set; it encrypts users' toolkit credentials and is required when "
            f"ENVIRONMENT={settings.environment}. Generate a key with: {KEYGEN_COMMAND} "
            f"and set {KEY_ENV} to it (keep it secret and keep a copy: without it stored "
            "credentials cannot be read)."
        )


def get_encryption_service(settings: Settings | None = None) -> EncryptionService:
    """The process's ``EncryptionService`` for the configured key.

    Raises:
        ConfigurationError: the key is malformed, or missing outside development and test.
    """
    settings = settings or get_settings()
    check_encryption_key(settings)
    raw = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    cache_key = hashlib.sha256(raw.encode()).hexdigest() if raw.strip() else "ephemeral"
    with _lock:
        service = _services.get(cache_key)
        if service is None:
            if raw.strip():
                service = EncryptionService(raw)
            else:
                service = EncryptionService()
                logger.warning(
                    "encryption_key_missing_using_temporary_key",
                    environment=settings.environment,
                    consequence="credentials stored now cannot be read after a restart",
                    fix=f"set {KEY_ENV}; generate one with: {KEYGEN_COMMAND}",
                )
            _services[cache_key] = service
        return service
