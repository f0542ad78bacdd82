"""``PgVectorStore``: documents in PostgreSQL with pgvector, searched through an HNSW index.

Needs the ``pgvector`` extra (psycopg 3, psycopg-pool and the pgvector adapter). One table
per store::

    id TEXT PRIMARY KEY, content TEXT, embedding vector(<dimension>), metadata JSONB,
    created_at TIMESTAMPTZ

with an HNSW index on ``embedding`` (cosine distance; pgvector indexes at most 2000
dimensions, so longer vectors are searched exactly) and a GIN index on ``metadata``.
``initialize`` checks that an existing table's dimension matches the embedder's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from liteagent.errors import ConfigurationError
from liteagent.log import get_logger
from liteagent.rag.types import Document, MetadataFilter, SearchResult, check_filter
from liteagent.rag.vector_store import VectorStore, _check_query

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.sql import Composable, Composed
    from psycopg_pool import AsyncConnectionPool

__all__ = ["EF_SEARCH", "HNSW_EF_CONSTRUCTION", "HNSW_M", "HNSW_MAX_DIMENSIONS", "PgVectorStore"]

logger = get_logger(__name__)

HNSW_MAX_DIMENSIONS = 2000
# The HNSW graph's parameters (pgvector's defaults, written out): ``m`` links per node and the
# candidate list while building. A search looks at ``max(EF_SEARCH, 2 * limit)`` candidates
# (``hnsw.ef_search``); see docs/rag.md for what they trade.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
EF_SEARCH = 64
_BUILD_MEMORY = "256MB"  # maintenance_work_mem while bulk_load builds the index
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_EXTRA_HINT = "install LiteAgent's 'pgvector' extra: pip install 'liteagent[pgvector]'"


def _conninfo(url: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+psycopg://``) as well as libpq ones."""
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)


def _as_list(value: Any) -> list[float] | None:
    """A pgvector value (``Vector`` object or numpy array, by adapter version) as floats."""
    if value is None:
        return None
    if hasattr(value, "to_list"):
        value = value.to_list()
    return [float(x) for x in value]


class PgVectorStore(VectorStore):
    """A vector store in PostgreSQL + pgvector.

    Args:
        connection_string: ``postgresql://user:password@host:port/db``.
        table_name: Table for this store (letters, digits, underscores).
        embedding_dimension: The embedder's vector length (0: documents only, for BM25).
        pool_size: Maximum connections.
        copy_batch: Rows sent per ``COPY`` when adding documents.
    """

    def __init__(
        self,
        connection_string: str,
        table_name: str = "documents",
        embedding_dimension: int = 4096,
        pool_size: int = 5,
        copy_batch: int = 5000,
    ) -> None:
        if not _TABLE.match(table_name):
            raise ConfigurationError(
                f"Invalid table name '{table_name}': use letters, digits and underscores."
            )
        if embedding_dimension < 0:
            raise ConfigurationError("embedding_dimension cannot be negative.")
        self._conninfo = _conninfo(connection_string)
        self.table_name = table_name
        self.embedding_dimension = embedding_dimension
        self.pool_size = pool_size
        self.copy_batch = max(1, copy_batch)
        self._pool: AsyncConnectionPool | None = None
        self._seen: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        return f"PgVectorStore(table_name={self.table_name!r}, dim={self.embedding_dimension})"

    # ------------------------------------------------------------------ set-up
    def _ident(self, suffix: str = "") -> Composable:
        from psycopg import sql

        return sql.Identifier(self.table_name + suffix)

    async def initialize(self) -> None:
        if self._pool is not None:
            return
        try:
            import psycopg
            from pgvector.psycopg import register_vector_async
            from psycopg import sql
            from psycopg_pool import AsyncConnectionPool
        except ImportError:
            raise ConfigurationError(
                f"PgVectorStore needs psycopg and pgvector: {_EXTRA_HINT}."
            ) from None
        try:
            async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as c:
                await c.execute("CREATE EXTENSION IF NOT EXISTS vector")
                await self._create_table(c, sql)
        except psycopg.OperationalError as exc:
            raise ConfigurationError(
                f"Cannot connect to PostgreSQL for the vector store: {str(exc).strip()}"
            ) from None

        async def configure(conn: AsyncConnection[Any]) -> None:
            await register_vector_async(conn)
            await conn.set_autocommit(True)
            await conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")

        pool: AsyncConnectionPool = AsyncConnectionPool(
            self._conninfo, min_size=1, max_size=self.pool_size, open=False, configure=configure
        )
        await pool.open(wait=True)
        self._pool = pool

    async def _create_table(self, conn: AsyncConnection[Any], sql: Any) -> None:
        column = (
            sql.SQL("vector({})").format(sql.Literal(self.embedding_dimension))
            if self.embedding_dimension
            else sql.SQL("vector")
        )
        await conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, content TEXT NOT NULL, "
                "embedding {}, metadata JSONB NOT NULL DEFAULT '{{}}'::jsonb, "
                "created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ).format(self._ident(), column)
        )
        row = await (
            await conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
                (self.table_name,),
            )
        ).fetchone()
        found = str(row[0]) if row else ""
        expected = f"vector({self.embedding_dimension})" if self.embedding_dimension else "vector"
        if found != expected:
            raise ConfigurationError(
                f"Table '{self.table_name}' stores {found or 'no'} embeddings but the embedder "
                f"makes {expected}: use the embedder the table was built with, or another table."
            )
        if 0 < self.embedding_dimension <= HNSW_MAX_DIMENSIONS:
            await conn.execute(self._hnsw_sql())
        elif self.embedding_dimension:
            logger.warning(
                "pgvector_exact_search",
                table=self.table_name,
                dimension=self.embedding_dimension,
                reason=f"HNSW indexes at most {HNSW_MAX_DIMENSIONS} dimensions",
            )
        await conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (metadata)").format(
                self._ident("_meta"), self._ident()
            )
        )

    def _hnsw_sql(self) -> Composed:
        from psycopg import sql

        return sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = {}, ef_construction = {})"
        ).format(
            self._ident("_hnsw"),
            self._ident(),
            sql.Literal(HNSW_M),
            sql.Literal(HNSW_EF_CONSTRUCTION),
        )

    @asynccontextmanager
    async def bulk_load(self) -> AsyncIterator[None]:
        """Load many documents at once: ``async with store.bulk_load(): await add_documents…``.

        Inserting into an HNSW index row by row costs far more than building it from the rows
        already there (at 20,000 rows of 384 dimensions: about 500 rows/s against 3,000), so
        the index is dropped for the load and built once when the block ends, even after an
        error. Searches made during the load are exact: slower, same results.
        """
        pool = await self._get_pool()
        indexed = 0 < self.embedding_dimension <= HNSW_MAX_DIMENSIONS
        if indexed:
            from psycopg import sql

            async with pool.connection() as conn:
                await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(self._ident("_hnsw")))
        try:
            yield
        finally:
            if indexed:
                async with pool.connection() as conn, conn.transaction():
                    # more memory lets the graph be built in memory rather than on disk
                    await conn.execute(f"SET LOCAL maintenance_work_mem = '{_BUILD_MEMORY}'")
                    await conn.execute(self._hnsw_sql())
                logger.info("pgvector_index_built", table=self.table_name)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _get_pool(self) -> AsyncConnectionPool:
        await self.initialize()
        assert self._pool is not None
        return self._pool

    # ------------------------------------------------------------------ filters
    def _where(self, filter: MetadataFilter | None) -> tuple[Composable, list[Any]]:
        from psycopg import sql
        from psycopg.types.json import Jsonb

        check_filter(filter)
        parts: list[Composable] = [sql.SQL("TRUE")]
        params: list[Any] = []
        for key, cond in (filter or {}).items():
            if isinstance(cond, dict) and "$in" in cond:
                parts.append(sql.SQL("metadata -> %s::text = ANY(%s::jsonb[])"))
                params += [key, [Jsonb(v) for v in cond["$in"]]]
            elif isinstance(cond, dict) and "$ne" in cond:
                parts.append(sql.SQL("metadata -> %s::text IS DISTINCT FROM %s::jsonb"))
                params += [key, Jsonb(cond["$ne"])]
            else:
                value = cond.get("$eq") if isinstance(cond, dict) else cond
                parts.append(sql.SQL("metadata -> %s::text = %s::jsonb"))
                params += [key, Jsonb(value)]
        return sql.SQL(" AND ").join(parts), params

    # ------------------------------------------------------------------ API
    async def add_documents(self, documents: list[Document]) -> list[str]:
        """Insert or replace documents in bulk.

        The rows are sent with one binary ``COPY`` into a temporary table (in batches of
        ``copy_batch`` rows, so a client never holds more than one batch's buffer), then merged
        into the store's table with one ``INSERT … SELECT … ON CONFLICT DO UPDATE`` per batch,
        all in one transaction: a failure leaves the table as it was.
        """
        from psycopg import sql

        if not documents:
            return []
        self._check_embeddings(documents)
        pool = await self._get_pool()
        stage = sql.Identifier("liteagent_vector_load")
        unique = list({d.id: d for d in documents}.values())  # the last of a repeated id wins
        async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {}) ON COMMIT DROP").format(
                    stage, self._ident()
                )
            )
            for start in range(0, len(unique), self.copy_batch):
                batch = unique[start : start + self.copy_batch]
                await self._copy(cur, stage, batch)
                await cur.execute(
                    sql.SQL(
                        "INSERT INTO {} (id, content, embedding, metadata, created_at) "
                        "SELECT id, content, embedding, metadata, created_at FROM {} "
                        "ON CONFLICT (id) DO UPDATE SET "
                        "content = EXCLUDED.content, embedding = EXCLUDED.embedding, "
                        "metadata = EXCLUDED.metadata, created_at = EXCLUDED.created_at"
                    ).format(self._ident(), stage)
                )
                await cur.execute(sql.SQL("TRUNCATE {}").format(stage))
        return [d.id for d in documents]

    async def _copy(self, cur: Any, stage: Composable, batch: list[Document]) -> None:
        import numpy as np
        from psycopg import sql
        from psycopg.types.json import Jsonb

        query = sql.SQL(
            "COPY {} (id, content, embedding, metadata, created_at) FROM STDIN (FORMAT BINARY)"
        ).format(stage)
        async with cur.copy(query) as copy:
            copy.set_types(["text", "text", "vector", "jsonb", "timestamptz"])
            for d in batch:
                vector = (
                    np.asarray(d.embedding, dtype=np.float32) if self.embedding_dimension else None
                )
                await copy.write_row((d.id, d.content, vector, Jsonb(d.metadata), d.created_at))

    async def search(
        self, query_embedding: list[float], limit: int = 10, filter: MetadataFilter | None = None
    ) -> list[SearchResult]:
        import numpy as np
        from psycopg import sql

        if self.embedding_dimension == 0:
            raise ConfigurationError("This store holds no vectors; search it with BM25.")
        _check_query(query_embedding, self.embedding_dimension, limit)
        where, params = self._where(filter)
        q = np.asarray(query_embedding, dtype=np.float32)
        pool = await self._get_pool()
        query = sql.SQL(
            "SELECT id, content, metadata, created_at, distance FROM ("
            "SELECT id, content, metadata, created_at, embedding <=> %s AS distance FROM {} "
            "WHERE embedding IS NOT NULL AND {} ORDER BY distance LIMIT %s) AS hits "
            "ORDER BY distance, id"
        ).format(self._ident(), where)
        ef_search = max(EF_SEARCH, 2 * limit)
        async with pool.connection() as conn:
            if ef_search == EF_SEARCH and not filter:
                # the session's own ef_search (set on connect): one round trip, the vector
                # sent once, in binary
                cur = await conn.execute(query, [q, *params, limit], binary=True)
                rows = await cur.fetchall()
            else:
                async with conn.transaction():
                    # more candidates for a longer list; keep scanning when a filter drops some
                    await conn.execute(
                        sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search))
                    )
                    if filter:
                        await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    cur = await conn.execute(query, [q, *params, limit], binary=True)
                    rows = await cur.fetchall()
        return [
            SearchResult(
                document=Document(id=r[0], content=r[1], metadata=dict(r[2]), created_at=r[3]),
                score=1.0 - float(r[4]),
                rank=i,
            )
            for i, r in enumerate(rows, start=1)
        ]

    async def delete(self, document_ids: list[str]) -> int:
        from psycopg import sql

        if not document_ids:
            return 0
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._ident()),
                [list(document_ids)],
            )
            return cur.rowcount

    async def get(self, document_id: str) -> Document | None:
        from psycopg import sql

        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL(
                    "SELECT id, content, embedding, metadata, created_at FROM {} WHERE id = %s"
                ).format(self._ident()),
                [document_id],
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return Document(
            id=row[0],
            content=row[1],
            embedding=_as_list(row[2]),
            metadata=dict(row[3]),
            created_at=row[4],
        )

    async def list_documents(self, filter: MetadataFilter | None = None) -> list[Document]:
        from psycopg import sql

        where, params = self._where(filter)
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL(
                    "SELECT id, content, metadata, created_at FROM {} WHERE {} ORDER BY id"
                ).format(self._ident(), where),
                params,
            )
            rows = await cur.fetchall()
        return [Document(id=r[0], content=r[1], metadata=dict(r[2]), created_at=r[3]) for r in rows]

    async def refresh(self) -> bool:
        """Whether rows were added, replaced or deleted since the last call (any process)."""
        from psycopg import sql

        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT count(*), max(created_at) FROM {}").format(self._ident())
            )
            row = await cur.fetchone()
        state = tuple(row) if row else None
        changed = self._seen is not None and state != self._seen
        self._seen = state
        return changed

    async def count(self, filter: MetadataFilter | None = None) -> int:
        from psycopg import sql

        where, params = self._where(filter)
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._ident(), where), params
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0
