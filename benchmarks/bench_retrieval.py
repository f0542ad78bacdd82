"""Retrieval at scale: LiteAgent's BM25, vector and hybrid search beside reference libraries.

Run: ``uv run python benchmarks/bench_retrieval.py [--sizes 10000,100000] [--queries 200]
[--quick]``.

The corpus is synthetic: chunks of 40-120 words drawn from a Zipf-distributed vocabulary of
50,000 words, with random 384-dimensional vectors (the size of all-MiniLM-L6-v2's); queries are
2-5 words from the same distribution. Measured side by side in one run, on the same corpus:

- BM25: ``BM25Retriever.retrieve`` against ``bm25s`` used directly (``get_scores`` +
  ``argpartition``; same scoring variant) and ``rank_bm25`` (what LiteAgent used before; at
  sizes above 10k it is asked 20 queries only, each takes a third of a second, and skipped
  with ``--quick``).
- vectors: ``InMemoryVectorStore.search`` against one numpy matmul + ``argpartition`` over a
  normalised float32 matrix.
- hybrid: ``HybridRetriever`` (both sides, RRF over 50 candidates each) against the sum of the
  two references.
- memory: what building each index adds to the traced Python heap (``tracemalloc``), against
  the raw float32 vectors and ``bm25s``'s own index.

Query embeddings are precomputed (the embedder's time is not retrieval's). Results go to
``benchmarks/results/retrieval.{md,csv,json,png}``.
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
from _report import RESULTS, percentiles, save_summary, write

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


def run_size(n: int, queries: int, loop: asyncio.AbstractEventLoop, quick: bool) -> list[list[Any]]:
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
    if n <= 10_000 or not quick:
        from rank_bm25 import BM25Okapi

        okapi = BM25Okapi([tokenize(t) or ["\x00"] for t in texts])
        _, p_rank = timed(
            ours_bm25,
            asked if n <= 10_000 else asked[:20],
            lambda q: top10(np.asarray(okapi.get_scores(tokenize(q)))),
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
    parser.add_argument("--quick", action="store_true", help="100 queries; rank-bm25 at 10k only")
    args, _ = parser.parse_known_args()
    if args.quick:
        args.queries = min(args.queries, 100)
    loop = asyncio.new_event_loop()
    rows: list[list[Any]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows += run_size(n, args.queries, loop, args.quick)
        gc.collect()
    loop.close()
    header = ["chunks", "measure", "LiteAgent", "reference", "reference value", "ratio"]
    notes = f"""
{args.queries} queries of 2-5 words, Zipf vocabulary of {VOCAB:,} words, {DIM}-dim vectors.
The ratio is LiteAgent / reference (p95 for latencies): below 1 is better than the reference.
Memory is what building the index adds to the traced Python heap (documents excluded).
rank-bm25 above 10k chunks is asked the first 20 queries only (LiteAgent's figures in that row
are over all of them). LiteAgent's hybrid runs both sides at once; the reference runs bm25s
then numpy, one after the other.
Goals at 100k (issue 16): BM25 p95 <= 5 ms, hybrid p95 <= 30 ms, vector p95 <= 2x numpy,
BM25 index <= 300 MB, hybrid index <= 1.5x (raw vectors + BM25).
"""
    write("retrieval", "P3: retrieval, LiteAgent vs reference libraries", header, rows, notes)
    save_summary("retrieval", _summary(rows))
    _chart(rows)


def _p95(cell: str) -> float:
    return float(cell.split(" / ")[1])


def _summary(rows: list[list[Any]]) -> list[dict[str, Any]]:
    largest = max(r[0] for r in rows)
    at = {(r[1], r[3]): r for r in rows if r[0] == largest}
    out: list[dict[str, Any]] = []

    def add(
        measure: str, value: float, reference: float, ratio: float, goal: str, met: Any
    ) -> None:
        out.append({"part": "P3", "measure": f"{measure} at {largest:,} chunks", "value": value,
                    "reference": reference, "ratio": ratio, "goal": goal, "met": met})  # fmt: skip

    bm25 = at["BM25 query p50 / p95 (ms)", "bm25s"]
    add("BM25 p95 (ms) vs bm25s", _p95(bm25[2]), _p95(bm25[4]), float(bm25[5]), "<= 5 ms",
        _p95(bm25[2]) <= 5)  # fmt: skip
    rank = at.get(("BM25 query p50 / p95 (ms)", "rank-bm25"))
    if rank is not None:
        add("BM25 p95 (ms) vs rank-bm25", _p95(rank[2]), _p95(rank[4]), float(rank[5]), "", None)
    vector = at["vector query p50 / p95 (ms)", "numpy matmul + argpartition"]
    add("vector p95 (ms) vs numpy", _p95(vector[2]), _p95(vector[4]), float(vector[5]),
        "<= 2x numpy", float(vector[5]) <= 2)  # fmt: skip
    hybrid = at["hybrid query p50 / p95 (ms)", "bm25s then numpy"]
    add("hybrid p95 (ms) vs bm25s then numpy", _p95(hybrid[2]), _p95(hybrid[4]),
        float(hybrid[5]), "<= 30 ms", _p95(hybrid[2]) <= 30)  # fmt: skip
    memory = at["BM25 index memory (MB; build peak)", "bm25s"]
    kept = float(memory[2].split()[0])
    add("BM25 index (MB) vs bm25s", kept, float(memory[4].split()[0]), float(memory[5]),
        "<= 300 MB", kept <= 300)  # fmt: skip
    both = at["hybrid index memory (MB)", "raw float32 vectors + bm25s index"]
    add("hybrid index (MB) vs raw vectors + bm25s", float(both[2]), float(both[4]),
        float(both[5]), "<= 1.5x", float(both[5]) <= 1.5)  # fmt: skip
    return out


def _chart(rows: list[list[Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency = [r for r in rows if "p50 / p95" in r[1]]
    labels = [f"{r[0] // 1000}k {r[1].split(' query')[0]}" for r in latency]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    y = np.arange(len(latency))
    left.barh(y - 0.2, [_p95(r[2]) for r in latency], 0.4, label="LiteAgent")
    left.barh(y + 0.2, [_p95(r[4]) for r in latency], 0.4, label="reference")
    left.set_yticks(y, [f"{lab}\nvs {r[3]}" for lab, r in zip(labels, latency, strict=True)],
                    fontsize=7)  # fmt: skip
    left.set_xscale("log")
    left.set_xlabel("p95 latency (ms, log scale)")
    left.invert_yaxis()
    left.legend()
    memory = [r for r in rows if r[1].startswith(("BM25 index memory", "hybrid index memory"))]
    y = np.arange(len(memory))
    right.barh(y - 0.2, [float(str(r[2]).split()[0]) for r in memory], 0.4, label="LiteAgent")
    right.barh(y + 0.2, [float(str(r[4]).split()[0]) for r in memory], 0.4, label="reference")
    right.set_yticks(y, [f"{r[0] // 1000}k {r[1].split(' (')[0]}\nvs {r[3]}" for r in memory],
                     fontsize=7)  # fmt: skip
    right.set_xlabel("MB kept after building")
    right.invert_yaxis()
    right.legend()
    fig.suptitle("P3: retrieval at scale")
    fig.tight_layout()
    fig.savefig(RESULTS / "retrieval.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
