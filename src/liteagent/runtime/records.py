"""Plain records that travel as JSON (through Redis, pub/sub and the run store).

``JsonRecord`` gives a dataclass ``to_dict``/``from_dict`` and ``to_json``/``from_json`` derived
from its fields by pydantic: datetimes as ISO 8601 text, enums as their values, and reading
validates every field (a record from another replica that lacks one is refused, not half-read).
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import TypeAdapter

__all__ = ["JsonRecord"]


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    """The (first use: built) pydantic adapter of the dataclass ``cls``."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


class JsonRecord:
    """Mixin for dataclasses whose instances are stored or sent as JSON."""

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        data: dict[str, Any] = _adapter(type(self)).dump_python(self, mode="json")
        return data

    def to_json(self) -> str:
        """The record as JSON text."""
        return _adapter(type(self)).dump_json(self).decode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The record in ``data`` (as ``to_dict`` makes it)."""
        record: Self = _adapter(cls).validate_python(data)
        return record

    @classmethod
    def from_json(cls, raw: str | bytes) -> Self:
        """The record in ``raw`` (as ``to_json`` makes it)."""
        record: Self = _adapter(cls).validate_json(raw)
        return record
