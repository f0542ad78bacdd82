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
    """Benchmarks: each prints ratios measured side by side in one run and writes its table
    under benchmarks/results/ (docs/benchmarks.md)."""
    from pathlib import Path

    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.log(f"== {script}")
        session.run("uv", "run", "python", str(script), *session.posargs, external=True)
