"""Alembic environment: runs the packaged revisions on the connection it is handed.

``liteagent.storage.migrate`` passes a connection in ``config.attributes["connection"]``
(taken under the migration lock); there is no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from liteagent.storage.models import Base, migrated_name


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=migrated_name,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE by copy on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("LiteAgent's migrations run through `liteagent db upgrade`")
run_migrations(_connection)
