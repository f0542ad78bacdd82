"""Vector stores: where documents and their embeddings live.

- ``InMemoryVectorStore``: numpy cosine search in the process; with ``persist_path`` it saves
  itself to a folder after every change and loads it on ``initialize``, which makes it the
  embedded default for knowledge bases.
- ``PgVectorStore`` (``liteagent.rag.pgvector``): PostgreSQL + pgvector with an HNSW index.

Both score by cosine similarity (higher is better), break ties by document id, interpret
metadata filters identically (``liteagent.rag.types.matches_filter``) and check every
embedding's dimension.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import numpy.typing as npt

from liteagent.errors import ConfigurationError, InvalidRequestError
from liteagent.rag.types import Document, MetadataFilter, SearchResult, check_filter, matches_filter
from liteagent.registry import ProviderRegistry

__all__ = ["InMemoryVectorStore", "VectorStore", "vector_store_registry"]


class VectorStore(ABC):
    """Stores documents with embeddings and finds the nearest ones to a query vector."""

    embedding_dimension: int

    async def initialize(self) -> None:  # noqa: B027 - optional hook
        """Create tables / load files. Idempotent."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    async def add_documents(self, documents: list[Document]) -> list[str]:
        """Insert or replace documents (by id); returns their ids."""

    @abstractmethod
    async def search(
        self, query_embedding: list[float], limit: int = 10, filter: MetadataFilter | None = None
    ) -> list[SearchResult]:
        """The ``limit`` documents most similar to ``query_embedding`` that match ``filter``."""

    @abstractmethod
    async def delete(self, document_ids: list[str]) -> int:
        """Remove documents; returns how many existed."""

    @abstractmethod
    async def get(self, document_id: str) -> Document | None:
        """One document by id (with its embedding), or ``None``."""

    @abstractmethod
    async def list_documents(self, filter: MetadataFilter | None = None) -> list[Document]:
        """Every document matching ``filter``, ordered by id (embeddings omitted)."""

    async def count(self, filter: MetadataFilter | None = None) -> int:
        """How many documents match ``filter``."""
        return len(await self.list_documents(filter))

    async def refresh(self) -> bool:
        """Pick up changes made by another process; ``True`` if the contents changed."""
        return False

    def _check_embeddings(self, documents: list[Document]) -> None:
        for doc in documents:
            size = len(doc.embedding) if doc.embedding is not None else 0
            if size != self.embedding_dimension:
                raise ConfigurationError(
                    f"Document '{doc.id}' has a {size}-dimensional embedding but the store holds "
                    f"{self.embedding_dimension}-dimensional vectors: use the embedder the store "
                    "was created with, or a new knowledge base."
                )


def _check_query(query: list[float], dimension: int, limit: int) -> None:
    if limit < 1:
        raise InvalidRequestError(f"limit must be at least 1 (got {limit}).")
    if len(query) != dimension:
        raise ConfigurationError(
            f"The query embedding has {len(query)} dimensions but the store holds "
            f"{dimension}-dimensional vectors: the query must use the store's embedder."
        )


class InMemoryVectorStore(VectorStore):
    """Documents in a dict, vectors in a numpy matrix; optionally persisted to a folder.

    Args:
        embedding_dimension: Vector length (0 stores documents without vectors, for BM25).
        persist_path: Folder to save to (``documents.jsonl`` + ``embeddings.npy``).
    """

    def __init__(self, embedding_dimension: int = 384, persist_path: str | Path | None = None):
        if embedding_dimension < 0:
            raise ConfigurationError("embedding_dimension cannot be negative.")
        self.embedding_dimension = embedding_dimension
        self.persist_path = Path(persist_path) if persist_path else None
        self._docs: dict[str, Document] = {}
        self._ids: list[str] = []
        self._matrix: npt.NDArray[np.float32] = np.zeros((0, embedding_dimension), np.float32)
        self._dirty_index = False
        self._loaded = False
        self._disk_stamp: int | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ persistence
    def _stamp(self) -> int | None:
        if self.persist_path is None:
            return None
        try:
            return (self.persist_path / "documents.jsonl").stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _load(self) -> None:
        self._loaded = True
        self._docs.clear()
        self._dirty_index = True
        self._disk_stamp = self._stamp()
        if self.persist_path is None or not (self.persist_path / "documents.jsonl").exists():
            return
        meta_file = self.persist_path / "store.json"
        if meta_file.exists():
            stored_dim = int(json.loads(meta_file.read_text())["embedding_dimension"])
            if stored_dim != self.embedding_dimension:
                raise ConfigurationError(
                    f"The store at {self.persist_path} holds {stored_dim}-dimensional vectors but "
                    f"the embedder makes {self.embedding_dimension}: use the same embedder or "
                    "delete the folder to rebuild it."
                )
        docs = [
            Document.from_dict(json.loads(line))
            for line in (self.persist_path / "documents.jsonl").read_text().splitlines()
            if line.strip()
        ]
        vectors_file = self.persist_path / "embeddings.npy"
        if self.embedding_dimension and vectors_file.exists():
            matrix = np.load(vectors_file)
            for doc, vector in zip(docs, matrix, strict=True):
                doc.embedding = vector.tolist()
        for doc in docs:
            self._docs[doc.id] = doc
        self._dirty_index = True

    def _save(self) -> None:
        if self.persist_path is None:
            return
        self.persist_path.mkdir(parents=True, exist_ok=True)
        docs = sorted(self._docs.values(), key=lambda d: d.id)
        lines = [json.dumps({**d.to_dict(), "embedding": None}, ensure_ascii=False) for d in docs]
        self._atomic_write(self.persist_path / "documents.jsonl", ("\n".join(lines)).encode())
        if self.embedding_dimension:
            matrix = np.asarray([d.embedding for d in docs], dtype=np.float32).reshape(
                len(docs), self.embedding_dimension
            )
            fd, tmp = tempfile.mkstemp(dir=self.persist_path, suffix=".npy")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, matrix)
            os.replace(tmp, self.persist_path / "embeddings.npy")
        self._atomic_write(
            self.persist_path / "store.json",
            json.dumps({"embedding_dimension": self.embedding_dimension}).encode(),
        )
        self._disk_stamp = self._stamp()

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    async def initialize(self) -> None:
        async with self._lock:
            if not self._loaded:
                await asyncio.to_thread(self._load)

    async def refresh(self) -> bool:
        """Reload when another process (``liteagent ingest``) rewrote the folder."""
        await self.initialize()
        if self.persist_path is None:
            return False
        async with self._lock:
            if await asyncio.to_thread(self._stamp) == self._disk_stamp:
                return False
            await asyncio.to_thread(self._load)
            return True

    # ------------------------------------------------------------------ index
    def _index(self) -> None:
        if not self._dirty_index:
            return
        self._ids = sorted(self._docs)
        if self.embedding_dimension:
            self._matrix = np.asarray(
                [self._docs[i].embedding for i in self._ids], dtype=np.float32
            ).reshape(len(self._ids), self.embedding_dimension)
            norms = np.linalg.norm(self._matrix, axis=1, keepdims=True)
            self._matrix = self._matrix / np.clip(norms, 1e-12, None)
        self._dirty_index = False

    # ------------------------------------------------------------------ API
    async def add_documents(self, documents: list[Document]) -> list[str]:
        await self.initialize()
        self._check_embeddings(documents)
        async with self._lock:
            for doc in documents:
                self._docs[doc.id] = doc
            self._dirty_index = True
            await asyncio.to_thread(self._save)
        return [d.id for d in documents]

    async def search(
        self, query_embedding: list[float], limit: int = 10, filter: MetadataFilter | None = None
    ) -> list[SearchResult]:
        await self.initialize()
        check_filter(filter)
        if self.embedding_dimension == 0:
            raise ConfigurationError("This store holds no vectors; search it with BM25.")
        _check_query(query_embedding, self.embedding_dimension, limit)
        async with self._lock:
            self._index()
            if not self._ids:
                return []
            q = np.asarray(query_embedding, dtype=np.float32)
            q = q / max(float(np.linalg.norm(q)), 1e-12)
            scores = self._matrix @ q
            candidates: list[int] = list(range(len(self._ids)))
            if filter:
                candidates = [
                    i
                    for i in candidates
                    if matches_filter(self._docs[self._ids[i]].metadata, filter)
                ]
            # Ids are sorted, so a stable sort on -score breaks ties by id.
            ranked = sorted(candidates, key=lambda i: -float(scores[i]))[:limit]
            return [
                SearchResult(document=self._docs[self._ids[i]], score=float(scores[i]), rank=r)
                for r, i in enumerate(ranked, start=1)
            ]

    async def delete(self, document_ids: list[str]) -> int:
        await self.initialize()
        async with self._lock:
            removed = sum(1 for i in document_ids if self._docs.pop(i, None) is not None)
            if removed:
                self._dirty_index = True
                await asyncio.to_thread(self._save)
            return removed

    async def get(self, document_id: str) -> Document | None:
        await self.initialize()
        return self._docs.get(document_id)

    async def list_documents(self, filter: MetadataFilter | None = None) -> list[Document]:
        await self.initialize()
        check_filter(filter)
        return [
            Document(d.id, d.content, None, dict(d.metadata), d.created_at)
            for d in sorted(self._docs.values(), key=lambda d: d.id)
            if matches_filter(d.metadata, filter)
        ]

    def __len__(self) -> int:
        return len(self._docs)


vector_store_registry: ProviderRegistry[VectorStore] = ProviderRegistry(
    "vector store", entry_point_group="liteagent.vector_stores"
)
"""In-memory here; ``pgvector`` is an entry point of the ``liteagent.vector_stores`` group."""
vector_store_registry.register("memory")(InMemoryVectorStore)
