"""The ``liteagent`` command.

- ``liteagent serve``: start the LiteLLM proxy with LiteAgent's catalog (loads ``.env``).
- ``liteagent catalog``: validate the catalog and list its models.
- ``liteagent hello``: send one chat request to a running proxy.
- ``liteagent ingest``: ingest sources into a named knowledge base (``liteagent.rag``).
- ``liteagent db upgrade|current``: migrate LiteAgent's database (``liteagent.storage``).
- ``liteagent jobs``: run background jobs and see their status (``liteagent.tasks``).
- ``liteagent api``: the management API standalone; ``api create-user`` / ``api create-key``
  make its first users and API keys (``liteagent.api``).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
from pathlib import Path

from liteagent.config import ensure_offline_cost_map

DEV_MASTER_KEY = "sk-liteagent-dev"


def _load_env() -> None:
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)
    ensure_offline_cost_map()


def _check_catalog() -> int:
    from liteagent.catalog import load_catalog
    from liteagent.config import get_settings
    from liteagent.errors import CatalogError

    settings = get_settings()
    try:
        catalog = load_catalog(settings.catalog_path)
    except CatalogError as exc:
        print(f"liteagent: invalid catalog: {exc}", file=sys.stderr)
        return 2
    print(
        f"Catalog {catalog.source}: {len(catalog)} model(s); default LLM "
        f"{settings.resolved_default_model()}"
    )
    for spec in catalog:
        model = str(spec.model or settings.resolved_default_model())
        print(f"  {spec.model_name:<32} {spec.kind:<8} {model:<24} {spec.description}")
    return 0


def _check_encryption_key() -> int:
    from liteagent.config import get_settings
    from liteagent.errors import ConfigurationError
    from liteagent.security import check_encryption_key

    try:
        check_encryption_key(get_settings())
    except ConfigurationError as exc:
        print(f"liteagent: {exc}", file=sys.stderr)
        return 2
    return 0


def _check_before_serving(args: argparse.Namespace) -> int:
    """``liteagent serve``'s checks and database upgrade; 0 when the proxy may start, else 2."""
    config = Path(args.config)
    if not config.is_file():
        print(
            f"liteagent: proxy config {config} not found (run from the project folder or "
            "pass --config).",
            file=sys.stderr,
        )
        return 2
    if (status := _check_catalog()) != 0:
        return status
    if not os.environ.get("LITELLM_MASTER_KEY"):
        if os.environ.get("ENVIRONMENT", "development") != "development":
            print(
                "liteagent: LITELLM_MASTER_KEY is not set; refusing to start an open proxy.",
                file=sys.stderr,
            )
            return 2
        os.environ["LITELLM_MASTER_KEY"] = DEV_MASTER_KEY
        print(f"LITELLM_MASTER_KEY is not set: using the development key {DEV_MASTER_KEY!r}.")
    if (status := _check_encryption_key()) != 0:
        return status
    from liteagent.config import get_settings
    from liteagent.storage.db_cli import upgrade_before_serving

    if (status := upgrade_before_serving(get_settings().database_url)) != 0:
        return status
    try:
        import litellm.proxy.proxy_cli  # noqa: F401 - what the `litellm` command runs
    except ImportError:
        print("liteagent: the litellm command is missing; run `uv sync`.", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Check the project, migrate the database, then become LiteLLM's ``litellm`` command.

    The checks' failures return 2 (the database one only for a URL LiteAgent cannot use). Once
    they pass, LiteLLM's proxy runs in this interpreter, as ``litellm --config ... --host ...
    --port ...`` would in its own, and ends the process with that command's exit status (it does
    not return).
    """
    # LiteLLM, FastAPI and most of LiteAgent came in with the parser and live as long as the
    # proxy: frozen now, they are not walked again by the garbage collector's full passes during
    # the checks and LiteLLM's import of its proxy (liteagent.server freezes the heap the same
    # way under `litellm --config`; see liteagent.proxy.heap).
    was_frozen = gc.get_freeze_count() > 0
    gc.freeze()
    if (status := _check_before_serving(args)) != 0:
        if not was_frozen:
            gc.unfreeze()  # a refused start undoes its freeze (one found made cannot be)
        return status
    from litellm.proxy.proxy_cli import run_server

    from liteagent.config import get_settings

    # What the checks made goes before the proxy starts: the settings are read afresh (the master
    # key may have been set above), and their garbage (the disposed engine...) is freed now, or
    # the proxy's start-up heap freeze would keep it for good; this pass walks only what is
    # younger than the freeze above. The checks left no thread, connection or current event loop
    # (liteagent.storage.db_cli).
    get_settings.cache_clear()
    gc.collect()
    litellm_args = ["--config", args.config, "--host", args.host, "--port", str(args.port)]
    litellm = shutil.which("litellm", path=str(Path(sys.executable).parent)) or "litellm"
    sys.argv = [litellm, *litellm_args]
    print(f"Serving on http://{args.host}:{args.port}/v1 …", flush=True)
    # LiteLLM's `litellm` command in this interpreter (what the checks imported stays imported):
    # it ends the process with the command's own exit status, messages and signal handling.
    run_server.main(args=litellm_args, prog_name="litellm")
    return 0


def cmd_a2a(args: argparse.Namespace) -> int:
    """Serve every catalog entry as an A2A agent (docs/a2a.md)."""
    if (status := _check_catalog()) != 0:
        return status
    key = os.environ.get("LITELLM_MASTER_KEY")
    if not key:
        if os.environ.get("ENVIRONMENT", "development") != "development":
            print(
                "liteagent: LITELLM_MASTER_KEY is not set; refusing to start an open A2A server.",
                file=sys.stderr,
            )
            return 2
        key = DEV_MASTER_KEY
        print(f"LITELLM_MASTER_KEY is not set: using the development key {DEV_MASTER_KEY!r}.")
    if (status := _check_encryption_key()) != 0:
        return status
    import uvicorn

    from liteagent.a2a_server import build_a2a_app, master_key_authenticator
    from liteagent.server import create_handler

    handler = create_handler()
    public_url = (args.public_url or f"http://{args.host}:{args.port}").rstrip("/")
    app = build_a2a_app(handler, public_url=public_url, authenticate=master_key_authenticator(key))
    print(f"A2A agents on {public_url}/<name> (cards: {public_url}/) …", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the management API standalone, with its own users and API keys (docs/api.md)."""
    from liteagent.api.auth_routes import auth_router
    from liteagent.api.rate_limit import api_rate_limiter, install_rate_limit
    from liteagent.api.standalone import StandaloneAuthenticator
    from liteagent.config import get_settings
    from liteagent.errors import ConfigurationError
    from liteagent.storage.db_cli import upgrade_before_serving

    settings = get_settings()
    try:
        authenticator = StandaloneAuthenticator.from_settings(settings)
    except ConfigurationError as exc:
        print(f"liteagent api: {exc}", file=sys.stderr)
        return 2
    if (status := _check_catalog()) != 0:
        return status
    if (status := _check_encryption_key()) != 0:
        return status
    if (status := upgrade_before_serving(settings.database_url)) != 0:
        return status
    import uvicorn

    from liteagent.api.app import create_app
    from liteagent.server import create_handler

    handler = create_handler(settings)
    app = create_app(handler=handler, authenticator=authenticator, routers=(auth_router,))
    authenticator.install(app)
    limiter = api_rate_limiter(settings, handler.runtime)
    if limiter is not None:
        install_rate_limit(app, limiter)
    print(f"Management API on http://{args.host}:{args.port} (docs: /docs) …", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_catalog(_: argparse.Namespace) -> int:
    return _check_catalog()


def cmd_hello(args: argparse.Namespace) -> int:
    import openai

    key = args.api_key or os.environ.get("LITELLM_MASTER_KEY") or DEV_MASTER_KEY
    client = openai.OpenAI(base_url=args.base_url, api_key=key, timeout=120)
    try:
        models = [m.id for m in client.models.list().data]
        print("models:", ", ".join(models))
        resp = client.chat.completions.create(
            model=args.model, messages=[{"role": "user", "content": args.message}]
        )
    except openai.APIConnectionError:
        print(
            f"liteagent hello: cannot reach {args.base_url}: is the proxy running? "
            "Start it with `liteagent serve`, or pass --base-url.",
            file=sys.stderr,
        )
        return 1
    except openai.OpenAIError as exc:
        print(f"liteagent hello: {exc}", file=sys.stderr)
        return 1
    print(f"{args.model}: {resp.choices[0].message.content}")
    if resp.usage:
        print(
            f"usage: {resp.usage.prompt_tokens} prompt + {resp.usage.completion_tokens} "
            "completion tokens"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from liteagent.config import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="liteagent",
        description="Agents, RAG agents and workflows served as models behind a LiteLLM proxy.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the LiteLLM proxy with the LiteAgent catalog")
    serve.add_argument("--host", default=settings.host, help="default: LITEAGENT_HOST")
    serve.add_argument("--port", type=int, default=settings.port, help="default: LITEAGENT_PORT")
    serve.add_argument("--config", default="proxy_config.yaml")
    serve.set_defaults(func=cmd_serve)

    a2a = sub.add_parser("a2a", help="serve the catalog's entries as A2A agents")
    a2a.add_argument("--host", default=settings.host, help="default: LITEAGENT_HOST")
    a2a.add_argument("--port", type=int, default=4100)
    a2a.add_argument(
        "--public-url",
        default=None,
        help="the URL callers reach this server at, for the cards (default: the request's)",
    )
    a2a.set_defaults(func=cmd_a2a)

    catalog = sub.add_parser("catalog", help="validate the catalog and list its models")
    catalog.set_defaults(func=cmd_catalog)

    hello = sub.add_parser("hello", help="send one request to a running proxy")
    hello.add_argument("--base-url", default=f"http://127.0.0.1:{settings.port}/v1")
    hello.add_argument("--model", default="liteagent/assistant")
    hello.add_argument("--message", default="Say hello in one short sentence.")
    hello.add_argument("--api-key", default=None)
    hello.set_defaults(func=cmd_hello)

    from liteagent.ingest_cli import add_ingest_command

    add_ingest_command(sub)

    from liteagent.storage.db_cli import add_db_command

    add_db_command(sub, settings.database_url)

    from liteagent.tasks.cli import add_jobs_command

    add_jobs_command(sub)

    from liteagent.api.cli import add_api_command

    add_api_command(
        sub, default_url=settings.database_url, default_host=settings.host, serve=cmd_api
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    _load_env()
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
