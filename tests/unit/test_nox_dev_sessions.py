"""The nox dev sessions say what they need and stop cleanly where there is no Docker engine.

nox runs in a copy of the project's noxfile.py and compose.yaml, with a PATH that holds either
no ``docker`` at all, or a stand-in ``docker`` command that answers like a CLI without the
compose plugin, like one that cannot reach an engine, or like a working one (recording what it
was asked to run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_SESSIONS = ("dev_local_proxy", "dev_full", "dev", "dev_logs", "dev_stop", "dev_clean")

FAKE_DOCKER = """#!{python}
import json, os, sys
mode = os.environ["FAKE_DOCKER_MODE"]
args = sys.argv[1:]
if args[:2] == ["compose", "version"] and mode == "no-compose":
    print("docker: unknown command: docker compose", file=sys.stderr)
    print("", file=sys.stderr)
    print("Run 'docker --help' for more information", file=sys.stderr)
    sys.exit(1)
if args[:1] == ["info"] and mode == "no-engine":
    print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
          "Is the docker daemon running?", file=sys.stderr)
    sys.exit(1)
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "proxy": os.environ.get("LITELLM_PROXY_URL")}}) + "\\n")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("noxfile.py", "compose.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def run_nox(project: Path, session: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("NOX", "PYTEST"))}
    environ.update(env, PATH=path)
    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(project / "noxfile.py"), "-s", session],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fake_docker(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable))
    script.chmod(0o755)
    return str(bin_dir)


@pytest.mark.parametrize("session", [*DEV_SESSIONS, "dev-logs", "dev-stop", "dev-clean"])
def test_without_docker_each_session_fails_saying_what_it_needs(
    project: Path, tmp_path: Path, session: str
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = run_nox(project, session, str(empty))
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "needs a running Docker engine with the compose plugin" in out
    assert "`docker` is not on PATH" in out
    assert "nox -s proxy" in out
    assert "Traceback" not in out


def test_without_the_compose_plugin(project: Path, tmp_path: Path) -> None:
    log = tmp_path / "docker.log"
    done = run_nox(
        project, "dev_full", fake_docker(tmp_path), FAKE_DOCKER_MODE="no-compose",
        FAKE_DOCKER_LOG=str(log),
    )  # fmt: skip
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "the compose plugin is missing (docker: unknown command: docker compose)" in out
    assert not log.exists()  # nothing was started


def test_without_a_reachable_engine(project: Path, tmp_path: Path) -> None:
    log = tmp_path / "docker.log"
    done = run_nox(
        project, "dev_logs", fake_docker(tmp_path), FAKE_DOCKER_MODE="no-engine",
        FAKE_DOCKER_LOG=str(log),
    )  # fmt: skip
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "no Docker engine answers (Cannot connect to the Docker daemon" in out
    assert "Traceback" not in out


def test_without_env_file_compose_sessions_ask_for_it(project: Path, tmp_path: Path) -> None:
    log = tmp_path / "docker.log"
    path = fake_docker(tmp_path)
    done = run_nox(project, "dev_full", path, FAKE_DOCKER_MODE="ok", FAKE_DOCKER_LOG=str(log))
    assert done.returncode != 0
    assert "run `cp .env.example .env`" in done.stdout + done.stderr
    calls = [json.loads(line)["args"] for line in log.read_text().splitlines()]
    assert all(c[0] != "compose" or c[1] == "version" for c in calls)  # no `up`


def test_with_docker_the_sessions_run_compose(project: Path, tmp_path: Path) -> None:
    (project / ".env").write_text("LITELLM_MASTER_KEY=sk-test\n")
    log = tmp_path / "docker.log"
    path = fake_docker(tmp_path)
    env = {"FAKE_DOCKER_MODE": "ok", "FAKE_DOCKER_LOG": str(log), "LITEAGENT_PORT": "9001"}
    for session in ("dev_local_proxy", "dev_full", "dev_stop", "dev_clean"):
        done = run_nox(project, session, path, **env)
        assert done.returncode == 0, done.stdout + done.stderr
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    runs = [r for r in runs if r["args"][:2] not in (["compose", "version"], ["info", "--format"])]
    assert runs[0] == {
        "args": ["compose", "up", "--no-deps", "openwebui"],
        "proxy": "http://host.docker.internal:9001/v1",
    }
    assert runs[1] == {"args": ["compose", "up", "--build"], "proxy": "http://proxy:8890/v1"}
    profiles = ["--profile", "ollama", "--profile", "replica"]
    assert runs[2]["args"] == ["compose", *profiles, "down"]
    assert runs[3]["args"] == [
        "compose", *profiles, "down", "--volumes", "--remove-orphans", "--rmi", "local"
    ]  # fmt: skip


def test_format_session_needs_no_docker() -> None:
    source = (ROOT / "noxfile.py").read_text()
    body = source.split("def format(")[1].split("\n@nox.session")[0]
    assert "_require_docker" not in body and '"ruff", "format"' in body
