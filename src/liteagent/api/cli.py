"""``liteagent api``: the standalone management API, and its first users and API keys.

- ``liteagent api`` (or ``liteagent api serve``): serve the management API with its own
  authentication (JWTs and API keys; needs ``LITEAGENT_JWT_SECRET``);
- ``liteagent api create-user --email … [--admin] [--role …] [--team …]``: add a user; the
  password is read from the terminal (twice), or as one line from standard input when that is
  not a terminal, never from the command line;
- ``liteagent api create-key --email … --name … [--expires-days N]``: make an API key for a
  user and print it, once (it is stored only as a hash);
- ``liteagent api disable-user|enable-user --email …``: a disabled user cannot sign in, refresh
  or use an API key (access tokens already issued run out within their lifetime).

The serving command itself is given by the ``liteagent`` command (``serve=``), which composes
the app from the layers above this one.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from liteagent.errors import ConfigurationError, ValidationError
from liteagent.redaction import redact_text

__all__ = ["DEFAULT_API_PORT", "add_api_command"]

DEFAULT_API_PORT = 8000


def _days(text: str) -> int:
    days = int(text)
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError("give a number of days from 1 to 3650")
    return days


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise ValidationError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _run(url: str, work: Callable[[Any], Coroutine[Any, Any, int]]) -> int:
    """Run ``work(accounts)`` on the database at ``url``; errors become exit statuses."""
    from liteagent.config import get_settings
    from liteagent.log import configure_logging
    from liteagent.storage.accounts import AccountRepository
    from liteagent.storage.database import Database

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)  # to stderr: stdout is the output

    async def main() -> int:
        database = Database(url)
        try:
            return await work(AccountRepository(database))
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except (ConfigurationError, ValidationError) as exc:
        print(f"liteagent api: {exc}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"liteagent api: cannot use the database: {redact_text(first)}", file=sys.stderr)
        return 1


def cmd_create_user(args: argparse.Namespace) -> int:
    """``liteagent api create-user``."""
    from liteagent.api.standalone import create_user

    try:
        password = _read_password()
    except ValidationError as exc:
        print(f"liteagent api: {exc}", file=sys.stderr)
        return 2
    roles = list(args.role or [])
    if args.admin:
        roles.insert(0, "admin")

    async def work(accounts: Any) -> int:
        user = await create_user(accounts, args.email, password, roles=roles, team_id=args.team)
        shown = ", ".join(user.roles) or "none"
        print(f"User {user.email} created (id {user.id}; roles: {shown}).")
        return 0

    return _run(args.url, work)


def _with_user(
    args: argparse.Namespace, hint: str, work: Callable[[Any, Any], Coroutine[Any, Any, int]]
) -> int:
    """Run ``work(accounts, user_record)`` for the user ``args.email`` (exit 2 without one)."""
    from liteagent.api.standalone import normalise_email

    async def find_then_work(accounts: Any) -> int:
        record = await accounts.get_user_by_email(normalise_email(args.email))
        if record is None:
            print(f"liteagent api: no user {args.email!r}{hint}.", file=sys.stderr)
            return 2
        return await work(accounts, record)

    return _run(args.url, find_then_work)


def cmd_create_key(args: argparse.Namespace) -> int:
    """``liteagent api create-key``."""
    from liteagent.api.standalone import create_api_key, user_from_record
    from liteagent.storage.base import utcnow

    async def work(accounts: Any, record: Any) -> int:
        expires = utcnow() + timedelta(days=args.expires_days) if args.expires_days else None
        key, api_key = await create_api_key(
            accounts, user_from_record(record), args.name, expires_at=expires
        )
        until = f"until {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else "no expiry"
        print(
            f"API key {key.name!r} (id {key.id}, {until}) for {record.email}. It is shown "
            "only this once:",
            file=sys.stderr,
        )
        print(api_key)
        return 0

    return _with_user(args, " (create-user first)", work)


def cmd_set_active(args: argparse.Namespace) -> int:
    """``liteagent api disable-user`` / ``enable-user``."""

    async def work(accounts: Any, record: Any) -> int:
        await accounts.set_active(user_id=record.id, active=args.active)
        print(f"User {record.email} {'enabled' if args.active else 'disabled'}.")
        return 0

    return _with_user(args, "", work)


def add_api_command(
    sub: Any,
    *,
    default_url: str,
    default_host: str,
    serve: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``liteagent api [serve|create-user|create-key]`` to the ``liteagent`` parser."""
    api = sub.add_parser(
        "api",
        help="the management API with its own users and API keys (docs/api.md)",
        description="Serve the management API standalone (the default), or manage its users "
        "and API keys.",
    )
    api.add_argument("--host", default=default_host, help="default: LITEAGENT_HOST")
    api.add_argument("--port", type=int, default=DEFAULT_API_PORT)
    api.set_defaults(func=serve)
    api_sub = api.add_subparsers(dest="api_command")
    url_help = "database URL (default: LITEAGENT_DATABASE_URL)"

    serve_parser = api_sub.add_parser("serve", help="serve the management API (the default)")
    serve_parser.set_defaults(func=serve)

    user = api_sub.add_parser("create-user", help="add a user (password from the terminal)")
    user.add_argument("--email", required=True)
    user.add_argument("--admin", action="store_true", help="give the user the admin role")
    user.add_argument("--role", action="append", help="another role (repeatable)")
    user.add_argument("--team", default=None, help="the user's team id")
    user.add_argument("--url", default=default_url, help=url_help)
    user.set_defaults(func=cmd_create_user)

    key = api_sub.add_parser("create-key", help="make an API key for a user (printed once)")
    key.add_argument("--email", required=True, help="the user the key acts for")
    key.add_argument("--name", required=True, help="what the key is for")
    key.add_argument("--expires-days", type=_days, default=None, help="default: never")
    key.add_argument("--url", default=default_url, help=url_help)
    key.set_defaults(func=cmd_create_key)

    for name, active, text in (
        ("disable-user", False, "stop a user signing in, refreshing and using API keys"),
        ("enable-user", True, "let a disabled user in again"),
    ):
        toggle = api_sub.add_parser(name, help=text)
        toggle.add_argument("--email", required=True)
        toggle.add_argument("--url", default=default_url, help=url_help)
        toggle.set_defaults(func=cmd_set_active, active=active)
