"""Start the real LiteLLM proxy as a subprocess on a free port, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.servers.http import free_port

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-e2e-master-key-0123456789"
BIN = Path(sys.executable).parent


@dataclass
class Proxy:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def logs(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def make_project(tmp: Path, catalog: str | None = None) -> Path:
    """A folder laid out like the repository: config, stub and catalog."""
    for name in ("proxy_config.yaml", "custom_handler.py"):
        shutil.copy(ROOT / name, tmp / name)
    (tmp / "liteagent.yaml").write_text(catalog or (ROOT / "liteagent.yaml").read_text())
    return tmp


def proxy_env(env: dict[str, str]) -> dict[str, str]:
    """The proxy's environment: this one without provider or LiteAgent settings, plus ``env``."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "LITEAGENT_", "ANTHROPIC_"))
    }
    full_env.update(
        {
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LOG_FORMAT": "json",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "ENVIRONMENT": "development",
            "LITEAGENT_LOCAL_THREADS": "2",
            **env,
        }
    )
    return full_env


@contextmanager
def run_proxy(
    project: Path,
    env: dict[str, str],
    *,
    command: str = "serve",
    wait_for: str | None = None,
    timeout: float = 180.0,
) -> Iterator[Proxy]:
    port = free_port()
    log_path = project / f"proxy-{port}.log"
    full_env = proxy_env(env)
    if command == "serve":
        argv = [str(BIN / "liteagent"), "serve", "--port", str(port)]
    else:
        argv = [
            str(BIN / "litellm"),
            "--config",
            "proxy_config.yaml",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    log = log_path.open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=project,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proxy = Proxy(f"http://127.0.0.1:{port}", log_path, proc)
    try:
        _wait_ready(proxy, wait_for, timeout)
        yield proxy
    finally:
        _stop(proc)
        log.close()


def _wait_ready(proxy: Proxy, wait_for: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"proxy exited early:\n{proxy.log_text()[-4000:]}")
        try:
            r = httpx.get(f"{proxy.base_url}/v1/models", headers=headers, timeout=2)
            if r.status_code == 200:
                ids = {m["id"] for m in r.json()["data"]}
                if wait_for is None or wait_for in ids:
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"proxy not ready in {timeout}s:\n{proxy.log_text()[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
