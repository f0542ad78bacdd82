"""Named knowledge bases: ingest sources once, search them many times.

A knowledge base is a vector store plus the embedder and chunker that filled it. Without
``LITEAGENT_PGVECTOR_URL`` it lives in ``<LITEAGENT_KNOWLEDGE_DIR>/<name>/`` (documents,
vectors and an embedding cache); with it, in the table ``kb_<name>``.

Every chunk records its source's *fingerprint* (a hash of the text, the chunker settings and
the embedder). Ingesting a source whose fingerprint is unchanged does nothing: no chunking, no
embedding, no writes. A changed source has its chunks replaced; chunks whose text did not
change are not re-embedded either (the embedding cache).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liteagent.datasources.base import DataSourceContent
from liteagent.errors import ConfigurationError, LiteAgentError
from liteagent.log import get_logger
from liteagent.rag.cache import CachedEmbedder, EmbeddingCache, SharedVectors
from liteagent.rag.chunker import TextChunker, create_chunker
from liteagent.rag.embeddings import EmbeddingProvider, create_embedder
from liteagent.rag.retriever import (
    DEFAULT_RRF_K,
    DEFAULT_VECTOR_WEIGHT,
    Retriever,
    create_retriever,
)
from liteagent.rag.types import Document
from liteagent.rag.vector_store import InMemoryVectorStore, VectorStore

if TYPE_CHECKING:
    from liteagent.config import Settings
    from liteagent.runtime.redis_client import RedisClientWrapper

__all__ = ["IngestReport", "KnowledgeBase", "ProgressCallback"]

logger = get_logger(__name__)

REFRESH_SECONDS = 2.0
"""How often a knowledge base checks its store for changes made by another process."""
KB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
EMBED_BATCH = 256
"""Chunks embedded and stored together while ingesting (memory is bounded by this, not by the
size of a source or of the knowledge base)."""

ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, name)`` after each document of an ingestion run."""


@dataclass
class IngestReport:
    """What one ingestion run did."""

    knowledge_base: str
    sources_added: int = 0
    sources_updated: int = 0
    sources_unchanged: int = 0
    sources_removed: int = 0
    chunks_written: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.sources_added + self.sources_updated + self.sources_removed + self.chunks_removed
        )

    def summary(self) -> str:
        text = (
            f"{self.knowledge_base}: {self.sources_added} added, {self.sources_updated} updated, "
            f"{self.sources_unchanged} unchanged, {self.sources_removed} removed; "
            f"{self.chunks_written} chunks written, {self.chunks_embedded} embedded"
        )
        if self.failures:
            text += f"; {len(self.failures)} failed"
        return text


def _embedding_text(chunk: Document) -> str:
    """What is embedded for a chunk: its document's name and section, then the passage."""
    title = " > ".join(
        str(v) for v in (chunk.metadata.get("name"), chunk.metadata.get("heading")) if v
    )
    return f"{title}\n{chunk.content}" if title else chunk.content


class KnowledgeBase:
    """A named, searchable collection of ingested sources.

    Args:
        name: Lower-case letters, digits, ``-`` and ``_``.
        store: Where chunks and vectors live.
        embedder: Embeds chunks and queries (``NoEmbedder`` for BM25 only).
        chunker: Splits sources into chunks.
        cache: Embedding cache (default: in memory).
        shared: Query vectors shared with other replicas (see ``CachedEmbedder``).
        redis: A Redis connection this knowledge base owns (closed with it).
    """

    def __init__(
        self,
        name: str,
        *,
        store: VectorStore,
        embedder: EmbeddingProvider,
        chunker: TextChunker | None = None,
        cache: EmbeddingCache | None = None,
        shared: SharedVectors | None = None,
        redis: RedisClientWrapper | None = None,
    ) -> None:
        if not KB_NAME.match(name):
            raise ConfigurationError(
                f"Knowledge base name '{name}' must be lower-case letters, digits, '-' or '_'."
            )
        if store.embedding_dimension != embedder.dimension:
            raise ConfigurationError(
                f"Knowledge base '{name}': the store holds {store.embedding_dimension}-dimensional "
                f"vectors but {embedder.model_id} makes {embedder.dimension}."
            )
        self.name = name
        self.store = store
        self.embedder = (
            CachedEmbedder(embedder, cache, shared=shared) if embedder.dimension else embedder
        )
        self._redis = redis
        self.chunker = chunker or create_chunker("semantic", chunk_size=1000, chunk_overlap=150)
        self._retrievers: dict[tuple[Any, ...], Retriever] = {}
        self._checked_at = 0.0

    @classmethod
    def open(
        cls,
        name: str,
        settings: Settings,
        *,
        embedder: EmbeddingProvider | str | None = None,
        chunker: TextChunker | None = None,
    ) -> KnowledgeBase:
        """The knowledge base ``name`` where ``settings`` keep them (folder or PostgreSQL)."""
        if not KB_NAME.match(name):
            raise ConfigurationError(
                f"Knowledge base name '{name}' must be lower-case letters, digits, '-' or '_'."
            )
        emb = (
            embedder
            if isinstance(embedder, EmbeddingProvider)
            else create_embedder(embedder or settings.embedder, settings=settings)
        )
        folder = Path(settings.knowledge_dir) / name
        cache = EmbeddingCache(path=folder / "embeddings.sqlite") if emb.dimension else None
        store: VectorStore
        if settings.pgvector_url is not None:
            from liteagent.rag.pgvector import PgVectorStore

            store = PgVectorStore(
                settings.pgvector_url.get_secret_value(),
                table_name=f"kb_{name.replace('-', '_')}",
                embedding_dimension=emb.dimension,
            )
        else:
            store = InMemoryVectorStore(emb.dimension, persist_path=folder / "store")
        redis: RedisClientWrapper | None = None
        shared: SharedVectors | None = None
        if settings.redis_url is not None and emb.dimension:
            # questions embedded on one replica are not embedded again on another (Redis is
            # imported only when it is configured)
            from liteagent.runtime.cache_manager import EmbeddingCache as SharedEmbeddingCache
            from liteagent.runtime.redis_client import RedisClientWrapper

            redis = RedisClientWrapper(settings)
            shared = SharedEmbeddingCache(redis=redis)
        return cls(
            name,
            store=store,
            embedder=emb,
            chunker=chunker,
            cache=cache,
            shared=shared,
            redis=redis,
        )

    def __repr__(self) -> str:
        return f"KnowledgeBase({self.name!r}, store={self.store!r}, embedder={self.embedder!r})"

    def fingerprint(self, item: DataSourceContent) -> str:
        """Identifies a source's text together with how it is chunked and embedded."""
        h = hashlib.sha256()
        for part in (self.chunker.signature, self.embedder.model_id, item.content):
            h.update(part.encode())
            h.update(b"\x1f")
        return h.hexdigest()[:32]

    async def initialize(self) -> None:
        await self.store.initialize()

    async def close(self) -> None:
        await self.store.close()
        await self.embedder.aclose()
        if isinstance(self.embedder, CachedEmbedder):
            self.embedder.cache.close()
        if self._redis is not None:
            await self._redis.close()

    async def documents(self) -> list[Document]:
        """Every chunk in the knowledge base (without vectors)."""
        return await self.store.list_documents()

    async def sources(self) -> dict[str, int]:
        """Ingested sources and their chunk counts."""
        counts: dict[str, int] = {}
        for doc in await self.documents():
            src = str(doc.metadata.get("source"))
            counts[src] = counts.get(src, 0) + 1
        return counts

    # ------------------------------------------------------------------ ingestion
    async def ingest(
        self,
        items: Iterable[DataSourceContent],
        *,
        prune: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Add or refresh ``items``; with ``prune``, remove sources not among them."""
        await self.initialize()
        report = IngestReport(self.name)
        existing: dict[str, tuple[set[str], list[str]]] = {}
        for doc in await self.store.list_documents():
            src = str(doc.metadata.get("source"))
            fps, ids = existing.setdefault(src, (set(), []))
            fps.add(str(doc.metadata.get("fingerprint")))
            ids.append(doc.id)
        items = list(items)
        embedded_before = getattr(self.embedder, "embedded_texts", 0)
        async with self.store.batch():
            await self._ingest_items(items, existing, prune, report, progress)
        report.chunks_embedded = getattr(self.embedder, "embedded_texts", 0) - embedded_before
        if report.changed:
            self._retrievers.clear()
        logger.info("knowledge_base_ingested", kb=self.name, summary=report.summary())
        return report

    async def _ingest_items(
        self,
        items: list[DataSourceContent],
        existing: dict[str, tuple[set[str], list[str]]],
        prune: bool,
        report: IngestReport,
        progress: ProgressCallback | None,
    ) -> None:
        seen: set[str] = set()
        if progress is not None:
            progress(0, len(items), "")
        for done, item in enumerate(items, start=1):
            seen.add(item.source)
            fp = self.fingerprint(item)
            old = existing.get(item.source)
            if old is not None and old[0] == {fp}:
                report.sources_unchanged += 1
            else:
                written = await self._write(item, fp, old[1] if old else [], report)
                report.chunks_written += written
                if old is None:
                    report.sources_added += 1
                else:
                    report.sources_updated += 1
            if progress is not None:
                progress(done, len(items), item.name)
        if prune:
            stale = [src for src in existing if src not in seen]
            for src in stale:
                report.chunks_removed += await self.store.delete(existing[src][1])
            report.sources_removed = len(stale)

    async def _write(
        self, item: DataSourceContent, fp: str, old_ids: list[str], report: IngestReport
    ) -> int:
        meta = {
            k: v
            for k, v in (item.metadata or {}).items()
            if isinstance(v, str | int | float | bool) or v is None
        }
        meta.update(
            source=item.source,
            name=item.name,
            fingerprint=fp,
            embedding_model=self.embedder.model_id,
        )
        chunks = [c.to_document(item.source) for c in self.chunker.chunk(item.content, meta)]
        # embedded and stored a bounded batch at a time: a long source never holds the vectors
        # of all its chunks at once
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            if self.embedder.dimension:
                texts = [_embedding_text(c) for c in batch]
                vectors = await self.embedder.embed_documents(texts)
                for chunk, vector in zip(batch, vectors, strict=True):
                    chunk.embedding = vector
            await self.store.add_documents(batch)
            for chunk in batch:
                chunk.embedding = None  # the store has it
        new_ids = {c.id for c in chunks}
        stale = [i for i in old_ids if i not in new_ids]
        if stale:
            report.chunks_removed += await self.store.delete(stale)
        return len(chunks)

    async def ingest_sources(
        self,
        sources: Iterable[str],
        settings: Settings,
        *,
        base_dir: str | Path | None = None,
        prune: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Fetch source strings (paths, folders, globs, URLs, ``gitlab:…``) and ingest them.

        A source that cannot be fetched is recorded in ``failures``; with ``prune``, sources of
        a failed fetch are kept rather than removed.
        """
        from liteagent.datasources import provider_for_source

        items: list[DataSourceContent] = []
        failures: list[tuple[str, str]] = []
        for source in sources:
            provider, arg = provider_for_source(source, settings, base_dir=base_dir)
            try:
                items.extend(await provider.fetch_documents(arg))
            except LiteAgentError as exc:
                failures.append((source, exc.message))
                logger.warning(
                    "source_fetch_failed", kb=self.name, source=source, error=exc.message
                )
            finally:
                await provider.aclose()
        report = await self.ingest(items, prune=prune and not failures, progress=progress)
        report.failures = failures
        return report

    # ------------------------------------------------------------------ search
    async def retriever(
        self,
        strategy: str = "hybrid",
        *,
        vector_weight: float = DEFAULT_VECTOR_WEIGHT,
        rrf_k: int = DEFAULT_RRF_K,
    ) -> Retriever:
        """A retriever over the current contents (rebuilt after an ingestion changes them)."""
        key = (strategy, vector_weight, rrf_k)
        await self.initialize()
        now = time.monotonic()
        if now - self._checked_at >= REFRESH_SECONDS:
            # Another process (``liteagent ingest``) may have changed the store.
            self._checked_at = now
            if await self.store.refresh():
                logger.info("knowledge_base_reloaded", kb=self.name)
                self._retrievers.clear()
        if key in self._retrievers:
            return self._retrievers[key]
        docs = await self.store.list_documents()
        models = {str(d.metadata.get("embedding_model")) for d in docs}
        if docs and models != {self.embedder.model_id}:
            raise ConfigurationError(
                f"Knowledge base '{self.name}' was built with {', '.join(sorted(models))}, not "
                f"{self.embedder.model_id}: run `liteagent ingest {self.name}` to rebuild it."
            )
        kwargs: dict[str, Any] = {}
        if strategy == "hybrid":
            kwargs = {"vector_weight": vector_weight, "rrf_k": rrf_k}
        retriever = create_retriever(
            strategy,
            vector_store=self.store,
            embedder=self.embedder,
            documents=docs,
            **kwargs,
        )
        self._retrievers[key] = retriever
        return retriever
