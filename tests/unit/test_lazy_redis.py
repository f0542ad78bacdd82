"""Heavy SDKs load only where they are used: Redis where it is configured (ARCHITECTURE.md,
"Lifetimes"), the A2A and MCP SDKs on their first use."""

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


def test_the_proxy_composition_root_loads_no_a2a_or_mcp_sdk() -> None:
    """The A2A app is built on its first request and catalogs read MCP specs only: starting
    the proxy does not import either SDK."""
    code = (
        "import sys, liteagent.server\n"
        "loaded = [m for m in ('a2a.server', 'mcp', 'mcp.client') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
