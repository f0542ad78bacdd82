"""Alembic revisions of LiteAgent's tables (applied by ``liteagent.storage.migrate``).

To add one after changing ``liteagent.storage.models``: write
``versions/rNNNN_<what>.py`` with ``down_revision`` set to the current head (see
``r0001_initial.py`` for the shape), then run ``liteagent db upgrade`` on a scratch database
and ``tests/unit/test_migrations.py``, which checks that the migrated schema matches the models.
"""
