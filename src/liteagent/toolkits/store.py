"""Per-user, per-toolkit credential storage, encrypted at rest.

``TokenStorage`` encrypts every credential (a small JSON object) with ``EncryptionService``
before a backend sees it, so a backend only ever holds ``enc:v1:…`` strings: the database
backend (``CredentialRepository`` on ``liteagent.storage``) in the proxy, the in-memory backend
in tests and for embedding. Every write or delete notifies the subscribers (the handler drops
that user's cached agents) with the user's key.
"""

from __future__ import annotations

import json
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from liteagent.log import get_logger
from liteagent.redaction import register_secret
from liteagent.security import DecryptionError, EncryptionService
from liteagent.storage import CredentialRepository, Database

logger = get_logger(__name__)

ChangeListener = Callable[[str], object]


class CredentialBackend(ABC):
    """Where ciphertexts live, keyed by (user, toolkit)."""

    @abstractmethod
    async def get(self, *, user_key: str, toolkit: str) -> tuple[str, datetime] | None: ...

    @abstractmethod
    async def upsert(self, *, user_key: str, toolkit: str, secret: str) -> datetime: ...

    @abstractmethod
    async def delete(self, *, user_key: str, toolkit: str) -> bool: ...

    @abstractmethod
    async def versions(self, *, user_key: str) -> dict[str, datetime]: ...


class DatabaseCredentialBackend(CredentialBackend):
    """The ``liteagent_toolkit_credentials`` table (``LITEAGENT_DATABASE_URL``)."""

    def __init__(self, database: Database) -> None:
        self.repository = CredentialRepository(database)

    async def get(self, *, user_key: str, toolkit: str) -> tuple[str, datetime] | None:
        return await self.repository.get(user_key=user_key, toolkit=toolkit)

    async def upsert(self, *, user_key: str, toolkit: str, secret: str) -> datetime:
        return await self.repository.upsert(user_key=user_key, toolkit=toolkit, secret=secret)

    async def delete(self, *, user_key: str, toolkit: str) -> bool:
        return await self.repository.delete(user_key=user_key, toolkit=toolkit)

    async def versions(self, *, user_key: str) -> dict[str, datetime]:
        return await self.repository.versions(user_key=user_key)


class MemoryCredentialBackend(CredentialBackend):
    """A dict in this process (tests, embedding). Still holds only ciphertext."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, datetime]] = {}

    async def get(self, *, user_key: str, toolkit: str) -> tuple[str, datetime] | None:
        return self.rows.get((user_key, toolkit))

    async def upsert(self, *, user_key: str, toolkit: str, secret: str) -> datetime:
        now = datetime.now(UTC)
        self.rows[(user_key, toolkit)] = (secret, now)
        return now

    async def delete(self, *, user_key: str, toolkit: str) -> bool:
        return self.rows.pop((user_key, toolkit), None) is not None

    async def versions(self, *, user_key: str) -> dict[str, datetime]:
        return {t: when for (u, t), (_, when) in self.rows.items() if u == user_key}


class TokenStorage:
    """Encrypted credentials per user and toolkit (the seeds' ``token_storage``).

    Args:
        backend: Where the ciphertexts go.
        encryption: Encrypts on write, decrypts on read.
    """

    def __init__(self, backend: CredentialBackend, encryption: EncryptionService) -> None:
        self.backend = backend
        self.encryption = encryption
        self._listeners: list[Callable[[], ChangeListener | None]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ change notification
    def subscribe(self, listener: ChangeListener) -> None:
        """Call ``listener(user_key)`` after each write or delete (held weakly for methods)."""
        ref: Callable[[], ChangeListener | None]
        if hasattr(listener, "__self__") and hasattr(listener, "__func__"):
            ref = weakref.WeakMethod(listener)
        else:
            ref = lambda: listener  # noqa: E731
        with self._lock:
            self._listeners.append(ref)

    def _notify(self, user_key: str) -> None:
        with self._lock:
            live = [(ref, ref()) for ref in self._listeners]
            self._listeners = [ref for ref, fn in live if fn is not None]
        for _, fn in live:
            if fn is not None:
                fn(user_key)

    # ------------------------------------------------------------------ data
    async def get_token(self, *, user_id: str, toolkit: str) -> dict[str, Any] | None:
        """The user's credential fields for ``toolkit``, or ``None``.

        A value that cannot be decrypted (the key changed without rotation) reads as ``None``,
        so the user is asked to configure the toolkit again.
        """
        row = await self.backend.get(user_key=user_id, toolkit=toolkit)
        if row is None:
            return None
        try:
            data = json.loads(self.encryption.decrypt(row[0]))
        except (DecryptionError, ValueError):
            logger.warning("toolkit_credential_unreadable", toolkit=toolkit, user=user_id)
            return None
        if not isinstance(data, dict):
            return None
        _register_values(data)
        return data

    async def upsert_token(
        self, *, user_id: str, toolkit: str, data: Mapping[str, Any], notify: bool = True
    ) -> datetime:
        """Encrypt and store ``data``, replacing what the user had for ``toolkit``.

        ``notify=False`` is for a refreshed access token: the same credential, renewed, which
        does not change what the user's agents can do.
        """
        _register_values(data)
        ciphertext = self.encryption.encrypt(json.dumps(dict(data), sort_keys=True))
        when = await self.backend.upsert(user_key=user_id, toolkit=toolkit, secret=ciphertext)
        logger.info("toolkit_credential_stored", toolkit=toolkit, user=user_id, renewed=not notify)
        if notify:
            self._notify(user_id)
        return when

    async def delete_token(self, *, user_id: str, toolkit: str, notify: bool = True) -> bool:
        """Forget the user's credentials for ``toolkit``; ``True`` when there were some.

        ``notify=False`` leaves the user's cached agents alone (used from inside a running tool:
        the next request notices the toolkit is gone and rebuilds the agent).
        """
        deleted = await self.backend.delete(user_key=user_id, toolkit=toolkit)
        logger.info("toolkit_credential_deleted", toolkit=toolkit, user=user_id, existed=deleted)
        if notify:
            self._notify(user_id)
        return deleted

    async def versions(self, *, user_id: str) -> dict[str, datetime]:
        """When each of the user's toolkit credentials was last written."""
        return await self.backend.versions(user_key=user_id)


SECRET_FIELDS = ("token", "access_token", "refresh_token", "password", "api_token")


def _register_values(data: Mapping[str, Any]) -> None:
    """Teach the log redactor the secret values, so they are masked wherever they appear."""
    for name in SECRET_FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            register_secret(value)


def secret_values(data: Mapping[str, Any] | None) -> list[str]:
    """The secret field values of one credential (for scrubbing messages)."""
    if not data:
        return []
    return [v for k in SECRET_FIELDS if isinstance(v := data.get(k), str) and v]
