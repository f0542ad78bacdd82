"""Start-up paths: LiteLLM's own command, and a malformed catalog refusing to start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.e2e.proxy import MASTER_KEY, make_project, run_proxy

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
