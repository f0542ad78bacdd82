"""One registry mechanism for providers, embedders, vector stores, retrievers, chunkers, node
handlers and tools.

Built-ins and plugins register the same way: a class decorated with ``@registry.register(name)``
in our own modules, or an entry point in a third-party distribution under the registry's group
(``liteagent.llm_providers``, …) which ``load_entry_points`` imports on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from liteagent.errors import ProviderNotFoundError
from liteagent.log import get_logger

T = TypeVar("T")
V = TypeVar("V")

logger = get_logger(__name__)


@dataclass(frozen=True)
class ProviderMetadata:
    """What a registry knows about one registered name."""

    name: str
    description: str = ""
    kind: str = "class"  # class | factory | instance
    source: str = "builtin"  # builtin | entry_point
    extra: dict[str, Any] = field(default_factory=dict)


class ProviderRegistry(Generic[T]):
    """A named collection of implementations of ``T``.

    Args:
        category: Human-readable category used in error messages ("LLM provider").
        entry_point_group: Entry-point group from which plugins are loaded lazily.
    """

    def __init__(self, category: str, entry_point_group: str | None = None) -> None:
        self.category = category
        self.entry_point_group = entry_point_group
        self._classes: dict[str, type[T]] = {}
        self._factories: dict[str, Callable[..., T]] = {}
        self._instances: dict[str, T] = {}
        self._metadata: dict[str, ProviderMetadata] = {}
        self._default: str | None = None
        self._entry_points_loaded = False
        # Entry points may be loaded from several threads at once (e.g. an embedder from a
        # worker thread): the first loads them, the others wait for it to finish.
        self._load_lock = threading.RLock()

    def register(self, name: str, description: str = "") -> Callable[[type[T]], type[T]]:
        """Class decorator registering ``cls`` under ``name``."""

        def decorator(cls: type[T]) -> type[T]:
            self._classes[name] = cls
            doc = description or (cls.__doc__ or "").strip().split("\n", 1)[0]
            self._metadata[name] = ProviderMetadata(name=name, description=doc)
            return cls

        return decorator

    def register_factory(self, name: str, factory: Callable[..., T], description: str = "") -> None:
        """Register a callable that builds an instance from keyword config."""
        self._factories[name] = factory
        self._metadata[name] = ProviderMetadata(name=name, description=description, kind="factory")

    def register_instance(self, name: str, instance: T, description: str = "") -> None:
        """Register a ready-made instance returned as is by ``get``."""
        self._instances[name] = instance
        self._metadata[name] = ProviderMetadata(name=name, description=description, kind="instance")

    def load_entry_points(self) -> None:
        """Import plugins declared under ``entry_point_group`` (idempotent)."""
        if self._entry_points_loaded or not self.entry_point_group:
            return
        with self._load_lock:
            if not self._entry_points_loaded:
                self._load_entry_points(self.entry_point_group)
                self._entry_points_loaded = True

    def _load_named(self, name: str) -> None:
        """Import only the plugin declared as ``name`` (a catalog naming the ``openai``
        provider does not import every other provider's SDK)."""
        if self.has_loaded(name) or self._entry_points_loaded or not self.entry_point_group:
            return
        with self._load_lock:
            if not self.has_loaded(name):
                self._load_entry_points(self.entry_point_group, only=name)

    def _load_entry_points(self, group: str, only: str | None = None) -> None:
        for ep in entry_points(group=group):
            if self.has_loaded(ep.name) or (only is not None and ep.name != only):
                continue
            try:
                obj = ep.load()
            except ImportError as exc:
                logger.warning("plugin_load_failed", group=group, name=ep.name, error=str(exc))
                continue
            if isinstance(obj, type):
                self._classes[ep.name] = obj
                kind = "class"
            else:
                self._factories[ep.name] = obj
                kind = "factory"
            self._metadata[ep.name] = ProviderMetadata(
                name=ep.name, description=ep.value, kind=kind, source="entry_point"
            )

    def has_loaded(self, name: str) -> bool:
        return name in self._classes or name in self._factories or name in self._instances

    def get(self, name: str | None = None, **config: Any) -> T:
        """Build (or return) the implementation registered as ``name`` (default if ``None``)."""
        key = name or self._default
        if key is None:
            raise ProviderNotFoundError(f"No default {self.category} is set.")
        self._load_named(key)
        if key in self._instances:
            return self._instances[key]
        if key in self._factories:
            return self._factories[key](**config)
        if key in self._classes:
            return self._classes[key](**config)
        available = ", ".join(sorted(self.list_providers())) or "none"
        raise ProviderNotFoundError(f"Unknown {self.category} '{key}'. Available: {available}.")

    def get_class(self, name: str) -> type[T]:
        """Return the registered class (not an instance)."""
        return self._registered(self._classes, name, self.category)

    def get_factory(self, name: str) -> Callable[..., T]:
        """The registered factory (a builder function, not what it builds)."""
        return self._registered(self._factories, name, f"{self.category} factory")

    def _registered(self, table: dict[str, V], name: str, what: str) -> V:
        """``table[name]``, loading the entry points first when it is not there yet."""
        if name not in table:
            self.load_entry_points()
        try:
            return table[name]
        except KeyError:
            raise ProviderNotFoundError(f"Unknown {what} '{name}'.") from None

    def list_providers(self) -> list[str]:
        self.load_entry_points()
        return sorted({*self._classes, *self._factories, *self._instances})

    def get_metadata(self, name: str) -> ProviderMetadata:
        self._load_named(name)
        try:
            return self._metadata[name]
        except KeyError:
            raise ProviderNotFoundError(f"Unknown {self.category} '{name}'.") from None

    def get_default(self) -> str | None:
        return self._default

    def set_default(self, name: str) -> None:
        if not self.has(name):
            raise ProviderNotFoundError(f"Unknown {self.category} '{name}'.")
        self._default = name

    def has(self, name: str) -> bool:
        self._load_named(name)
        return self.has_loaded(name)

    def unregister(self, name: str) -> None:
        for store in (self._classes, self._factories, self._instances, self._metadata):
            store.pop(name, None)
        if self._default == name:
            self._default = None

    def clear(self) -> None:
        for store in (self._classes, self._factories, self._instances, self._metadata):
            store.clear()
        self._default = None
        self._entry_points_loaded = False
