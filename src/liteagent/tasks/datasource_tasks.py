"""Data-source jobs: re-ingest the knowledge bases of the catalog's RAG entries.

A *data source* here is a ``kind: rag`` catalog entry (its id is the entry's name): its
``sources`` are fetched again with ``liteagent.datasources`` and ingested into its knowledge
base with ``KnowledgeBase.ingest_sources`` (unchanged sources cost nothing; sources no longer
listed are pruned). ``refresh_all_datasources`` runs on the beat schedule.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liteagent.catalog import RagSpec, load_catalog
from liteagent.log import get_logger
from liteagent.tasks.base import PermanentJobError, RetryableJobError

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = ["cleanup_expired_datasources", "refresh_all_datasources", "refresh_datasource"]

logger = get_logger(__name__)


def _rag_entries(settings: Settings) -> dict[str, RagSpec]:
    catalog = load_catalog(settings.catalog_path)
    return {name: spec for name, spec in catalog.entries.items() if isinstance(spec, RagSpec)}


async def _refresh(spec: RagSpec, settings: Settings) -> dict[str, Any]:
    from liteagent.rag import KnowledgeBase, create_chunker

    chunker = create_chunker(
        spec.chunker, chunk_size=spec.chunk_size, chunk_overlap=spec.chunk_overlap
    )
    base_dir = await asyncio.to_thread(lambda: Path(settings.catalog_path).resolve().parent)
    kb = KnowledgeBase.open(
        spec.knowledge_base_name, settings, embedder=spec.embedder, chunker=chunker
    )
    try:
        report = await kb.ingest_sources(
            spec.sources,
            settings,
            base_dir=base_dir,
            prune=True,
        )
    finally:
        await kb.close()
    return {
        "datasource": spec.name,
        "knowledge_base": report.knowledge_base,
        "sources_added": report.sources_added,
        "sources_updated": report.sources_updated,
        "sources_unchanged": report.sources_unchanged,
        "sources_removed": report.sources_removed,
        "chunks_written": report.chunks_written,
        "chunks_embedded": report.chunks_embedded,
        "failures": [{"source": s, "error": e} for s, e in report.failures],
    }


async def refresh_datasource(datasource_id: str, *, settings: Settings) -> dict[str, Any]:
    """Fetch a RAG entry's sources again and update its knowledge base.

    Args:
        datasource_id: The name of a ``kind: rag`` catalog entry.
        settings: Where the catalog and knowledge bases are.

    Returns:
        The ingestion report (sources added/updated/unchanged/removed, chunks written).

    Raises:
        PermanentJobError: No RAG entry has that name, or it lists no sources.
        RetryableJobError: Some sources could not be fetched (the others were ingested).
    """
    spec = _rag_entries(settings).get(datasource_id)
    if spec is None:
        raise PermanentJobError(
            f"'{datasource_id}' is not a kind: rag entry of {settings.catalog_path}."
        )
    if not spec.sources:
        raise PermanentJobError(f"The rag entry '{datasource_id}' lists no sources.")
    report = await _refresh(spec, settings)
    if report["failures"]:
        failed = ", ".join(f["source"] for f in report["failures"])
        raise RetryableJobError(f"{len(report['failures'])} source(s) failed: {failed}")
    return report


async def refresh_all_datasources(*, settings: Settings) -> dict[str, Any]:
    """Refresh every RAG entry that lists sources (one failing entry does not stop the rest).

    Returns:
        ``{"refreshed": [names], "failed": {name: error}, "reports": {name: report}}``.
    """
    out: dict[str, Any] = {"refreshed": [], "failed": {}, "reports": {}}
    for name, spec in _rag_entries(settings).items():
        if not spec.sources:
            continue
        try:
            report = await _refresh(spec, settings)
        except Exception as exc:  # noqa: BLE001 - one entry's failure is reported, not raised
            out["failed"][name] = str(exc)
            logger.warning("datasource_refresh_failed", datasource=name, error=str(exc))
            continue
        out["reports"][name] = report
        if report["failures"]:
            out["failed"][name] = f"{len(report['failures'])} source(s) failed"
        else:
            out["refreshed"].append(name)
    return out


async def cleanup_expired_datasources(*, settings: Settings) -> int:
    """Delete knowledge bases no catalog entry uses any more, once they have expired.

    Only with ``LITEAGENT_KNOWLEDGE_RETENTION_DAYS`` set (unset: keep everything) and only for
    the folder store (``LITEAGENT_KNOWLEDGE_DIR``): a knowledge-base folder that no ``kind:
    rag`` entry names and whose files were not written for longer than the retention is
    removed. PostgreSQL knowledge-base tables are left alone.

    Returns:
        How many knowledge bases were removed.
    """
    days = settings.knowledge_retention_days
    if days is None or settings.pgvector_url is not None:
        return 0
    in_use = {spec.knowledge_base_name for spec in _rag_entries(settings).values()}
    return await asyncio.to_thread(_remove_expired, Path(settings.knowledge_dir), in_use, days)


def _remove_expired(root: Path, in_use: set[str], days: float) -> int:
    if not root.is_dir():
        return 0
    cutoff = time.time() - days * 86400
    removed = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name in in_use:
            continue
        newest = max(
            (f.stat().st_mtime for f in folder.rglob("*") if f.is_file()),
            default=folder.stat().st_mtime,
        )
        if newest < cutoff:
            shutil.rmtree(folder)
            removed += 1
            logger.info("knowledge_base_expired", kb=folder.name, retention_days=days)
    return removed
