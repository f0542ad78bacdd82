"""Embedding cache: an unchanged text is never embedded twice by the same model.

Entries are addressed by ``sha256(model_id, text)``, so they never go stale: a changed chunk is
a different key. ``EmbeddingCache`` keeps a bounded in-memory LRU and, with ``path``, a SQLite
file that survives restarts (a knowledge base keeps one beside its documents).
``CachedEmbedder`` wraps any embedder with a cache, and optionally a ``shared`` one for query
vectors (``liteagent.runtime.cache_manager.EmbeddingCache``: Redis when ``REDIS_URL`` is set),
so a question embedded on one replica is not embedded again on another.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
from cachetools import LRUCache

from liteagent.rag.embeddings import EmbeddingProvider, EmbeddingResult

__all__ = ["CachedEmbedder", "EmbeddingCache", "SharedVectors"]


class SharedVectors(Protocol):
    """A cache of vectors shared by replicas (``runtime.cache_manager.EmbeddingCache``)."""

    async def get_embedding(self, text: str, model: str) -> list[float] | None: ...

    async def set_embedding(self, text: str, model: str, embedding: list[float]) -> None: ...


def _key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\x1f{text}".encode()).hexdigest()


class EmbeddingCache:
    """Content-addressed store of embeddings.

    Args:
        maxsize: Entries kept in memory.
        path: Optional SQLite file for a cache that outlives the process.
    """

    def __init__(self, maxsize: int = 10_000, path: str | Path | None = None) -> None:
        self._memory: LRUCache[str, list[float]] = LRUCache(maxsize=maxsize)
        self._path = Path(path) if path else None
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _conn(self) -> sqlite3.Connection | None:
        if self._path is None:
            return None
        if self._db is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self._path, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB)"
            )
        return self._db

    def _get_many(self, keys: list[str]) -> dict[str, list[float]]:
        with self._lock:
            found = {k: self._memory[k] for k in keys if k in self._memory}
            missing = [k for k in keys if k not in found]
            db = self._conn()
            if db is not None and missing:
                for start in range(0, len(missing), 500):
                    part = missing[start : start + 500]
                    marks = ",".join("?" * len(part))
                    rows = db.execute(
                        f"SELECT key, vector FROM embeddings WHERE key IN ({marks})",  # noqa: S608
                        part,
                    ).fetchall()
                    for key, blob in rows:
                        vector = np.frombuffer(blob, dtype=np.float32).tolist()
                        found[key] = vector
                        self._memory[key] = vector
            return found

    def _set_many(self, items: dict[str, list[float]]) -> None:
        with self._lock:
            for key, vector in items.items():
                self._memory[key] = vector
            db = self._conn()
            if db is not None and items:
                db.executemany(
                    "INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)",
                    [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
                )
                db.commit()

    async def get_many(self, texts: list[str], model: str) -> dict[int, list[float]]:
        """Cached vectors by index into ``texts``."""
        keys = [_key(model, t) for t in texts]
        found = await asyncio.to_thread(self._get_many, keys)
        out = {i: found[k] for i, k in enumerate(keys) if k in found}
        self.hits += len(out)
        self.misses += len(texts) - len(out)
        return out

    async def set_many(self, texts: list[str], model: str, vectors: list[list[float]]) -> None:
        """Store ``vectors`` for ``texts``."""
        items = {_key(model, t): v for t, v in zip(texts, vectors, strict=True)}
        await asyncio.to_thread(self._set_many, items)

    async def get_embedding(self, text: str, model: str) -> list[float] | None:
        """The cached vector of ``text`` under ``model``, if any."""
        return (await self.get_many([text], model)).get(0)

    async def set_embedding(self, text: str, model: str, embedding: list[float]) -> None:
        """Cache one vector."""
        await self.set_many([text], model, [embedding])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class CachedEmbedder(EmbeddingProvider):
    """An embedder that asks ``cache`` first and embeds only the texts it has not seen.

    Args:
        inner: The embedder doing the work.
        cache: Where vectors are kept (default: a fresh in-memory cache).
        shared: Where query vectors are shared with other replicas, asked after ``cache``
            (document vectors are embedded once at ingestion and kept by the store).
    """

    def __init__(
        self,
        inner: EmbeddingProvider,
        cache: EmbeddingCache | None = None,
        *,
        shared: SharedVectors | None = None,
    ) -> None:
        self.inner = inner
        self.cache = cache or EmbeddingCache()
        self.shared = shared
        self.embedded_texts = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    async def _cached(self, texts: list[str], query: bool) -> list[list[float]]:
        model = self.inner.model_id + (":query" if query else "")
        found = await self.cache.get_many(texts, model)
        todo = [i for i in range(len(texts)) if i not in found]
        if todo:
            missing = [texts[i] for i in todo]
            if query:
                vectors = [await self.inner.embed_query(missing[0])]
            else:
                vectors = (await self.inner.embed(missing)).embeddings
            self.embedded_texts += len(missing)
            await self.cache.set_many(missing, model, vectors)
            found.update(zip(todo, vectors, strict=True))
        return [found[i] for i in range(len(texts))]

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        if self.inner.dimension == 0:
            return await self.inner.embed(texts)
        return EmbeddingResult(embeddings=await self._cached(texts, False), model=self.model_name)

    async def embed_query(self, query: str) -> list[float]:
        if self.inner.dimension == 0:
            return await self.inner.embed_query(query)
        if self.shared is not None:
            model = self.inner.model_id + ":query"
            local = await self.cache.get_many([query], model)
            if 0 in local:
                return local[0]
            vector = await self.shared.get_embedding(query, model)
            if vector is not None and len(vector) == self.inner.dimension:
                await self.cache.set_many([query], model, [vector])
                return vector
        vector = (await self._cached([query], True))[0]
        if self.shared is not None:
            await self.shared.set_embedding(query, self.inner.model_id + ":query", vector)
        return vector

    async def aclose(self) -> None:
        await self.inner.aclose()
