"""``ToolkitService``: the process's toolkit configs and encrypted credential storage.

Built on first use from ``Settings`` (no connection is opened until a credential is read) and
shared by the handler, which subscribes to credential changes to drop a user's cached agents,
and by the runners, which build each user's toolkits.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from liteagent.config import Settings
from liteagent.security import get_encryption_service
from liteagent.storage import get_database
from liteagent.toolkits.base import BaseToolkitConfig, toolkit_registry
from liteagent.toolkits.store import DatabaseCredentialBackend, TokenStorage


class ToolkitRef(Protocol):
    """What a catalog entry says about one of its toolkits."""

    @property
    def name(self) -> str: ...

    @property
    def required(self) -> bool: ...

    def options(self) -> Mapping[str, Any]: ...


class ToolkitService:
    """Toolkit configs bound to one credential storage.

    Args:
        settings: Process settings.
        storage: Credential storage (default: the ``LITEAGENT_DATABASE_URL`` database,
            encrypted with ``LITEAGENT_ENCRYPTION_KEY``).
    """

    def __init__(self, settings: Settings, storage: TokenStorage | None = None) -> None:
        self.settings = settings
        self.storage = storage or TokenStorage(
            DatabaseCredentialBackend(get_database(settings.database_url)),
            get_encryption_service(settings),
        )

    def config(
        self, name: str, *, required: bool = False, options: Mapping[str, Any] | None = None
    ) -> BaseToolkitConfig:
        """The config of toolkit ``name`` (``jira``, ``gitlab``, ``gdrive`` or a plugin)."""
        cls = toolkit_registry.get_class(name)
        return cls(settings=self.settings, storage=self.storage, required=required, options=options)

    def recognisers(self) -> list[BaseToolkitConfig]:
        """One config of every registered toolkit, to recognise credential shapes with."""
        return [self.config(name) for name in toolkit_registry.list_providers()]

    def configs(self, refs: Sequence[ToolkitRef]) -> list[BaseToolkitConfig]:
        """Configs for a catalog entry's toolkits, required ones first."""
        built = [self.config(r.name, required=r.required, options=r.options()) for r in refs]
        return sorted(built, key=lambda c: not c.required)


_services: dict[str, ToolkitService] = {}
_lock = threading.Lock()


def _settings_key(settings: Settings) -> str:
    # model_dump_json masks secrets: add the key and client secret so that settings differing
    # only there do not share a service.
    secrets = [
        s.get_secret_value() if s else ""
        for s in (settings.encryption_key, settings.google_client_secret)
    ]
    material = "\x1f".join([settings.model_dump_json(), *secrets])
    return hashlib.sha256(material.encode()).hexdigest()


def get_toolkit_service(settings: Settings) -> ToolkitService:
    """The process's ``ToolkitService`` for these settings (built on first use)."""
    key = _settings_key(settings)
    with _lock:
        service = _services.get(key)
        if service is None:
            service = _services[key] = ToolkitService(settings)
        return service


def use_toolkit_service(service: ToolkitService) -> None:
    """Make ``service`` the one ``get_toolkit_service`` returns for its settings (embedding)."""
    with _lock:
        _services[_settings_key(service.settings)] = service
