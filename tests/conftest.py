"""Shared fixtures. No test reaches the internet: litellm uses its bundled price map."""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("ENVIRONMENT", "test")

from collections.abc import Iterator

import pytest

from tests.servers.anthropic_wire import AnthropicWireServer
from tests.servers.http import serve_app
from tests.servers.ollama_wire import OllamaWireServer
from tests.servers.openai_wire import OpenAIWireServer


@pytest.fixture
def openai_server() -> Iterator[tuple[OpenAIWireServer, str]]:
    """A scripted OpenAI-wire server; yields (server, base URL ending in /v1)."""
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, f"{url}/v1"


@pytest.fixture
def anthropic_server() -> Iterator[tuple[AnthropicWireServer, str]]:
    """A scripted Anthropic Messages API server; yields (server, base URL)."""
    server = AnthropicWireServer()
    with serve_app(server.app) as url:
        yield server, url


@pytest.fixture
def ollama_server() -> Iterator[tuple[OllamaWireServer, str]]:
    """A scripted Ollama server; yields (server, base URL)."""
    server = OllamaWireServer()
    with serve_app(server.app) as url:
        yield server, url


@pytest.fixture(autouse=True)
def _fresh_llm_resilience_state() -> Iterator[None]:
    """Circuit breakers, shared fallback chains and rate limiters are process-wide: reset them
    so that one test's outage does not open another test's circuit."""
    from liteagent.llm.fallback import fallback_chains
    from liteagent.runtime import rate_limiters
    from liteagent.runtime.services import restore_process_defaults

    yield
    # a handler built with Redis settings installed Redis backends process-wide (breakers,
    # chain health, run control): the next test starts from the in-process defaults
    restore_process_defaults()
    fallback_chains.clear()
    rate_limiters.clear()
