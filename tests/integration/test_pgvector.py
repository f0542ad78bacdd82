"""PgVectorStore against a real PostgreSQL + pgvector: same answers as the in-memory store."""

from __future__ import annotations

import random
from collections.abc import Iterator

import psycopg
import pytest

from liteagent.errors import ConfigurationError
from liteagent.rag import Document, InMemoryVectorStore, KnowledgeBase, create_chunker
from liteagent.rag.pgvector import PgVectorStore
from liteagent.rag.testing import HashEmbedder
from tests.servers.pgvector_server import embedded_postgres

pytestmark = pytest.mark.integration

TOPICS = ["billing", "search", "auth", "storage"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with embedded_postgres() as url:
        yield url


def _documents(n: int = 300, dim: int = 48) -> list[Document]:
    rng = random.Random(7)
    docs = []
    for i in range(n):
        vec = [rng.gauss(0, 1) for _ in range(dim)]
        docs.append(
            Document(f"doc-{i:03d}", f"passage {i}", vec, {"topic": TOPICS[i % 4], "n": i % 10})
        )
    return docs


async def test_same_top_k_as_in_memory_with_and_without_filters(pg_url: str) -> None:
    docs = _documents()
    pg = PgVectorStore(pg_url, table_name="parity", embedding_dimension=48)
    mem = InMemoryVectorStore(48)
    await pg.add_documents(docs)
    await mem.add_documents(docs)
    rng = random.Random(11)
    filters = [None, {"topic": "search"}, {"n": {"$in": [1, 2]}}, {"topic": {"$ne": "auth"}}]
    try:
        for q in range(20):
            query = [rng.gauss(0, 1) for _ in range(48)]
            flt = filters[q % len(filters)]
            a = await pg.search(query, limit=10, filter=flt)
            b = await mem.search(query, limit=10, filter=flt)
            assert [h.document.id for h in a] == [h.document.id for h in b], flt
            for x, y in zip(a, b, strict=True):
                assert x.score == pytest.approx(y.score, abs=1e-5)
                assert x.document.metadata == y.document.metadata
        assert await pg.count() == 300 and await pg.count({"topic": "billing"}) == 75
        assert [d.id for d in await pg.list_documents({"n": 3})] == [
            d.id for d in await mem.list_documents({"n": 3})
        ]
    finally:
        await pg.close()


async def test_hnsw_index_upsert_get_delete(pg_url: str) -> None:
    pg = PgVectorStore(pg_url, table_name="crud", embedding_dimension=3)
    try:
        await pg.add_documents([Document("a", "first", [1, 0, 0], {"k": "v"})])
        await pg.add_documents([Document("a", "second", [0, 1, 0], {"k": "w"})])
        doc = await pg.get("a")
        assert doc is not None and doc.content == "second" and doc.embedding == [0.0, 1.0, 0.0]
        assert doc.metadata == {"k": "w"}
        assert await pg.get("missing") is None
        assert await pg.delete(["a", "b"]) == 1
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            cur = await conn.execute(
                "SELECT indexdef FROM pg_indexes "
                "WHERE tablename = 'crud' AND indexdef LIKE '%hnsw%'"
            )
            row = await cur.fetchone()
        assert row is not None and "vector_cosine_ops" in row[0]
    finally:
        await pg.close()


async def test_dimension_mismatch_is_refused(pg_url: str) -> None:
    first = PgVectorStore(pg_url, table_name="dims", embedding_dimension=8)
    await first.initialize()
    await first.close()
    other = PgVectorStore(pg_url, table_name="dims", embedding_dimension=16)
    with pytest.raises(ConfigurationError, match=r"stores vector\(8\) embeddings .* vector\(16\)"):
        await other.initialize()
    with pytest.raises(ConfigurationError, match="Invalid table name"):
        PgVectorStore(pg_url, table_name="x; drop table y")


async def test_knowledge_base_on_pgvector_skips_unchanged_sources(pg_url: str) -> None:
    from liteagent.datasources import DataSourceContent

    emb = HashEmbedder(32)
    store = PgVectorStore(pg_url, table_name="kb_handbook", embedding_dimension=32)
    kb = KnowledgeBase(
        "handbook",
        store=store,
        embedder=emb,
        chunker=create_chunker("recursive", chunk_size=80, chunk_overlap=0),
    )
    items = [
        DataSourceContent("Refunds are processed within five days. " * 4, "refunds.md"),
        DataSourceContent("Passwords must be rotated every ninety days. " * 4, "security.md"),
    ]
    try:
        first = await kb.ingest(items)
        assert first.sources_added == 2 and first.chunks_written > 2
        second = await kb.ingest(items)
        assert second.sources_unchanged == 2 and second.chunks_embedded == 0
        hits = (await (await kb.retriever()).retrieve("how often rotate passwords", 3)).documents
        assert hits[0].document.metadata["source"] == "security.md"
        # Another process writing to the same table is noticed by refresh().
        assert await store.refresh() is False
        writer = PgVectorStore(pg_url, table_name="kb_handbook", embedding_dimension=32)
        await writer.add_documents([Document("new#0", "x", emb.vector("x"), {"source": "n"})])
        await writer.close()
        assert await store.refresh() is True and await store.refresh() is False
    finally:
        await kb.close()


async def test_unreachable_database_is_a_clear_error() -> None:
    store = PgVectorStore("postgresql://nobody@127.0.0.1:1/none", embedding_dimension=4)
    with pytest.raises(ConfigurationError, match="Cannot connect to PostgreSQL"):
        await store.initialize()


async def test_bulk_load_replaces_repeated_ids_and_rebuilds_the_index(pg_url: str) -> None:
    docs = _documents(200)
    store = PgVectorStore(pg_url, table_name="bulk", embedding_dimension=48, copy_batch=64)
    try:
        async with store.bulk_load():
            await store.add_documents(docs[:150])
            # a repeated id: the last one given wins, within a call and across calls
            changed = Document("doc-010", "changed", docs[10].embedding, {"topic": "new"})
            await store.add_documents([*docs[150:], docs[11], changed])
        assert await store.count() == 200
        got = await store.get("doc-010")
        assert got is not None and got.content == "changed" and got.metadata == {"topic": "new"}
        hits = await store.search(docs[42].embedding or [], limit=1)
        assert hits[0].document.id == "doc-042"
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'bulk_hnsw'"
            ).fetchone()
        assert row is not None and "hnsw" in row[0] and "m='16'" in row[0]
    finally:
        await store.close()
