"""``liteagent db``: the operator's side of the migrations.

- ``liteagent db upgrade``: bring ``LITEAGENT_DATABASE_URL`` (or ``--url``) to the newest
  revision; safe while replicas are starting or running (they take the same lock).
- ``liteagent db current``: print the database's revision and the package's head; exits 1 when
  the database is behind (a check for a deploy pipeline).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from liteagent.errors import ConfigurationError
from liteagent.redaction import redact_text

__all__ = ["add_db_command", "upgrade_before_serving"]


async def _upgrade(url: str, revision: str) -> str | None:
    from liteagent.storage.database import Database
    from liteagent.storage.migrate import upgrade

    database = Database(url)
    try:
        return (await upgrade(database, revision)).after
    finally:
        await database.dispose()


async def _current(url: str) -> str | None:
    from liteagent.storage.database import Database
    from liteagent.storage.migrate import current

    database = Database(url)
    try:
        return await current(database)
    finally:
        await database.dispose()


def _shown(url: str) -> str:
    from liteagent.storage.database import parse_url

    return parse_url(url).render_as_string(hide_password=True)


def _run(args: argparse.Namespace, work: Any) -> tuple[int, str | None]:
    try:
        # asyncio.run, except that the thread's current event loop is left untouched: the
        # ``liteagent serve`` process goes on to run the proxy as a fresh interpreter would.
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return 0, runner.run(work)
    except ConfigurationError as exc:
        print(f"liteagent db: {exc}", file=sys.stderr)
        return 2, None
    except (SQLAlchemyError, OSError) as exc:
        print(
            f"liteagent db: cannot reach the database {_shown(args.url)}: "
            f"{redact_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}",
            file=sys.stderr,
        )
        return 1, None


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """``liteagent db upgrade``."""
    from liteagent.storage.migrate import head

    status, revision = _run(args, _upgrade(args.url, args.revision))
    if status == 0:
        print(f"{_shown(args.url)}: at revision {revision} (head {head()})")
    return status


def cmd_db_current(args: argparse.Namespace) -> int:
    """``liteagent db current``."""
    from liteagent.storage.migrate import head

    status, revision = _run(args, _current(args.url))
    if status != 0:
        return status
    newest = head()
    state = "up to date" if revision == newest else "behind: run `liteagent db upgrade`"
    print(f"{_shown(args.url)}: at revision {revision or 'none'} (head {newest}), {state}")
    return 0 if revision == newest else 1


def upgrade_before_serving(url: str) -> int:
    """``liteagent serve``'s start-up step: migrate before the proxy starts (several replicas
    starting together take turns under the lock).

    A database that cannot be reached does not stop the proxy: it is reported, and the first
    request that needs it migrates it. A URL LiteAgent cannot use does (exit status 2).

    Returns:
        0 when the proxy may start, 2 when the URL is unusable.
    """
    status, revision = _run(argparse.Namespace(url=url), _upgrade(url, "head"))
    if status == 0:
        print(f"LiteAgent database at revision {revision}.", flush=True)
    elif status == 1:
        print("liteagent: starting anyway; the database is migrated on first use.", file=sys.stderr)
    return 2 if status == 2 else 0


def add_db_command(sub: Any, default_url: str) -> None:
    """Add ``liteagent db upgrade|current`` to the ``liteagent`` parser's subcommands."""
    db = sub.add_parser("db", help="LiteAgent's database schema (migrations)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    url_help = "database URL (default: LITEAGENT_DATABASE_URL)"

    upgrade = db_sub.add_parser("upgrade", help="apply the migrations up to the newest revision")
    upgrade.add_argument("--url", default=default_url, help=url_help)
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.set_defaults(func=cmd_db_upgrade)

    current = db_sub.add_parser("current", help="show the revision; exit 1 when behind")
    current.add_argument("--url", default=default_url, help=url_help)
    current.set_defaults(func=cmd_db_current)
