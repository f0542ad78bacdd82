"""Vector store, retrievers and fusion, driven with the deterministic HashEmbedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from liteagent.errors import ConfigurationError, InvalidRequestError
from liteagent.rag import (
    BM25Retriever,
    Document,
    HybridRetriever,
    InMemoryVectorStore,
    RAGPipelineBuilder,
    SearchResult,
    VectorRetriever,
    create_retriever,
)
from liteagent.rag.retriever import tokenize
from liteagent.rag.testing import HashEmbedder
from liteagent.rag.types import RetrievalResult

CORPUS = {
    "cats": "Cats are small domesticated felines that purr and hunt mice.",
    "dogs": "Dogs are loyal companions; they bark, fetch sticks and guard houses.",
    "pgvector": "pgvector adds vector similarity search to PostgreSQL with HNSW indexes.",
    "bm25": "BM25 ranks documents by term frequency and inverse document frequency.",
    "proxy": "The LiteLLM proxy routes chat completions to many model providers.",
}


async def _store(emb: HashEmbedder, path: Path | None = None) -> InMemoryVectorStore:
    store = InMemoryVectorStore(emb.dimension, persist_path=path)
    vectors = await emb.embed_documents(list(CORPUS.values()))
    await store.add_documents(
        [
            Document(k, v, vec, {"topic": "animals" if k in ("cats", "dogs") else "tech"})
            for (k, v), vec in zip(CORPUS.items(), vectors, strict=True)
        ]
    )
    return store


async def test_vector_search_ranks_by_cosine_and_filters() -> None:
    emb = HashEmbedder()
    store = await _store(emb)
    hits = await store.search(await emb.embed_query("vector similarity search PostgreSQL"), 3)
    assert hits[0].document.id == "pgvector" and hits[0].rank == 1
    assert hits[0].score >= hits[1].score >= hits[2].score
    animals = await store.search(await emb.embed_query("PostgreSQL"), 5, {"topic": "animals"})
    assert {h.document.id for h in animals} == {"cats", "dogs"}
    some = await store.search(await emb.embed_query("x"), 5, {"topic": {"$in": ["tech"]}})
    assert {h.document.id for h in some} == {"pgvector", "bm25", "proxy"}
    not_tech = await store.list_documents({"topic": {"$ne": "tech"}})
    assert [d.id for d in not_tech] == ["cats", "dogs"]


async def test_store_checks_dimensions_and_filters() -> None:
    store = InMemoryVectorStore(8)
    with pytest.raises(ConfigurationError, match="4-dimensional embedding"):
        await store.add_documents([Document("a", "x", [0.0] * 4)])
    with pytest.raises(ConfigurationError, match="query embedding has 3"):
        await store.search([1.0, 0.0, 0.0])
    with pytest.raises(InvalidRequestError, match=r"\$gt"):
        await store.search([1.0] * 8, filter={"k": {"$gt": 1}})


async def test_store_persists_and_reloads(tmp_path: Path) -> None:
    emb = HashEmbedder()
    store = await _store(emb, tmp_path / "kb")
    assert await store.delete(["dogs", "nope"]) == 1
    again = InMemoryVectorStore(emb.dimension, persist_path=tmp_path / "kb")
    assert await again.count() == 4
    doc = await again.get("cats")
    assert doc is not None and doc.embedding is not None and len(doc.embedding) == emb.dimension
    hits = await again.search(await emb.embed_query("purr mice"), 1)
    assert hits[0].document.id == "cats"
    with pytest.raises(ConfigurationError, match="holds 64-dimensional"):
        await InMemoryVectorStore(32, persist_path=tmp_path / "kb").initialize()


def test_tokenize_splits_identifiers_and_drops_stop_words() -> None:
    assert tokenize("The create_chunker of HybridRetriever") == [
        "create_chunker", "create", "chunker", "hybridretriever", "hybrid", "retriever"
    ]  # fmt: skip


async def test_bm25_keyword_ranking_with_filter() -> None:
    docs = [Document(k, v, metadata={"n": i}) for i, (k, v) in enumerate(CORPUS.items())]
    bm25 = BM25Retriever(docs)
    result = await bm25.retrieve("inverse document frequency", limit=3)
    assert result.strategy == "bm25" and result.documents[0].document.id == "bm25"
    assert (await bm25.retrieve("zebra unicorn")).documents == []
    filtered = await bm25.retrieve("bark purr", filter={"n": 1})
    assert [h.document.id for h in filtered.documents] == ["dogs"]


class _Fixed(VectorRetriever):
    """A retriever with a fixed ranking, to check the fusion arithmetic."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    async def retrieve(self, query, limit=10, filter=None):  # type: ignore[override]
        hits = [SearchResult(Document(i, i), 1.0, r) for r, i in enumerate(self.ids, 1)]
        return RetrievalResult(hits[:limit], query, "fixed")


async def test_rrf_fuses_ranks_with_weights() -> None:
    bm25 = BM25Retriever([Document(i, f"term {i}") for i in "abcd"])
    hybrid = HybridRetriever(_Fixed(["a", "b", "c"]), bm25, vector_weight=0.5, rrf_k=0)
    # BM25 for "d": only d matches.
    result = await hybrid.retrieve("d", limit=4)
    scores = {h.document.id: h.score for h in result.documents}
    assert scores["a"] == pytest.approx(0.5 / 1)
    assert scores["d"] == pytest.approx(0.5 / 1)
    assert scores["b"] == pytest.approx(0.5 / 2)
    assert [h.document.id for h in result.documents][:2] == ["a", "d"]  # tie broken by id
    heavy_vector = HybridRetriever(_Fixed(["b", "a"]), bm25, vector_weight=0.9, rrf_k=60)
    top = (await heavy_vector.retrieve("d", limit=1)).documents[0]
    assert top.document.id == "b"


async def test_hybrid_combines_both_signals() -> None:
    emb = HashEmbedder()
    store = await _store(emb)
    docs = await store.list_documents()
    hybrid = create_retriever("hybrid", vector_store=store, embedder=emb, documents=docs)
    result = await hybrid.retrieve("HNSW indexes PostgreSQL", limit=2)
    assert result.documents[0].document.id == "pgvector"
    assert result.metadata["fused"] == ["vector", "bm25"]


async def test_pipeline_builder_embeds_and_builds() -> None:
    emb = HashEmbedder()
    docs = [Document(k, v) for k, v in CORPUS.items()]
    retriever = await RAGPipelineBuilder().with_embedder(emb).with_documents(docs).build_retriever()
    assert emb.texts_embedded == len(CORPUS)
    top = (await retriever.retrieve("loyal companions bark")).documents[0]
    assert top.document.id == "dogs"
    bm25_only = await RAGPipelineBuilder().with_documents(docs).build_retriever("bm25")
    assert (await bm25_only.retrieve("purr")).documents[0].document.id == "cats"


async def test_vector_strategy_requires_vectors() -> None:
    with pytest.raises(ConfigurationError, match="vector strategy"):
        create_retriever("vector", documents=[])
