"""Objects built once per name and shared by everything that asks for that name.

The process-wide registries of circuit breakers, rate limiters and fallback chains keep their
objects here: every agent built for any user that calls the same upstream gets the same
breaker, limiter or chain, so counts and states are shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["SharedInstances"]

T = TypeVar("T")


class SharedInstances(Generic[T]):
    """Instances by name, each built by the first caller's factory."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}

    def get_or_create(self, name: str, factory: Callable[[], T]) -> T:
        """The instance called ``name``; ``factory`` builds it the first time."""
        item = self._items.get(name)
        if item is None:
            item = self._items[name] = factory()
        return item

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def items(self) -> list[tuple[str, T]]:
        """``(name, instance)`` pairs, by name."""
        return sorted(self._items.items(), key=lambda pair: pair[0])

    def clear(self) -> None:
        self._items.clear()
