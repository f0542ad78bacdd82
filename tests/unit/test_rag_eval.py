"""The retrieval evaluation: metrics, the stdlib corpus, and hybrid >= max(bm25, vector)."""

from __future__ import annotations

import math

import pytest

from liteagent.rag import BM25Retriever, HybridRetriever, InMemoryVectorStore, VectorRetriever
from liteagent.rag.evaluation import evaluate, ndcg_at_k, recall_at_k, stdlib_corpus
from liteagent.rag.local_embedder import MiniLMEmbedder


def test_metrics() -> None:
    assert recall_at_k(["a", "b", "c"], {"c"}, 2) == 0.0
    assert recall_at_k(["a", "b", "c"], {"c", "a"}, 3) == 1.0
    assert ndcg_at_k(["x", "a"], {"a"}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["a", "x"], {"a"}, 10) == 1.0
    assert ndcg_at_k(["x"] * 10 + ["a"], {"a"}, 10) == 0.0


def test_stdlib_corpus_is_deterministic_and_labelled() -> None:
    docs, queries = stdlib_corpus(300, 100)
    again, _ = stdlib_corpus(300, 100)
    assert [d.id for d in docs] == [d.id for d in again]
    assert len(docs) == 300 and len(queries) == 100
    ids = {d.id for d in docs}
    for q in queries:
        (target,) = q.relevant
        assert target in ids
        # The query (summary line) is not copied into its passage.
        passage = next(d.content for d in docs if d.id == target)
        assert q.text not in passage


async def test_hybrid_is_not_worse_than_either_retriever_on_a_slice() -> None:
    docs, queries = stdlib_corpus(150, 150)
    embedder = MiniLMEmbedder()
    vectors = await embedder.embed_documents([d.content for d in docs])
    for doc, vec in zip(docs, vectors, strict=True):
        doc.embedding = vec
    store = InMemoryVectorStore(384)
    await store.add_documents(docs)
    vector = VectorRetriever(store, embedder)
    bm25 = BM25Retriever(docs)
    results = {
        "bm25": await evaluate("bm25", bm25, queries),
        "vector": await evaluate("vector", vector, queries),
        "hybrid": await evaluate("hybrid", HybridRetriever(vector, bm25), queries),
    }
    hybrid = results["hybrid"]
    best_recall = max(results["bm25"].recall_at_5, results["vector"].recall_at_5)
    best_ndcg = max(results["bm25"].ndcg_at_10, results["vector"].ndcg_at_10)
    assert hybrid.recall_at_5 >= best_recall, results
    assert hybrid.ndcg_at_10 >= best_ndcg, results
    assert results["vector"].recall_at_5 > 0.8 and results["bm25"].recall_at_5 > 0.8
