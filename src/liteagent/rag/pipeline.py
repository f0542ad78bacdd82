"""``RAGPipelineBuilder``: embedder + vector store + documents → a retriever."""

from __future__ import annotations

from typing import Any

from liteagent.rag.embeddings import EmbeddingProvider, NoEmbedder, create_embedder
from liteagent.rag.retriever import Retriever, create_retriever
from liteagent.rag.types import Document
from liteagent.rag.vector_store import InMemoryVectorStore, VectorStore

__all__ = ["RAGPipelineBuilder"]


class RAGPipelineBuilder:
    """Fluent set-up of a retriever.

    Example:
        >>> retriever = await (RAGPipelineBuilder()
        ...     .with_embedder(create_embedder("local"))
        ...     .with_documents(docs)
        ...     .build_retriever("hybrid"))

    Defaults: the local embedder and an in-memory store of its dimension. Documents without an
    embedding are embedded when the retriever is built.
    """

    def __init__(self) -> None:
        self._embedder: EmbeddingProvider | None = None
        self._store: VectorStore | None = None
        self._documents: list[Document] = []
        self._options: dict[str, Any] = {}

    def with_embedder(self, embedder: EmbeddingProvider | str) -> RAGPipelineBuilder:
        """Use ``embedder`` (an instance or a ``create_embedder`` name)."""
        self._embedder = create_embedder(embedder) if isinstance(embedder, str) else embedder
        return self

    def with_vector_store(self, vector_store: VectorStore) -> RAGPipelineBuilder:
        """Store vectors in ``vector_store`` (default: in memory)."""
        self._store = vector_store
        return self

    def with_documents(self, documents: list[Document]) -> RAGPipelineBuilder:
        """Add documents to index."""
        self._documents.extend(documents)
        return self

    def with_options(self, **options: Any) -> RAGPipelineBuilder:
        """Retriever options: ``vector_weight``, ``rrf_k``, ``k1``, ``b``…"""
        self._options.update(options)
        return self

    async def build_retriever(self, strategy: str = "hybrid") -> Retriever:
        """Embed what needs embedding, fill the store and build the retriever."""
        embedder = self._embedder or create_embedder("local")
        if strategy == "bm25":
            embedder = NoEmbedder()
        store = self._store or InMemoryVectorStore(embedder.dimension)
        if embedder.dimension and self._documents:
            todo = [d for d in self._documents if d.embedding is None]
            if todo:
                vectors = await embedder.embed_documents([d.content for d in todo])
                for doc, vector in zip(todo, vectors, strict=True):
                    doc.embedding = vector
            await store.initialize()
            await store.add_documents(self._documents)
        return create_retriever(
            strategy,
            vector_store=store if embedder.dimension else None,
            embedder=embedder,
            documents=list(self._documents),
            **self._options,
        )
