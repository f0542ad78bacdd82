"""The engine imports Redis only where it is configured (ARCHITECTURE.md, "Lifetimes")."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_engine_and_models_import_no_redis() -> None:
    code = (
        "import sys, liteagent.agents, liteagent.llm, liteagent.rag, liteagent.workflows\n"
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.')))"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
