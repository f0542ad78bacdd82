"""Retrieval evaluation: BM25, vector and hybrid on standard-library docstrings.

    uv run nox -s eval                  # or: uv run python benchmarks/rag_eval.py
    uv run python benchmarks/rag_eval.py --tune     # also print the weight / rrf_k grid

Builds the labelled corpus at run time (``liteagent.rag.evaluation.stdlib_corpus``: passages the
project did not write, with known-item queries), embeds it with the offline all-MiniLM-L6-v2,
and prints recall@5 and nDCG@10 per retriever on the *test* half of the queries. The fusion
settings are LiteAgent's defaults, chosen on the *dev* half (``--tune`` shows that grid).
Exits 1 if hybrid is worse than the better of BM25 and vector on either metric.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from liteagent.rag import (
    BM25Retriever,
    CachedEmbedder,
    EmbeddingCache,
    HybridRetriever,
    InMemoryVectorStore,
    VectorRetriever,
)
from liteagent.rag.evaluation import (
    EvalQuery,
    EvalResult,
    evaluate,
    format_table,
    stdlib_corpus,
)
from liteagent.rag.local_embedder import MiniLMEmbedder
from liteagent.rag.retriever import DEFAULT_RRF_K, DEFAULT_VECTOR_WEIGHT


def split(queries: list[EvalQuery]) -> tuple[list[EvalQuery], list[EvalQuery]]:
    """Dev (even positions) and test (odd positions) halves; the order is already hashed."""
    return queries[0::2], queries[1::2]


async def run(
    passages: int, queries: int, tune: bool, cache_path: Path | None
) -> tuple[list[EvalResult], str]:
    started = time.monotonic()
    docs, all_queries = stdlib_corpus(passages, queries)
    dev, test = split(all_queries)
    embedder = CachedEmbedder(MiniLMEmbedder(), EmbeddingCache(path=cache_path))
    vectors = await embedder.embed_documents([d.content for d in docs])
    for doc, vec in zip(docs, vectors, strict=True):
        doc.embedding = vec
    store = InMemoryVectorStore(embedder.dimension)
    await store.add_documents(docs)
    vector = VectorRetriever(store, embedder)
    bm25 = BM25Retriever(docs)
    lines = [
        f"corpus: {len(docs)} passages (Python {platform.python_version()} standard-library "
        f"docstrings), {len(dev)} dev + {len(test)} test known-item queries; "
        f"embedder all-MiniLM-L6-v2 (local); built in {time.monotonic() - started:.0f} s",
    ]
    if tune:
        grid = []
        for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
            for k in (5, 20, 60, 120):
                r = await evaluate(
                    f"w={weight} k={k}", HybridRetriever(vector, bm25, weight, k), dev
                )
                grid.append(r)
        grid.sort(key=lambda r: (-r.ndcg_at_10, -r.recall_at_5))
        baselines = [await evaluate("bm25", bm25, dev), await evaluate("vector", vector, dev)]
        lines += [
            "",
            format_table(
                baselines + grid[:8], "dev queries: baselines, then hybrid settings (best first)"
            ),
        ]
    hybrid = HybridRetriever(vector, bm25, DEFAULT_VECTOR_WEIGHT, DEFAULT_RRF_K)
    results = [
        await evaluate("bm25", bm25, test),
        await evaluate("vector", vector, test),
        await evaluate(f"hybrid (w={DEFAULT_VECTOR_WEIGHT}, rrf_k={DEFAULT_RRF_K})", hybrid, test),
    ]
    lines += ["", format_table(results, "test queries")]
    return results, "\n".join(lines)


def hybrid_holds(results: list[EvalResult]) -> bool:
    """Hybrid is at least as good as the better single retriever on both metrics."""
    bm25, vector, hybrid = results
    return hybrid.recall_at_5 >= max(bm25.recall_at_5, vector.recall_at_5) and (
        hybrid.ndcg_at_10 >= max(bm25.ndcg_at_10, vector.ndcg_at_10)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=600)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--tune", action="store_true", help="print the dev grid too")
    parser.add_argument(
        "--cache",
        default="",
        help="keep embeddings in this SQLite file between runs (default: embed afresh, ~1 min)",
    )
    args = parser.parse_args()
    results, report = asyncio.run(
        run(args.passages, args.queries, args.tune, Path(args.cache) if args.cache else None)
    )
    print(report)
    if not hybrid_holds(results):
        print("\nFAIL: hybrid is worse than the better of BM25 and vector.", file=sys.stderr)
        return 1
    print("\nOK: hybrid is at least as good as the better of BM25 and vector on both metrics.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
