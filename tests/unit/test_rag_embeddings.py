"""Embedders: the offline MiniLM agrees with sentence-transformers; API embedders speak the wire
format; the cache avoids recomputing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from liteagent.config import Settings
from liteagent.errors import ConfigurationError, LLMProviderError
from liteagent.rag import (
    CachedEmbedder,
    EmbeddingCache,
    NemotronEmbedder,
    NoEmbedder,
    OpenAIEmbedder,
    create_embedder,
)
from liteagent.rag.local_embedder import MiniLMEmbedder
from liteagent.rag.testing import HashEmbedder
from tests.servers.embeddings_wire import EmbeddingsWireServer, fake_vector
from tests.servers.http import serve_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json"


def test_local_embedder_matches_sentence_transformers_reference() -> None:
    data = json.loads(FIXTURE.read_text())
    ours = MiniLMEmbedder().encode(data["texts"])
    ref = np.asarray(data["vectors"], dtype=np.float32)
    assert ours.shape == (len(data["texts"]), 384)
    cosine = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cosine.min() > 0.99999, cosine
    assert np.abs(ours - ref).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_local_embedder_bounds_each_forward_pass_by_padded_tokens() -> None:
    texts = [("retrieval " * n).strip() for n in (1, 3, 300, 40, 2, 120, 250, 5)]
    bounded = MiniLMEmbedder(batch_size=32, max_batch_tokens=300)
    _, tokenizer, _ = bounded._loaded()
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    batches = bounded._batches(order, lengths)
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    for batch in batches:  # a long text alone may exceed the cap; never two together
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 300
    assert len(batches) > 1
    # the batching changes how texts are grouped, not their vectors
    unbounded = MiniLMEmbedder(batch_size=32, max_batch_tokens=10**9).encode(texts)
    np.testing.assert_allclose(bounded.encode(texts), unbounded, atol=1e-5)


async def test_local_embedder_is_the_default_and_ranks_sensibly() -> None:
    emb = create_embedder(settings=Settings())
    assert isinstance(emb, MiniLMEmbedder) and emb.dimension == 384
    docs = await emb.embed_documents(
        ["A cat sleeps on the sofa.", "Interest rates rose again this quarter."]
    )
    q = await emb.embed_query("Where is the kitten napping?")
    sims = np.asarray(docs) @ np.asarray(q)
    assert sims[0] > sims[1] + 0.2


async def test_cache_embeds_each_text_once_and_persists(tmp_path: Path) -> None:
    inner = HashEmbedder(16)
    cache = EmbeddingCache(path=tmp_path / "cache.sqlite")
    emb = CachedEmbedder(inner, cache)
    first = await emb.embed_documents(["one", "two"])
    again = await emb.embed_documents(["two", "three", "one"])
    assert inner.texts_embedded == 3 and again[0] == first[1] and again[2] == first[0]
    cache.close()
    fresh_inner = HashEmbedder(16)
    reopened = CachedEmbedder(fresh_inner, EmbeddingCache(path=tmp_path / "cache.sqlite"))
    vectors = await reopened.embed_documents(["one", "two", "three"])
    assert fresh_inner.texts_embedded == 0
    assert np.allclose(vectors[0], first[0], atol=1e-6)
    assert await reopened.cache.get_embedding("one", "hash/hash-16") is not None


@pytest.fixture
def embeddings_api() -> Iterator[tuple[EmbeddingsWireServer, str]]:
    server = EmbeddingsWireServer(dimension=1536)
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


async def test_openai_embedder_over_the_wire(embeddings_api) -> None:
    server, url = embeddings_api
    settings = Settings(openai_api_key=server.key, openai_base_url=url)
    emb = create_embedder("openai", settings=settings)
    assert isinstance(emb, OpenAIEmbedder) and emb.dimension == 1536
    result = await emb.embed(["alpha", "beta"])
    assert result.embeddings == [fake_vector("alpha", 1536), fake_vector("beta", 1536)]
    assert result.usage == {"prompt_tokens": 2, "total_tokens": 2}
    assert server.requests[0]["body"]["model"] == "text-embedding-3-small"
    short = create_embedder("openai/text-embedding-3-large", settings=settings, dimensions=256)
    assert len(await short.embed_query("x")) == 256
    assert server.requests[-1]["body"]["dimensions"] == 256
    await emb.aclose()


async def test_nemotron_embedder_sends_input_type(embeddings_api) -> None:
    server, url = embeddings_api
    server.dimension = 2048
    emb = create_embedder(
        "nemotron", settings=Settings(nvidia_api_key=server.key, nvidia_base_url=url)
    )
    assert isinstance(emb, NemotronEmbedder) and emb.dimension == 2048
    passage = await emb.embed_documents(["refund policy"])
    query = await emb.embed_query("refund policy")
    assert [r["body"]["input_type"] for r in server.requests] == ["passage", "query"]
    assert passage[0] == fake_vector("passage:refund policy", 2048)
    assert query == fake_vector("query:refund policy", 2048)
    assert server.requests[0]["body"]["model"] == "nvidia/llama-nemotron-embed-1b-v2"


async def test_embedder_errors_name_the_provider_and_hide_the_key(embeddings_api) -> None:
    _, url = embeddings_api
    wrong = OpenAIEmbedder(api_key="sk-wrong-secret-key-9999", base_url=url)
    with pytest.raises(LLMProviderError) as info:
        await wrong.embed(["x"])
    assert info.value.status_code in (401, 502) and "openai" in info.value.message
    assert "sk-wrong-secret-key-9999" not in info.value.message
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        await OpenAIEmbedder(api_key=None).embed(["x"])
    with pytest.raises(ConfigurationError, match="pass dimensions"):
        OpenAIEmbedder(api_key="k", model="my-custom-model")
    with pytest.raises(Exception, match="Unknown embedder 'nope'"):
        create_embedder("nope")


async def test_no_embedder_makes_no_vectors() -> None:
    emb = create_embedder("none")
    assert isinstance(emb, NoEmbedder) and emb.dimension == 0
    assert (await emb.embed(["a", "b"])).embeddings == [[], []]
