"""The RAG pipeline: chunkers, embedders, vector stores, retrievers, knowledge bases and
answers with citations.

Heavy parts load lazily: the local embedder needs the ``embeddings`` extra, ``PgVectorStore``
(``liteagent.rag.pgvector``) the ``pgvector`` extra.
"""

from liteagent.rag.answer import (
    AnswerDelta,
    AnswerEvent,
    AnswerFinished,
    AnswerUsage,
    CitationFilter,
    CitedSource,
    RagAnswer,
    RagAnswerer,
    SourcesFound,
    extractive_answer,
    group_sources,
    openwebui_source_event,
    sources_markdown,
)
from liteagent.rag.cache import CachedEmbedder, EmbeddingCache
from liteagent.rag.chunker import (
    Chunk,
    FixedSizeChunker,
    RecursiveChunker,
    SemanticChunker,
    TextChunker,
    chunker_registry,
    create_chunker,
)
from liteagent.rag.embeddings import (
    NEMOTRON_1B,
    EmbeddingProvider,
    EmbeddingResult,
    NemotronEmbedder,
    NoEmbedder,
    OpenAIEmbedder,
    create_embedder,
    embedding_registry,
)
from liteagent.rag.knowledge import IngestReport, KnowledgeBase
from liteagent.rag.pipeline import RAGPipelineBuilder
from liteagent.rag.retriever import (
    BM25Retriever,
    HybridRetriever,
    Retriever,
    VectorRetriever,
    create_retriever,
    retriever_registry,
)
from liteagent.rag.types import Document, RetrievalResult, SearchResult
from liteagent.rag.vector_store import InMemoryVectorStore, VectorStore, vector_store_registry

__all__ = [
    "NEMOTRON_1B",
    "AnswerDelta",
    "AnswerEvent",
    "AnswerFinished",
    "AnswerUsage",
    "BM25Retriever",
    "CachedEmbedder",
    "Chunk",
    "CitationFilter",
    "CitedSource",
    "Document",
    "EmbeddingCache",
    "EmbeddingProvider",
    "EmbeddingResult",
    "FixedSizeChunker",
    "HybridRetriever",
    "InMemoryVectorStore",
    "IngestReport",
    "KnowledgeBase",
    "NemotronEmbedder",
    "NoEmbedder",
    "OpenAIEmbedder",
    "RAGPipelineBuilder",
    "RagAnswer",
    "RagAnswerer",
    "RecursiveChunker",
    "RetrievalResult",
    "Retriever",
    "SearchResult",
    "SemanticChunker",
    "SourcesFound",
    "TextChunker",
    "VectorRetriever",
    "VectorStore",
    "chunker_registry",
    "create_chunker",
    "create_embedder",
    "create_retriever",
    "embedding_registry",
    "extractive_answer",
    "group_sources",
    "openwebui_source_event",
    "retriever_registry",
    "sources_markdown",
    "vector_store_registry",
]
