"""A deterministic embedder for tests: hashed bag of words, no weights, no network."""

from __future__ import annotations

import hashlib
import math

from liteagent.rag.embeddings import EmbeddingProvider, EmbeddingResult
from liteagent.rag.retriever import tokenize

__all__ = ["HashEmbedder"]


class HashEmbedder(EmbeddingProvider):
    """Each word adds 1 to a hashed coordinate; vectors are L2-normalised.

    Texts sharing words get similar vectors, which is enough to test stores and retrievers.
    ``calls`` and ``texts_embedded`` count the work done.

    Args:
        dimension: Vector length.
    """

    provider_name = "hash"

    def __init__(self, dimension: int = 64, **_: object) -> None:
        self._dimension = dimension
        self.calls = 0
        self.texts_embedded = 0

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return f"hash-{self._dimension}"

    def vector(self, text: str) -> list[float]:
        v = [0.0] * self._dimension
        for word in tokenize(text):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
            v[h % self._dimension] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        self.calls += 1
        self.texts_embedded += len(texts)
        return EmbeddingResult([self.vector(t) for t in texts], self.model_name)
