"""Shared fixtures. No test reaches the internet: litellm uses its bundled price map."""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("ENVIRONMENT", "test")

from collections.abc import Iterator

import pytest

from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer


@pytest.fixture
def openai_server() -> Iterator[tuple[OpenAIWireServer, str]]:
    """A scripted OpenAI-wire server; yields (server, base URL ending in /v1)."""
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"
