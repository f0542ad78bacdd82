"""Developer sessions. Every session runs inside the project's uv environment (`uv run`)."""

from __future__ import annotations

import os

import nox

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "test"]


@nox.session
def test(session: nox.Session) -> None:
    """The whole test suite (unit, integration, end-to-end)."""
    session.run("uv", "run", "pytest", *session.posargs, external=True)


@nox.session
def integration(session: nox.Session) -> None:
    """Integration and end-to-end tests only (real servers, real proxy)."""
    session.run(
        "uv", "run", "pytest", "tests/integration", "tests/e2e", *session.posargs, external=True
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.run("uv", "run", "ruff", "check", "src", "tests", "noxfile.py", external=True)
    session.run("uv", "run", "ruff", "format", "--check", "src", external=True)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.run("uv", "run", "mypy", external=True)


@nox.session
def eval(session: nox.Session) -> None:
    """Retrieval evaluation: recall@5 / nDCG@10 of BM25, vector and hybrid (docs/rag.md)."""
    session.run("uv", "run", "python", "benchmarks/rag_eval.py", *session.posargs, external=True)


@nox.session
def proxy(session: nox.Session) -> None:
    """Start the proxy with the demo catalog on 127.0.0.1:8890 (same as README)."""
    session.run("uv", "run", "liteagent", "serve", *session.posargs, external=True)


@nox.session
def hello(session: nox.Session) -> None:
    """Send one request to a running proxy (`nox -s proxy` in another terminal)."""
    session.run("uv", "run", "liteagent", "hello", *session.posargs, external=True)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite (docs/benchmarks.md): every measure side by side with its reference
    in one run; report and plots in benchmarks/results/. `nox -s bench -- --quick` for a first
    look."""
    session.run("uv", "run", "python", "benchmarks/run_all.py", *session.posargs, external=True)


# --- Container development stack (compose.yaml) ------------------------------------------------
# Each of these needs a Docker engine with the compose plugin; without one it stops with a
# message saying what is missing (and the proxy alone still runs with `nox -s proxy`).

NEEDS_DOCKER = (
    "needs a running Docker engine with the compose plugin (Docker Desktop, or Docker Engine "
    "with docker-compose-plugin)"
)


def _require_docker(session: nox.Session, purpose: str) -> None:
    """Stop the session with a clear message unless `docker compose` can reach an engine."""
    import shutil
    import subprocess

    hint = "Without Docker, run the proxy on this machine with `nox -s proxy`"
    docker = shutil.which("docker")
    if docker is None:
        session.error(f"{purpose} {NEEDS_DOCKER}: `docker` is not on PATH. {hint}")

    def check(*args: str) -> tuple[bool, str]:
        try:
            done = subprocess.run(
                [docker, *args], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
        output = (done.stderr or done.stdout).strip().splitlines()
        first = next((line for line in output if line.strip()), "")
        return done.returncode == 0, first.rstrip(".") or f"exit status {done.returncode}"

    ok, detail = check("compose", "version")
    if not ok:
        session.error(f"{purpose} {NEEDS_DOCKER}: the compose plugin is missing ({detail})")
    ok, detail = check("info", "--format", "{{.ServerVersion}}")
    if not ok:
        session.error(f"{purpose} {NEEDS_DOCKER}: no Docker engine answers ({detail}). {hint}")


def _require_env_file(session: nox.Session) -> None:
    from pathlib import Path

    if not Path(".env").is_file():
        session.error(
            "compose.yaml reads its passwords and keys from .env: run `cp .env.example .env`"
        )


def _compose_profiles() -> list[str]:
    from pathlib import Path

    import yaml

    services = yaml.safe_load(Path("compose.yaml").read_text())["services"]
    return sorted({p for s in services.values() for p in s.get("profiles", [])})


@nox.session
def dev_local_proxy(session: nox.Session) -> None:
    """Open WebUI in a container, using the proxy of `nox -s proxy` (needs a Docker engine).

    Open WebUI: http://localhost:3000 (OPENWEBUI_PUBLISHED_PORT).
    """
    _require_docker(session, "dev_local_proxy")
    _require_env_file(session)
    port = os.environ.get("LITEAGENT_PORT", "8890")
    env = {"LITELLM_PROXY_URL": f"http://host.docker.internal:{port}/v1"}
    session.log(f"Open WebUI will call the proxy at {env['LITELLM_PROXY_URL']}")
    session.run(
        "docker",
        "compose",
        "up",
        "--no-deps",
        "openwebui",
        *session.posargs,
        env=env,
        external=True,
    )


@nox.session
def dev_full(session: nox.Session) -> None:
    """The whole stack in containers (needs a Docker engine); `-- -d` detaches.

    Proxy, PostgreSQL + pgvector, Valkey, Open WebUI, Celery worker and beat.
    """
    _require_docker(session, "dev_full")
    _require_env_file(session)
    env = {"LITELLM_PROXY_URL": "http://proxy:8890/v1"}
    session.run("docker", "compose", "up", "--build", *session.posargs, env=env, external=True)


@nox.session
def dev(session: nox.Session) -> None:
    """Same as dev_full, the older name (needs a Docker engine)."""
    dev_full(session)


@nox.session(name="dev_logs")
def dev_logs(session: nox.Session) -> None:
    """Follow the stack's logs, `-- proxy` for one service (needs Docker)."""
    _require_docker(session, "dev_logs")
    session.run("docker", "compose", "logs", "--follow", *session.posargs, external=True)


@nox.session(name="dev_stop")
def dev_stop(session: nox.Session) -> None:
    """Stop and remove the stack's containers; the volumes stay (needs Docker)."""
    _require_docker(session, "dev_stop")
    profiles = [arg for p in _compose_profiles() for arg in ("--profile", p)]
    session.run("docker", "compose", *profiles, "down", *session.posargs, external=True)


@nox.session(name="dev_clean")
def dev_clean(session: nox.Session) -> None:
    """Remove the stack's containers, volumes and built image: all data (needs Docker)."""
    _require_docker(session, "dev_clean")
    profiles = [arg for p in _compose_profiles() for arg in ("--profile", p)]
    session.run(
        "docker", "compose", *profiles, "down", "--volumes", "--remove-orphans", "--rmi", "local",
        *session.posargs, external=True,
    )  # fmt: skip


# The seeds' spellings.
nox.session(name="dev-logs")(dev_logs)
nox.session(name="dev-stop")(dev_stop)
nox.session(name="dev-clean")(dev_clean)


@nox.session
def format(session: nox.Session) -> None:
    """ruff: fix what can be fixed automatically and format the code."""
    session.run("uv", "run", "ruff", "check", "--fix", "src", "tests", "noxfile.py", external=True)
    session.run("uv", "run", "ruff", "format", "src", "tests", "noxfile.py", external=True)
