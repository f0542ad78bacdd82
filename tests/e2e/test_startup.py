"""Start-up paths: ``liteagent serve`` from start to SIGTERM, LiteLLM's own command, and a
malformed catalog refusing to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from tests.e2e.proxy import MASTER_KEY, make_project, proxy_env, run_proxy
from tests.servers.http import free_port
from tests.servers.openai_wire import OpenAIWireServer

pytestmark = [pytest.mark.e2e, pytest.mark.local_llm]
BIN = Path(sys.executable).parent
TWO_MODELS = """models:
  assistant:
    system_prompt: You are helpful.
  poet:
    description: Writes short poems.
    max_tokens: 30
    system_prompt: You write very short poems.
"""
BROKEN = "models:\n  helper:\n    description: forgot the prompt\n"


def _alive_in_session(sid: int) -> list[psutil.Process]:
    """The processes of session ``sid`` that have not exited (zombies excluded)."""
    alive = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == sid and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


@pytest.fixture
def served(
    tmp_path: Path, openai_server: tuple[OpenAIWireServer, str]
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``liteagent serve`` with the demo catalog, its agents on the scripted OpenAI server;
    yields (process, base URL, log file). Whatever is left of its session is killed after."""
    _, upstream_url = openai_server
    project = make_project(tmp_path)
    env = proxy_env(
        {
            "OPENAI_API_KEY": "sk-upstream-0123456789",
            "OPENAI_BASE_URL": upstream_url,
            "LITEAGENT_DEFAULT_MODEL": "openai/gpt-test",
        }
    )
    port = free_port()
    log_path = project / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "liteagent"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, f"http://127.0.0.1:{port}", log_path
    finally:
        for leftover in _alive_in_session(process.pid):
            leftover.kill()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_answers_then_stops_cleanly_on_sigterm(
    served: tuple[subprocess.Popen[bytes], str, Path],
    openai_server: tuple[OpenAIWireServer, str],
) -> None:
    process, base_url, log_path = served
    upstream, _ = openai_server
    upstream.reply_text("Hello from the scripted model.", sticky=True)
    deadline = time.monotonic() + 180  # a bound on a hung start, not a speed check
    while True:
        assert process.poll() is None, f"exited early:\n{log_path.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"never live:\n{log_path.read_text()[-4000:]}"
        try:
            if httpx.get(f"{base_url}/health/liveliness", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)

    client = openai.OpenAI(
        base_url=f"{base_url}/v1", api_key=MASTER_KEY, timeout=120, max_retries=0
    )
    resp = client.chat.completions.create(
        model="liteagent/assistant", messages=[{"role": "user", "content": "Say hello."}]
    )
    assert resp.choices[0].message.content == "Hello from the scripted model."
    assert upstream.requests and upstream.requests[0]["body"]["model"] == "gpt-test"

    process.send_signal(signal.SIGTERM)  # the proxy alone, not its process group
    status = process.wait(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the signal: the status `litellm` ends with
    assert status == -signal.SIGTERM
    log = log_path.read_text()
    assert "Serving on http://127.0.0.1:" in log  # liteagent serve's own checks ran first
    assert "Application shutdown complete." in log
    assert _alive_in_session(process.pid) == []  # nothing of the proxy is left running


def test_plain_litellm_command_serves_every_catalog_model(tmp_path: Path) -> None:
    project = make_project(tmp_path, TWO_MODELS)
    with run_proxy(project, {}, command="litellm", wait_for="liteagent/poet") as proxy:
        client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=120)
        ids = {m.id for m in client.models.list().data}
        assert {"liteagent/assistant", "liteagent/poet"} <= ids
        resp = client.chat.completions.create(
            model="liteagent/poet", messages=[{"role": "user", "content": "A poem about tea."}]
        )
        assert resp.choices[0].message.content and resp.usage.completion_tokens > 0
        assert resp.usage.completion_tokens <= 30  # the entry's max_tokens applies


def test_serve_refuses_a_malformed_catalog(tmp_path: Path) -> None:
    project = make_project(tmp_path, BROKEN)
    result = subprocess.run(
        [str(BIN / "liteagent"), "serve", "--port", "1"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(BIN), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert result.returncode == 2
    assert "liteagent.yaml: models.helper.system_prompt: Field required" in result.stderr


def test_litellm_command_fails_at_start_with_a_malformed_catalog(tmp_path: Path) -> None:
    project = make_project(tmp_path, BROKEN)
    with pytest.raises(RuntimeError) as err, run_proxy(project, {}, command="litellm", timeout=90):
        pass
    assert "models.helper.system_prompt" in str(err.value)
