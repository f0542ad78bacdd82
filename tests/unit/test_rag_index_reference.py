"""The in-memory indexes against reference implementations on the same corpus.

BM25 is compared with ``rank_bm25.BM25Okapi`` (with Lucene's idf, which the retriever uses),
the vector store with a plain numpy cosine ranking. Rankings are compared with ties broken by
document id on both sides.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from liteagent.rag import (
    BM25Retriever,
    Document,
    HybridRetriever,
    InMemoryVectorStore,
    vector_store,
)
from liteagent.rag.retriever import VectorRetriever, tokenize
from liteagent.rag.testing import HashEmbedder

VOCAB = [f"term{i}" for i in range(1500)]
ZIPF = [1.0 / (i + 1) for i in range(len(VOCAB))]


def corpus(n: int, seed: int = 7) -> list[Document]:
    rng = random.Random(seed)
    docs = [
        Document(
            f"doc-{i:05d}",
            " ".join(rng.choices(VOCAB, ZIPF, k=rng.randint(0, 40))),
            metadata={"part": i % 3},
        )
        for i in range(n)
    ]
    rng.shuffle(docs)  # added out of id order
    return docs


def queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(VOCAB, ZIPF, k=rng.randint(1, 6))) for _ in range(n)]


class _LuceneOkapi(BM25Okapi):  # type: ignore[misc]
    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1.0 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


def reference_top(docs: list[Document], query: str, k: int, k1: float, b: float) -> list[str]:
    ordered = sorted(docs, key=lambda d: d.id)
    index = _LuceneOkapi([tokenize(d.content) or ["\x00"] for d in ordered], k1=k1, b=b)
    scores = index.get_scores(tokenize(query))
    hits = [i for i in range(len(ordered)) if scores[i] > 0]
    hits.sort(key=lambda i: (-scores[i], ordered[i].id))
    return [ordered[i].id for i in hits[:k]]


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (1.2, 0.3)])
async def test_bm25_top10_is_rank_bm25s(k1: float, b: float) -> None:
    docs = corpus(2000)
    retriever = BM25Retriever(docs, k1=k1, b=b)
    ordered = sorted(docs, key=lambda d: d.id)
    reference = _LuceneOkapi([tokenize(d.content) or ["\x00"] for d in ordered], k1=k1, b=b)
    same = 0
    asked = queries(100)
    for query in asked:
        scores = reference.get_scores(tokenize(query))
        # the scores themselves are rank_bm25's, not only the order
        np.testing.assert_allclose(retriever.scores(query), scores, rtol=1e-9, atol=1e-12)
        hits = sorted((i for i in range(len(ordered)) if scores[i] > 0), key=lambda i: -scores[i])
        expected = [ordered[i].id for i in hits[:10]]
        got = [h.document.id for h in (await retriever.retrieve(query, 10)).documents]
        same += got == expected
    assert same == len(asked)


async def test_bm25_incremental_adds_and_removals_match_a_fresh_index() -> None:
    docs = corpus(600)
    grown = BM25Retriever(docs[:200])
    for query in queries(5):  # searched between batches: the index is rebuilt lazily each time
        await grown.retrieve(query)
    grown.add_documents(docs[200:400])
    grown.add_documents(docs[400:])
    gone = [d.id for d in docs[:50]]
    grown.remove_documents(gone)
    remaining = docs[50:]
    assert len(grown) == len(remaining)
    for query in queries(30, seed=3):
        got = [h.document.id for h in (await grown.retrieve(query, 10)).documents]
        assert got == reference_top(remaining, query, 10, 1.5, 0.75)
        assert not set(got) & set(gone)


async def test_bm25_filter_keeps_the_best_matching_documents() -> None:
    docs = corpus(900)
    retriever = BM25Retriever(docs)
    ordered = sorted(docs, key=lambda d: d.id)
    reference = _LuceneOkapi([tokenize(d.content) or ["\x00"] for d in ordered])
    for query in queries(20, seed=5):
        scores = reference.get_scores(tokenize(query))  # the idf is the whole corpus's
        wanted = [i for i in range(len(ordered)) if ordered[i].metadata["part"] == 1]
        hits = sorted((i for i in wanted if scores[i] > 0), key=lambda i: -scores[i])
        result = await retriever.retrieve(query, 10, filter={"part": 1})
        assert [h.document.id for h in result.documents] == [ordered[i].id for i in hits[:10]]


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "worker-thread"])
async def test_vector_top_k_is_the_numpy_reference_and_get_returns_the_embedding(
    threaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if threaded:  # the path of a large store: scored in a worker thread, off the event loop
        monkeypatch.setattr(vector_store, "_INLINE_FLOATS", 0)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(700, 16)).astype(np.float32)
    vectors[5] = vectors[9]  # an exact tie: broken by id
    docs = [
        Document(f"v-{i:04d}", f"text {i}", vectors[i].tolist(), {"odd": i % 2 == 1})
        for i in range(700)
    ]
    store = InMemoryVectorStore(16)
    for start in range(0, 700, 128):  # grows the matrix several times
        await store.add_documents(docs[start : start + 128])
    await store.delete(["v-0001", "v-0002"])  # rows move: the last ones fill the holes
    kept = [i for i in range(700) if i not in (1, 2)]
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for q in rng.normal(size=(20, 16)).astype(np.float32):
        sims = normalised @ (q / np.linalg.norm(q))
        expected = sorted(kept, key=lambda i: (-float(sims[i]), f"v-{i:04d}"))[:10]
        hits = await store.search(q.tolist(), 10)
        assert [h.document.id for h in hits] == [f"v-{i:04d}" for i in expected]
        odd = await store.search(q.tolist(), 5, filter={"odd": True})
        ranked = sorted(kept, key=lambda i: (-float(sims[i]), i))
        assert [h.document.id for h in odd] == [f"v-{i:04d}" for i in ranked if i % 2][:5]
    got = await store.get("v-0003")
    assert got is not None and got.embedding is not None
    np.testing.assert_allclose(got.embedding, vectors[3], rtol=1e-5, atol=1e-6)
    assert (await store.get("v-0001")) is None and len(store) == 698
    tie = await store.search(vectors[5].tolist(), 2)
    assert [h.document.id for h in tie] == ["v-0005", "v-0009"]


async def test_hybrid_fuses_the_two_sides_top_candidates() -> None:
    emb = HashEmbedder(dimension=64)
    docs = corpus(300)
    vectors = await emb.embed_documents([d.content for d in docs])
    store = InMemoryVectorStore(64)
    await store.add_documents(
        [Document(d.id, d.content, v, d.metadata) for d, v in zip(docs, vectors, strict=True)]
    )
    bm25 = BM25Retriever(docs)
    vector = VectorRetriever(store, emb)
    hybrid = HybridRetriever(vector, bm25, vector_weight=0.6, rrf_k=5, candidates=20)
    for query in queries(10, seed=9):
        v = (await vector.retrieve(query, 20)).documents
        k = (await bm25.retrieve(query, 20)).documents
        fused: dict[str, float] = {}
        for weight, hits in ((0.6, v), (0.4, k)):
            for h in hits:
                fused[h.document.id] = fused.get(h.document.id, 0.0) + weight / (5 + h.rank)
        expected = sorted(fused, key=lambda d: (-fused[d], d))[:10]
        got = await hybrid.retrieve(query, 10)
        assert [h.document.id for h in got.documents] == expected
