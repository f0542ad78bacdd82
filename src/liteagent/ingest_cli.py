"""``liteagent ingest``: fill a named knowledge base from files, folders, URLs or GitLab.

    liteagent ingest docs                    # a rag catalog entry: its own sources and settings
    liteagent ingest handbook ./handbook/ https://intranet.example.com/faq --prune
    liteagent ingest code gitlab:group/app:repository:*.md,docs/*.md@main

Unchanged sources are skipped without embedding anything; ``--prune`` removes sources that are
no longer listed. A progress bar shows the documents as they are processed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_ingest_command"]


def add_ingest_command(sub: Any) -> None:
    """Register the ``ingest`` sub-command on ``liteagent``'s sub-parsers."""
    parser = sub.add_parser(
        "ingest",
        help="ingest sources into a named knowledge base",
        description="Fill a named knowledge base from files, folders, URLs or GitLab. "
        "Unchanged sources are skipped without embedding anything.",
        epilog="examples:\n  liteagent ingest docs\n"
        "  liteagent ingest handbook ./handbook/ https://intranet.example.com/faq --prune\n"
        "  liteagent ingest code 'gitlab:group/app:repository:*.md@main'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="knowledge base, or a rag entry of the catalog")
    parser.add_argument(
        "sources", nargs="*", help="files, folders, globs, URLs, text:…, gitlab:… (default: "
        "the catalog entry's sources)"
    )  # fmt: skip
    parser.add_argument("--embedder", help="<provider>[/<model>] (default: LITEAGENT_EMBEDDER)")
    parser.add_argument("--chunker", choices=("semantic", "recursive", "fixed"))
    parser.add_argument("--chunk-size", type=int)
    parser.add_argument("--chunk-overlap", type=int)
    parser.add_argument("--prune", action="store_true", help="remove sources not listed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_ingest)


def _catalog_dir(path: Path) -> Path:
    return Path(path).resolve().parent


def cmd_ingest(args: argparse.Namespace) -> int:
    from dotenv import load_dotenv

    from liteagent.config import ensure_offline_cost_map

    load_dotenv(Path.cwd() / ".env", override=False)
    ensure_offline_cost_map()
    return asyncio.run(_ingest(args))


async def _ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from liteagent.catalog import RagSpec, load_catalog
    from liteagent.config import get_settings
    from liteagent.errors import CatalogError, LiteAgentError
    from liteagent.log import configure_logging
    from liteagent.rag import KnowledgeBase, create_chunker

    settings = get_settings()
    configure_logging("WARNING", "text")
    name = args.name
    sources = list(args.sources)
    base_dir: Path | None = None
    embedder = args.embedder
    chunker_opts: dict[str, Any] = {
        "strategy": "semantic",
        "chunk_size": 1000,
        "chunk_overlap": 150,
    }
    spec: RagSpec | None = None
    try:
        catalog = load_catalog(settings.catalog_path)
        entry = catalog.entries.get(name)
        spec = entry if isinstance(entry, RagSpec) else None
    except CatalogError:
        spec = None
    if spec is not None:
        name = spec.knowledge_base_name
        embedder = embedder or spec.embedder
        chunker_opts = {
            "strategy": spec.chunker,
            "chunk_size": spec.chunk_size,
            "chunk_overlap": spec.chunk_overlap,
        }
        if not sources:
            sources = list(spec.sources)
            base_dir = _catalog_dir(settings.catalog_path)
    if not sources:
        print(
            f"liteagent ingest: no sources given and '{args.name}' is not a rag entry of "
            f"{settings.catalog_path} with sources.",
            file=sys.stderr,
        )
        return 2
    if args.chunker:
        chunker_opts["strategy"] = args.chunker
    if args.chunk_size:
        chunker_opts["chunk_size"] = args.chunk_size
    if args.chunk_overlap is not None:
        chunker_opts["chunk_overlap"] = args.chunk_overlap
    bar: Any = None

    def progress(done: int, total: int, current: str) -> None:
        nonlocal bar
        if args.no_progress:
            return
        if bar is None:
            bar = tqdm(total=total, unit="doc", desc=f"Ingesting into {name}", file=sys.stderr)
        bar.set_postfix_str(current[-40:], refresh=False)
        bar.update(done - bar.n)

    try:
        chunker = create_chunker(chunker_opts.pop("strategy"), **chunker_opts)
        kb = KnowledgeBase.open(name, settings, embedder=embedder, chunker=chunker)
        print(f"Fetching {len(sources)} source(s) for knowledge base '{name}'…", file=sys.stderr)
        try:
            report = await kb.ingest_sources(
                sources, settings, base_dir=base_dir, prune=args.prune, progress=progress
            )
        finally:
            if bar is not None:
                bar.close()
            await kb.close()
    except LiteAgentError as exc:
        print(f"liteagent ingest: {exc.message}", file=sys.stderr)
        return 1
    print(report.summary())
    for source, error in report.failures:
        print(f"  failed: {source}: {error}", file=sys.stderr)
    return 1 if report.failures else 0
