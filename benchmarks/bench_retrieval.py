"""Retrieval at scale: LiteAgent's BM25, vector and hybrid search beside reference libraries.

Run: ``uv run python benchmarks/bench_retrieval.py [--sizes 10000,100000] [--queries 200]``.

The corpus is synthetic: chunks of 40-120 words drawn from a Zipf-distributed vocabulary of
50,000 words, with random 384-dimensional vectors (the size of all-MiniLM-L6-v2's); queries are
2-5 words from the same distribution. Measured side by side in one run, on the same corpus:

- BM25: ``BM25Retriever.retrieve`` against ``bm25s`` used directly (``get_scores`` +
  ``argpartition``; same scoring variant) and, at the smallest size, ``rank_bm25`` (what
  LiteAgent used before; too slow to query 200 times at 100k).
- vectors: ``InMemoryVectorStore.search`` against one numpy matmul + ``argpartition`` over a
  normalised float32 matrix.
- hybrid: ``HybridRetriever`` (both sides, RRF over 50 candidates each) against the sum of the
  two references.
- memory: what building each index adds to the traced Python heap (``tracemalloc``), against
  the raw float32 vectors and ``bm25s``'s own index.

Query embeddings are precomputed (the embedder's time is not retrieval's). Results go to
``benchmarks/results/retrieval.{md,csv}``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _report import bar_chart, percentiles, write

from liteagent.rag import BM25Retriever, Document, HybridRetriever, InMemoryVectorStore
from liteagent.rag.embeddings import EmbeddingProvider, EmbeddingResult
from liteagent.rag.retriever import VectorRetriever, tokenize

DIM = 384
VOCAB = 50_000


class LookupEmbedder(EmbeddingProvider):
    """Returns the precomputed vector of each benchmark query."""

    provider_name = "lookup"

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    @property
    def dimension(self) -> int:
        return DIM

    @property
    def model_name(self) -> str:
        return "lookup"

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        return EmbeddingResult(embeddings=[self.vectors[t] for t in texts], model="lookup")


def make_corpus(n: int, queries: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, VOCAB + 1) ** 1.07
    weights /= weights.sum()
    words = np.array([f"w{i}" for i in range(VOCAB)])
    lengths = rng.integers(40, 121, size=n)
    draws = words[rng.choice(VOCAB, size=int(lengths.sum()), p=weights)]
    texts, at = [], 0
    for length in lengths:
        texts.append(" ".join(draws[at : at + length]))
        at += length
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    asked = [
        " ".join(words[rng.choice(VOCAB, size=int(rng.integers(2, 6)), p=weights)])
        for _ in range(queries)
    ]
    return texts, vectors, asked


def traced(build: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, MB retained, MB peak) of ``build()`` on the traced heap."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    gc.collect()
    now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, (now - before) / 1e6, (peak - before) / 1e6


def timed(
    call: Callable[[str], Any], queries: list[str], other: Callable[[str], Any] | None = None
) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50/p95 ms of ``call`` (and of ``other``) over ``queries``; with ``other``, the two
    alternate query by query, so both see the same load on a shared machine."""
    calls = [call] if other is None else [call, other]
    for q in queries[:5]:
        for c in calls:
            c(q)
    samples: list[list[float]] = [[] for _ in calls]
    for q in queries:
        for c, out in zip(calls, samples, strict=True):
            start = time.perf_counter()
            c(q)
            out.append((time.perf_counter() - start) * 1e3)
    first = percentiles(samples[0])
    return first, percentiles(samples[-1])


def bm25s_reference(tokens: list[list[str]]) -> Any:
    import bm25s

    index = bm25s.BM25(k1=1.5, b=0.75, method="lucene", dtype="float32")
    index.index(tokens, show_progress=False)
    return index


def top10(scores: np.ndarray) -> np.ndarray:
    best = np.argpartition(-scores, 10)[:10]
    return best[np.argsort(-scores[best])]


async def _build_store(docs: list[Document], vectors: np.ndarray) -> InMemoryVectorStore:
    store = InMemoryVectorStore(DIM)
    for start in range(0, len(docs), 5000):  # ingestion adds in batches
        batch = [
            Document(d.id, d.content, vectors[start + i].tolist(), d.metadata)
            for i, d in enumerate(docs[start : start + 5000])
        ]
        await store.add_documents(batch)
    return store


def run_size(n: int, queries: int, loop: asyncio.AbstractEventLoop) -> list[list[Any]]:
    started = time.perf_counter()
    texts, vectors, asked = make_corpus(n, queries)
    docs = [Document(f"c{i:07d}", t) for i, t in enumerate(texts)]
    print(f"{n:,} chunks: corpus made in {time.perf_counter() - started:.1f} s", flush=True)

    # --- BM25
    def build_ours() -> BM25Retriever:
        retriever = BM25Retriever(docs)
        retriever.scores("warm")  # the index is built lazily: build it here
        return retriever

    t0 = time.perf_counter()
    bm25, bm25_mb, bm25_peak = traced(build_ours)
    ours_build = time.perf_counter() - t0
    tokens = [tokenize(t) for t in texts]
    t0 = time.perf_counter()
    ref, ref_mb, ref_peak = traced(partial(bm25s_reference, tokens))
    ref_build = time.perf_counter() - t0
    del tokens
    rows: list[list[Any]] = []

    def ours_bm25(q: str) -> Any:
        return loop.run_until_complete(bm25.retrieve(q, 10))

    def ref_bm25(q: str) -> Any:
        ids = ref.get_tokens_ids(tokenize(q))
        return top10(ref.get_scores(ids) if ids else np.zeros(n, np.float32))

    p_ours, p_ref = timed(ours_bm25, asked, ref_bm25)
    rows.append(
        [n, "BM25 query p50 / p95 (ms)", f"{p_ours[0]:.2f} / {p_ours[1]:.2f}",
         "bm25s", f"{p_ref[0]:.2f} / {p_ref[1]:.2f}", f"{p_ours[1] / p_ref[1]:.2f}"]
    )  # fmt: skip
    rows.append(
        [n, "BM25 index memory (MB; build peak)", f"{bm25_mb:.0f} ({bm25_peak:.0f})",
         "bm25s", f"{ref_mb:.0f} ({ref_peak:.0f})", f"{bm25_mb / ref_mb:.2f}"]
    )  # fmt: skip
    rows.append(
        [n, "BM25 index build (s)", f"{ours_build:.1f}", "bm25s (pre-tokenised)",
         f"{ref_build:.1f}", f"{ours_build / max(ref_build, 1e-9):.2f}"]
    )  # fmt: skip
    if n <= 10_000:
        from rank_bm25 import BM25Okapi

        okapi = BM25Okapi([tokenize(t) or ["\x00"] for t in texts])
        _, p_rank = timed(
            ours_bm25, asked, lambda q: top10(np.asarray(okapi.get_scores(tokenize(q))))
        )
        rows.append(
            [n, "BM25 query p50 / p95 (ms)", f"{p_ours[0]:.2f} / {p_ours[1]:.2f}",
             "rank-bm25", f"{p_rank[0]:.2f} / {p_rank[1]:.2f}", f"{p_ours[1] / p_rank[1]:.3f}"]
        )  # fmt: skip
        del okapi

    # --- vectors
    store, store_mb, store_peak = traced(
        lambda: loop.run_until_complete(_build_store(docs, vectors))
    )
    raw_mb = vectors.nbytes / 1e6
    matrix = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    rng = np.random.default_rng(1)
    query_vectors = {q: rng.standard_normal(DIM, dtype=np.float32).tolist() for q in asked}

    def ours_vector(q: str) -> Any:
        return loop.run_until_complete(store.search(query_vectors[q], 10))

    def ref_vector(q: str) -> Any:
        v = np.asarray(query_vectors[q], dtype=np.float32)
        return top10(matrix @ (v / np.linalg.norm(v)))

    v_ours, v_ref = timed(ours_vector, asked, ref_vector)
    rows.append(
        [n, "vector query p50 / p95 (ms)", f"{v_ours[0]:.2f} / {v_ours[1]:.2f}",
         "numpy matmul + argpartition", f"{v_ref[0]:.2f} / {v_ref[1]:.2f}",
         f"{v_ours[1] / v_ref[1]:.2f}"]
    )  # fmt: skip

    # --- hybrid
    embedder = LookupEmbedder(query_vectors)
    hybrid = HybridRetriever(VectorRetriever(store, embedder), bm25)

    def ours_hybrid(q: str) -> Any:
        return loop.run_until_complete(hybrid.retrieve(q, 10))

    def ref_hybrid(q: str) -> Any:  # both references, one after the other
        return ref_bm25(q), ref_vector(q)

    h_ours, ref_sum = timed(ours_hybrid, asked, ref_hybrid)
    rows.append(
        [n, "hybrid query p50 / p95 (ms)", f"{h_ours[0]:.2f} / {h_ours[1]:.2f}",
         "bm25s then numpy", f"{ref_sum[0]:.2f} / {ref_sum[1]:.2f}",
         f"{h_ours[1] / ref_sum[1]:.2f}"]
    )  # fmt: skip
    rows.append(
        [n, "hybrid index memory (MB)", f"{store_mb + bm25_mb:.0f}",
         "raw float32 vectors + bm25s index", f"{raw_mb + ref_mb:.0f}",
         f"{(store_mb + bm25_mb) / (raw_mb + ref_mb):.2f}"]
    )  # fmt: skip
    rows.append(
        [n, "vector store memory (MB; build peak)", f"{store_mb:.0f} ({store_peak:.0f})",
         "raw float32 vectors", f"{raw_mb:.0f}", f"{store_mb / raw_mb:.2f}"]
    )  # fmt: skip
    print(f"{n:,} chunks measured in {time.perf_counter() - started:.1f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args, _ = parser.parse_known_args()
    loop = asyncio.new_event_loop()
    rows: list[list[Any]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows += run_size(n, args.queries, loop)
        gc.collect()
    loop.close()
    header = ["chunks", "measure", "LiteAgent", "reference", "reference value", "ratio"]
    notes = f"""
{args.queries} queries of 2-5 words, Zipf vocabulary of {VOCAB:,} words, {DIM}-dim vectors.
The ratio is LiteAgent / reference (p95 for latencies): below 1 is better than the reference.
Memory is what building the index adds to the traced Python heap (documents excluded).
Goals at 100k (issue 16): BM25 p95 <= 5 ms, hybrid p95 <= 30 ms, vector p95 <= 2x numpy,
BM25 index <= 300 MB, hybrid index <= 1.5x (raw vectors + BM25).
"""
    write("retrieval", "Retrieval: LiteAgent vs reference libraries", header, rows, notes)
    latency = [r for r in rows if "p50 / p95" in r[1]]
    bar_chart(
        "retrieval",
        "p95 latency ratio (LiteAgent / reference)",
        [f"{r[0]:,} {r[1].split(' query')[0]} vs {r[3]}" for r in latency],
        [float(r[5]) for r in latency],
        "ratio",
    )


if __name__ == "__main__":
    main()
