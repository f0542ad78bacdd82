"""End to end: ``liteagent api`` standalone, as an operator runs it: users made with
``liteagent api create-user``, JWTs from ``/auth/token``, then the management API's resources
and a chat with an agent defined there; team scoping and the rate-limit status."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.e2e.proxy import BIN, make_project
from tests.servers.http import free_port, serve_app
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e]

CATALOG = """
models:
  yaml-bot:
    system_prompt: You are the YAML bot.
    model: openai/gpt-test
"""
PASSWORD = "correct horse battery staple 42"


def _env(project: Path, upstream: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "LITEAGENT_", "ANTHROPIC_"))
    }
    env.update(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "ENVIRONMENT": "development",
            "LOG_FORMAT": "json",
            "LITEAGENT_JWT_SECRET": "a-signing-secret-of-at-least-32-characters!",
            "LITEAGENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db",
            "OPENAI_API_KEY": "sk-upstream-0123456789abcdef",
            "OPENAI_BASE_URL": f"{upstream}/v1",
        }
    )
    return env


def _create_user(project: Path, env: dict[str, str], email: str, *extra: str) -> None:
    done = subprocess.run(
        [str(BIN / "liteagent"), "api", "create-user", "--email", email, *extra],
        cwd=project,
        env=env,
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@contextmanager
def _serve(project: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    log = (project / "api.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "liteagent"), "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (project / "api.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "liteagent api did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _token(base: str, email: str) -> dict[str, str]:
    r = httpx.post(f"{base}/auth/token", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_standalone_api_serves_agents_to_its_users(tmp_path: Path) -> None:
    server = OpenAIWireServer()
    with serve_app(server.app) as upstream:
        project = make_project(tmp_path, CATALOG)
        env = _env(project, upstream)
        _create_user(project, env, "admin@example.com", "--admin")
        _create_user(project, env, "ann@example.com", "--team", "red")
        _create_user(project, env, "bob@example.com", "--team", "blue")
        with _serve(project, env) as base:
            assert httpx.get(f"{base}/agents").status_code == 401
            assert httpx.get(f"{base}/docs").status_code == 200
            ann, bob = _token(base, "ann@example.com"), _token(base, "bob@example.com")
            r = httpx.post(
                f"{base}/agents",
                json={"name": "red-bot", "system_prompt": "Red team bot.", "model": "openai/x"},
                headers=ann,
            )
            assert r.status_code == 201, r.text
            agent = r.json()
            assert agent["owner"] == "team:red" and agent["status"] == "served"
            assert int(r.headers["x-ratelimit-limit"]) > 0
            server.reply_text("Hello from red")
            r = httpx.post(
                f"{base}/agents/{agent['id']}/chat", json={"message": "hi"}, headers=ann, timeout=60
            )
            assert r.status_code == 200 and r.json()["content"].strip() == "Hello from red"
            assert server.requests[-1]["body"]["messages"][0]["content"] == "Red team bot."
            # another team: as if it did not exist; the admin sees it
            assert httpx.get(f"{base}/agents/{agent['id']}", headers=bob).status_code == 404
            admin = _token(base, "admin@example.com")
            names = [a["name"] for a in httpx.get(f"{base}/agents", headers=admin).json()]
            assert names == ["red-bot"]
            status = httpx.get(f"{base}/meta/rate-limit-status", headers=ann).json()
            assert status["enforced_by"] == "liteagent" and status["limit"] > 0
            assert 0 <= status["remaining"] <= status["limit"]
