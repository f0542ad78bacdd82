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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from liteagent.errors import ConfigurationError, InvalidRequestError
from liteagent.rag.ranking import top_k
from liteagent.rag.types import Document, MetadataFilter, SearchResult, check_filter, matches_filter
from liteagent.registry import ProviderRegistry

__all__ = ["InMemoryVectorStore", "VectorStore", "vector_store_registry"]

# Searches that multiply more floats than this (about 170k vectors of 384, some 5 ms) run in a
# worker thread, off the event loop. Smaller ones run inline: handing a BLAS product of a few
# milliseconds to a thread doubled its p95 (at 100k x 384 on 2 CPUs: 3.2 ms inline, 7.8 ms in
# a worker thread), and the loop is held for less than a request's own work.
_INLINE_FLOATS = 64_000_000


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

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Many ``add_documents``/``delete`` calls follow: the store may defer work they share
        (the in-memory store writes its folder once, when the block ends)."""
        yield

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
    """Documents in a dict, vectors in one contiguous float32 matrix; optionally persisted.

    Each vector is normalised once, when it is added, into a row of the matrix (its norm is
    kept beside it so ``get`` returns the embedding as given); the documents themselves are
    kept without their embeddings. A search is one matrix-vector product over a view of the
    filled rows and an ``argpartition`` for the best ``limit``; a filter is checked on the best
    rows first and never copies the matrix. The matrix grows by a quarter when full, and a
    deleted row is filled with the last one, so memory stays within 1.25x the raw vectors.

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
        self._row: dict[str, int] = {}
        self._ids: list[str] = []
        self._matrix: npt.NDArray[np.float32] = np.zeros((0, embedding_dimension), np.float32)
        self._norms: npt.NDArray[np.float32] = np.zeros(0, np.float32)
        self._loaded = False
        self._disk_stamp: int | None = None
        self._lock = asyncio.Lock()
        self._deferred = 0  # open ``batch`` blocks: saving waits for the last to end
        self._dirty = False

    # ------------------------------------------------------------------ rows
    def _clear(self) -> None:
        self._docs.clear()
        self._row.clear()
        self._ids = []
        self._matrix = np.zeros((0, self.embedding_dimension), np.float32)
        self._norms = np.zeros(0, np.float32)

    def _reserve(self, rows: int) -> None:
        if rows <= self._matrix.shape[0]:
            return
        capacity = max(rows, self._matrix.shape[0] + self._matrix.shape[0] // 4, 64)
        matrix = np.zeros((capacity, self.embedding_dimension), np.float32)
        norms = np.zeros(capacity, np.float32)
        size = len(self._ids)
        matrix[:size] = self._matrix[:size]
        norms[:size] = self._norms[:size]
        self._matrix, self._norms = matrix, norms

    def _put(self, documents: list[Document], vectors: npt.NDArray[np.float32] | None) -> None:
        """Store documents (without their embeddings) and their vectors' rows."""
        if vectors is not None:
            new = len({d.id for d in documents if d.id not in self._row})
            self._reserve(len(self._ids) + new)
            norms = np.linalg.norm(vectors, axis=1)
        for n, doc in enumerate(documents):
            self._docs[doc.id] = replace(doc, embedding=None) if doc.embedding is not None else doc
            if vectors is None:
                continue
            row = self._row.get(doc.id)
            if row is None:
                row = self._row[doc.id] = len(self._ids)
                self._ids.append(doc.id)
            norm = float(norms[n])
            self._norms[row] = norm
            self._matrix[row] = vectors[n] / max(norm, 1e-12)

    def _remove(self, doc_id: str) -> bool:
        if self._docs.pop(doc_id, None) is None:
            return False
        row = self._row.pop(doc_id, None)
        if row is not None:
            last = len(self._ids) - 1
            if row != last:  # the last row takes the freed one
                moved = self._ids[last]
                self._matrix[row] = self._matrix[last]
                self._norms[row] = self._norms[last]
                self._ids[row] = moved
                self._row[moved] = row
            self._ids.pop()
        return True

    def _embedding(self, doc_id: str) -> list[float] | None:
        row = self._row.get(doc_id)
        if row is None:
            return None
        vector: list[float] = (self._matrix[row] * self._norms[row]).tolist()
        return vector

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
        self._clear()
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
        with (self.persist_path / "documents.jsonl").open(encoding="utf-8") as fh:
            docs = [Document.from_dict(json.loads(line)) for line in fh if line.strip()]
        vectors: npt.NDArray[np.float32] | None = None
        vectors_file = self.persist_path / "embeddings.npy"
        if self.embedding_dimension and vectors_file.exists():
            vectors = np.load(vectors_file).astype(np.float32, copy=False)
            if len(vectors) != len(docs):
                raise ConfigurationError(
                    f"The store at {self.persist_path} is damaged ({len(docs)} documents, "
                    f"{len(vectors)} vectors): delete the folder and ingest again."
                )
        self._put(docs, vectors)

    def _save(self) -> None:
        if self.persist_path is None:
            return
        self.persist_path.mkdir(parents=True, exist_ok=True)
        ids = sorted(self._docs)
        lines = [
            json.dumps({**self._docs[i].to_dict(), "embedding": None}, ensure_ascii=False)
            for i in ids
        ]
        self._atomic_write(self.persist_path / "documents.jsonl", ("\n".join(lines)).encode())
        if self.embedding_dimension:
            rows = np.fromiter((self._row[i] for i in ids), dtype=np.intp, count=len(ids))
            fd, tmp = tempfile.mkstemp(dir=self.persist_path, suffix=".npy")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, self._matrix[rows] * self._norms[rows][:, None])
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

    async def _changed(self) -> None:
        """Save after a change (under the lock), or mark the store dirty inside ``batch``."""
        if self._deferred:
            self._dirty = True
        else:
            await asyncio.to_thread(self._save)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Save the folder once when the block ends, not after every change in it (ingesting
        many sources would otherwise rewrite every vector once per source)."""
        await self.initialize()
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
            if not self._deferred and self._dirty:
                async with self._lock:
                    self._dirty = False
                    await asyncio.to_thread(self._save)

    # ------------------------------------------------------------------ API
    async def add_documents(self, documents: list[Document]) -> list[str]:
        await self.initialize()
        self._check_embeddings(documents)
        vectors: npt.NDArray[np.float32] | None = None
        if self.embedding_dimension:
            vectors = np.asarray([d.embedding for d in documents], dtype=np.float32).reshape(
                len(documents), self.embedding_dimension
            )
        async with self._lock:
            self._put(documents, vectors)
            await self._changed()
        return [d.id for d in documents]

    def _search(
        self, query: npt.NDArray[np.float32], limit: int, filter: MetadataFilter | None
    ) -> list[SearchResult]:
        size = len(self._ids)
        if not size:
            return []
        q = query / max(float(np.linalg.norm(query)), 1e-12)
        # numpy's product (BLAS) over a view of the filled rows: nothing is copied
        scores: npt.NDArray[np.float32] = self._matrix[:size] @ q
        ids, docs = self._ids, self._docs
        keep = (lambda i: matches_filter(docs[ids[i]].metadata, filter)) if filter else None
        best = top_k(scores, limit, keep=keep, tiebreak=ids)
        return [
            SearchResult(document=docs[ids[i]], score=float(scores[i]), rank=r)
            for r, i in enumerate(best, start=1)
        ]

    async def search(
        self, query_embedding: list[float], limit: int = 10, filter: MetadataFilter | None = None
    ) -> list[SearchResult]:
        await self.initialize()
        check_filter(filter)
        if self.embedding_dimension == 0:
            raise ConfigurationError("This store holds no vectors; search it with BM25.")
        _check_query(query_embedding, self.embedding_dimension, limit)
        query = np.asarray(query_embedding, dtype=np.float32)
        async with self._lock:
            if len(self._ids) * self.embedding_dimension > _INLINE_FLOATS:
                return await asyncio.to_thread(self._search, query, limit, filter)
            return self._search(query, limit, filter)

    async def delete(self, document_ids: list[str]) -> int:
        await self.initialize()
        async with self._lock:
            removed = sum(1 for i in document_ids if self._remove(i))
            if removed:
                await self._changed()
            return removed

    async def get(self, document_id: str) -> Document | None:
        await self.initialize()
        doc = self._docs.get(document_id)
        if doc is None:
            return None
        return replace(doc, embedding=self._embedding(document_id))

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
