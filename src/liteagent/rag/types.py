"""The data the RAG pipeline passes around: documents, search hits and metadata filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from liteagent.errors import InvalidRequestError

__all__ = ["Document", "MetadataFilter", "RetrievalResult", "SearchResult", "matches_filter"]

MetadataFilter = Mapping[str, Any]
"""``{"key": value}`` (equality), ``{"key": {"$in": [a, b]}}`` or ``{"key": {"$ne": value}}``;
all conditions must hold. Every vector store and retriever interprets filters the same way."""

_OPERATORS = ("$eq", "$ne", "$in")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Document:
    """A passage in a knowledge base (usually one chunk of a source)."""

    id: str
    content: str
    embedding: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the embedding included)."""
        return {
            "id": self.id,
            "content": self.content,
            "embedding": self.embedding,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        created = data.get("created_at")
        return cls(
            id=str(data["id"]),
            content=str(data["content"]),
            embedding=list(data["embedding"]) if data.get("embedding") is not None else None,
            metadata=dict(data.get("metadata") or {}),
            created_at=datetime.fromisoformat(created) if isinstance(created, str) else _now(),
        )


@dataclass
class SearchResult:
    """One hit: the document, its score (higher is better) and its 1-based rank."""

    document: Document
    score: float
    rank: int


@dataclass
class RetrievalResult:
    """What a retriever found for one query."""

    documents: list[SearchResult]
    query: str
    strategy: str
    metadata: dict[str, Any] = field(default_factory=dict)


def check_filter(filter: MetadataFilter | None) -> None:
    """Raise ``InvalidRequestError`` for a filter that uses an unknown operator."""
    for key, cond in (filter or {}).items():
        if isinstance(cond, Mapping):
            unknown = set(cond) - set(_OPERATORS)
            if unknown or len(cond) != 1:
                raise InvalidRequestError(
                    f"Metadata filter on '{key}' must use exactly one of "
                    f"{', '.join(_OPERATORS)} (got {', '.join(map(str, cond))})."
                )
            if "$in" in cond and not isinstance(cond["$in"], list | tuple):
                raise InvalidRequestError(f"Metadata filter '{key}': $in needs a list.")


def matches_filter(metadata: Mapping[str, Any], filter: MetadataFilter | None) -> bool:
    """Whether ``metadata`` satisfies every condition of ``filter``."""
    for key, cond in (filter or {}).items():
        present = key in metadata
        value = metadata.get(key)
        if isinstance(cond, Mapping):
            if "$in" in cond:
                if not present or value not in list(cond["$in"]):
                    return False
            elif "$ne" in cond:
                if present and value == cond["$ne"]:
                    return False
            elif not present or value != cond.get("$eq"):
                return False
        elif not present or value != cond:
            return False
    return True
