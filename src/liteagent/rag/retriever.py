"""Retrievers: a query in, ranked passages out.

- ``VectorRetriever``: embeds the query and asks a vector store.
- ``BM25Retriever``: Okapi BM25 keyword ranking on a sparse in-memory index (``bm25s``).
- ``HybridRetriever``: reciprocal rank fusion of the two,
  ``score(d) = w / (rrf_k + rank_vector(d)) + (1 - w) / (rrf_k + rank_bm25(d))``.

The fusion defaults (``vector_weight`` and ``rrf_k``) were chosen on the retrieval evaluation
(``nox -s eval``, see ``docs/rag.md``).
"""

from __future__ import annotations

import asyncio
import re
import threading
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

from liteagent.errors import ConfigurationError, InvalidRequestError
from liteagent.log import get_logger
from liteagent.rag.embeddings import EmbeddingProvider
from liteagent.rag.ranking import top_k
from liteagent.rag.types import (
    Document,
    MetadataFilter,
    RetrievalResult,
    SearchResult,
    check_filter,
    matches_filter,
)
from liteagent.rag.vector_store import VectorStore
from liteagent.registry import ProviderRegistry

__all__ = [
    "DEFAULT_RRF_K",
    "DEFAULT_VECTOR_WEIGHT",
    "BM25Retriever",
    "HybridRetriever",
    "Retriever",
    "VectorRetriever",
    "create_retriever",
    "retriever_registry",
    "tokenize",
]

logger = get_logger(__name__)

DEFAULT_VECTOR_WEIGHT = 0.7
DEFAULT_RRF_K = 5
# Indexes larger than this are searched in a worker thread, off the event loop. Below it a query
# is one bincount over its terms' postings (under a millisecond at 100k passages), less than
# a hand-off to a thread costs on a busy machine; in a hybrid search it runs on the event loop
# while the vector side's matrix product runs in its worker thread.
_INLINE_ROWS = 200_000

_TOKEN = re.compile(r"[a-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    }
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers without English stop words; ``camelCase`` and
    ``snake_case`` identifiers also yield their parts."""
    tokens: list[str] = []
    for raw in _WORD.findall(text):
        if "_" not in raw and (raw.islower() or raw.isdigit()):
            # a plain lower-case word or number has no parts: the common case, kept fast
            if raw not in _STOPWORDS:
                tokens.append(raw)
            continue
        lowered = raw.lower()
        parts = _TOKEN.findall(_CAMEL.sub(" ", raw).lower())
        if lowered not in _STOPWORDS:
            tokens.append(lowered.strip("_") or lowered)
        if len(parts) > 1:
            tokens.extend(p for p in parts if p not in _STOPWORDS)
    return [t for t in tokens if t]


class Retriever(ABC):
    """Finds the passages that answer a query."""

    strategy: str = "base"

    @abstractmethod
    async def retrieve(
        self, query: str, limit: int = 10, filter: MetadataFilter | None = None
    ) -> RetrievalResult:
        """The ``limit`` best passages for ``query`` among those matching ``filter``."""


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidRequestError(f"limit must be at least 1 (got {limit}).")


class VectorRetriever(Retriever):
    """Nearest neighbours of the query's embedding in a vector store."""

    strategy = "vector"

    def __init__(self, vector_store: VectorStore, embedder: EmbeddingProvider) -> None:
        if embedder.dimension == 0:
            raise ConfigurationError("VectorRetriever needs an embedder that makes vectors.")
        self.vector_store = vector_store
        self.embedder = embedder

    async def retrieve(
        self, query: str, limit: int = 10, filter: MetadataFilter | None = None
    ) -> RetrievalResult:
        _check_limit(limit)
        vector = await self.embedder.embed_query(query)
        hits = await self.vector_store.search(vector, limit=limit, filter=filter)
        return RetrievalResult(documents=hits, query=query, strategy=self.strategy)


class BM25Retriever(Retriever):
    """Okapi BM25 keyword ranking over documents held in memory, on a sparse index (``bm25s``).

    Scores are those of ``rank_bm25.BM25Okapi`` with Lucene's always-positive idf,
    ``log(1 + (N - n + .5) / (n + .5))`` (the classic idf is zero or negative for a term in half
    the documents or more, which makes small knowledge bases unsearchable):
    ``idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg_len))`` summed over the
    query's terms. The index is ``bm25s``'s ``lucene`` method — the same formula without the
    constant ``k1 + 1``, which is multiplied back in so scores match — precomputed per
    (document, term) in a sparse column matrix; a query adds up its terms' columns with one
    ``np.bincount`` and picks the best rows with ``argpartition``. Ties are broken by document id.

    Adding or removing documents marks the index stale; it is rebuilt once, on the next query,
    however many batches were added in between (every score depends on the corpus size and the
    average length, so a change touches them all).

    Args:
        documents: Initial documents.
        k1: Term-frequency saturation.
        b: Length normalisation.
    """

    strategy = "bm25"

    def __init__(
        self, documents: list[Document] | None = None, k1: float = 1.5, b: float = 0.75
    ) -> None:
        self.k1 = k1
        self.b = b
        self._docs: dict[str, Document] = {}
        self._order: list[Document] = []
        self._ids: list[str] = []
        self._vocab: dict[str, int] = {}
        self._data: npt.NDArray[np.float64] = np.zeros(0)
        self._indices: npt.NDArray[np.int32] = np.zeros(0, np.int32)
        self._indptr: npt.NDArray[np.int64] = np.zeros(1, np.int64)
        self._stale = False
        self._lock = threading.Lock()
        if documents:
            self.add_documents(documents)

    def add_documents(self, documents: list[Document]) -> None:
        """Add (or replace, by id) documents; the index is rebuilt on the next query."""
        with self._lock:
            for doc in documents:
                self._docs[doc.id] = doc
            self._stale = True

    def remove_documents(self, document_ids: list[str]) -> None:
        """Forget documents by id; the index is rebuilt on the next query."""
        with self._lock:
            for doc_id in document_ids:
                self._docs.pop(doc_id, None)
            self._stale = True

    def _rebuild(self) -> None:
        import bm25s

        self._order = sorted(self._docs.values(), key=lambda d: d.id)
        self._ids = [d.id for d in self._order]
        self._stale = False
        if not self._order:
            self._vocab, self._data = {}, np.zeros(0)
            self._indices, self._indptr = np.zeros(0, np.int32), np.zeros(1, np.int64)
            return
        # An empty passage counts as one unmatchable token, as it does for rank_bm25.
        corpus = [tokenize(d.content) or ["\x00"] for d in self._order]
        index = bm25s.BM25(k1=self.k1, b=self.b, method="lucene", dtype="float64")
        index.index(corpus, show_progress=False)
        del corpus
        scores = index.scores
        self._vocab = index.vocab_dict
        self._data = np.asarray(scores["data"], dtype=np.float64) * (self.k1 + 1.0)
        self._indices = np.asarray(scores["indices"], dtype=np.int32)
        self._indptr = np.asarray(scores["indptr"], dtype=np.int64)
        logger.debug("bm25_index_built", documents=len(self._order), terms=len(self._vocab))

    def __len__(self) -> int:
        with self._lock:
            return len(self._docs)

    def scores(self, query: str) -> npt.NDArray[np.float64]:
        """The BM25 score of every document for ``query``, in document id order."""
        with self._lock:
            if self._stale:
                self._rebuild()
            return self._scores(tokenize(query))

    def _scores(self, terms: list[str]) -> npt.NDArray[np.float64]:
        ids = [self._vocab[t] for t in terms if t in self._vocab]
        if not ids:
            return np.zeros(len(self._order))
        spans = [(int(self._indptr[i]), int(self._indptr[i + 1])) for i in ids]
        rows = np.concatenate([self._indices[a:z] for a, z in spans])
        weights = np.concatenate([self._data[a:z] for a, z in spans])
        summed = np.bincount(rows, weights=weights, minlength=len(self._order))
        return summed.astype(np.float64, copy=False)

    def _search(self, query: str, limit: int, filter: MetadataFilter | None) -> list[SearchResult]:
        terms = tokenize(query)
        with self._lock:
            if self._stale:
                self._rebuild()
            if not self._order or not terms:
                return []
            order = self._order
            scores = self._scores(terms)
        keep = (lambda i: matches_filter(order[i].metadata, filter)) if filter else None
        # Documents are ordered by id, so ties in score are broken by id.
        best = top_k(scores, limit, keep=keep, positive_only=True)
        return [
            SearchResult(document=order[i], score=float(scores[i]), rank=r)
            for r, i in enumerate(best, start=1)
        ]

    async def retrieve(
        self, query: str, limit: int = 10, filter: MetadataFilter | None = None
    ) -> RetrievalResult:
        _check_limit(limit)
        check_filter(filter)
        if len(self._docs) > _INLINE_ROWS or self._stale:
            hits = await asyncio.to_thread(self._search, query, limit, filter)
        else:
            hits = self._search(query, limit, filter)
        return RetrievalResult(documents=hits, query=query, strategy=self.strategy)


class HybridRetriever(Retriever):
    """Reciprocal rank fusion of a vector and a BM25 retriever.

    Args:
        vector_retriever: Semantic side (optional: BM25 alone without it).
        bm25_retriever: Keyword side (optional: vector alone without it).
        vector_weight: Share of the vector side, 0.0-1.0; BM25 gets the rest.
        rrf_k: Damping constant; larger values flatten the advantage of top ranks.
        candidates: How many hits to fetch from each side (at least ``limit``).
    """

    strategy = "hybrid"

    def __init__(
        self,
        vector_retriever: VectorRetriever | None = None,
        bm25_retriever: BM25Retriever | None = None,
        vector_weight: float = DEFAULT_VECTOR_WEIGHT,
        rrf_k: int = DEFAULT_RRF_K,
        candidates: int = 50,
    ) -> None:
        if vector_retriever is None and bm25_retriever is None:
            raise ConfigurationError("HybridRetriever needs a vector or a BM25 retriever.")
        if not 0.0 <= vector_weight <= 1.0:
            raise ConfigurationError(f"vector_weight must be in [0, 1] (got {vector_weight}).")
        if rrf_k < 0:
            raise ConfigurationError(f"rrf_k cannot be negative (got {rrf_k}).")
        self.vector_retriever = vector_retriever
        self.bm25_retriever = bm25_retriever
        self.vector_weight = vector_weight
        self.rrf_k = rrf_k
        self.candidates = candidates

    async def retrieve(
        self, query: str, limit: int = 10, filter: MetadataFilter | None = None
    ) -> RetrievalResult:
        _check_limit(limit)
        depth = max(limit, self.candidates)
        sides: list[tuple[str, float, Retriever]] = []
        if self.vector_retriever is not None:
            sides.append(("vector", self.vector_weight, self.vector_retriever))
        if self.bm25_retriever is not None:
            sides.append(("bm25", 1.0 - self.vector_weight, self.bm25_retriever))
        if len(sides) == 1:
            result = await sides[0][2].retrieve(query, limit, filter)
            return RetrievalResult(result.documents, query, self.strategy, {"fused": [sides[0][0]]})
        results = await asyncio.gather(*(r.retrieve(query, depth, filter) for _, _, r in sides))
        fused: dict[str, float] = {}
        docs: dict[str, Document] = {}
        ranks: dict[str, dict[str, int]] = {}
        for (name, weight, _), result in zip(sides, results, strict=True):
            for hit in result.documents:
                doc_id = hit.document.id
                fused[doc_id] = fused.get(doc_id, 0.0) + weight / (self.rrf_k + hit.rank)
                docs.setdefault(doc_id, hit.document)
                ranks.setdefault(doc_id, {})[name] = hit.rank
        ordered = sorted(fused, key=lambda d: (-fused[d], d))[:limit]
        hits = [
            SearchResult(document=docs[d], score=fused[d], rank=i)
            for i, d in enumerate(ordered, start=1)
        ]
        return RetrievalResult(
            documents=hits,
            query=query,
            strategy=self.strategy,
            metadata={"ranks": {d: ranks[d] for d in ordered}, "fused": [s[0] for s in sides]},
        )


retriever_registry: ProviderRegistry[Retriever] = ProviderRegistry(
    "retriever", entry_point_group="liteagent.retrievers"
)
retriever_registry.register("vector")(VectorRetriever)
retriever_registry.register("bm25")(BM25Retriever)
retriever_registry.register("hybrid")(HybridRetriever)


def create_retriever(
    strategy: str = "hybrid",
    vector_store: VectorStore | None = None,
    embedder: EmbeddingProvider | None = None,
    documents: list[Document] | None = None,
    **kwargs: Any,
) -> Retriever:
    """Build a retriever.

    Args:
        strategy: ``hybrid`` (default), ``vector`` or ``bm25``.
        vector_store: Needed by ``vector`` and the vector side of ``hybrid``.
        embedder: Embeds queries for the vector side. Without one that makes vectors,
            ``hybrid`` falls back to BM25 alone.
        documents: The corpus for BM25.
        **kwargs: ``k1``/``b`` for BM25, ``vector_weight``/``rrf_k``/``candidates`` for hybrid.
    """
    bm25_kw = {k: kwargs.pop(k) for k in ("k1", "b") if k in kwargs}
    has_vectors = vector_store is not None and embedder is not None and embedder.dimension > 0
    if strategy == "vector":
        if not has_vectors:
            raise ConfigurationError(
                "The vector strategy needs a vector store and an embedder that makes vectors."
            )
        assert vector_store is not None and embedder is not None
        return VectorRetriever(vector_store, embedder)
    if strategy == "bm25":
        return BM25Retriever(documents or [], **bm25_kw)
    if strategy == "hybrid":
        vector = VectorRetriever(vector_store, embedder) if has_vectors else None  # type: ignore[arg-type]
        if vector is None:
            logger.info("hybrid_retriever_bm25_only", reason="no embedder with vectors")
        return HybridRetriever(vector, BM25Retriever(documents or [], **bm25_kw), **kwargs)
    factory = retriever_registry.get_class(strategy)
    return factory(vector_store=vector_store, embedder=embedder, documents=documents, **kwargs)  # type: ignore[call-arg]
