"""Provider and resilience settings are read from the environment and documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from liteagent.config import Settings

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = {
    "ANTHROPIC_API_KEY": ("anthropic_api_key", "sk-ant-xyz-0123456789"),
    "ANTHROPIC_BASE_URL": ("anthropic_base_url", "http://gw:1/anthropic"),
    "OLLAMA_BASE_URL": ("ollama_base_url", "http://ollama:11434"),
    "NVIDIA_API_KEY": ("nvidia_api_key", "nvapi-0123456789"),
    "NVIDIA_BASE_URL": ("nvidia_base_url", "http://nim:8000/v1"),
    "OPENAI_COMPATIBLE_BASE_URL": ("openai_compatible_base_url", "http://vllm:8000/v1"),
    "OPENAI_COMPATIBLE_API_KEY": ("openai_compatible_api_key", "token-0123456789"),
    "LITEAGENT_LLM_MAX_RETRIES": ("llm_max_retries", "3"),
    "LITEAGENT_LLM_RETRY_INITIAL_DELAY": ("llm_retry_initial_delay", "0.25"),
    "LITEAGENT_LLM_RETRY_MAX_DELAY": ("llm_retry_max_delay", "4"),
    "LITEAGENT_CIRCUIT_FAILURE_THRESHOLD": ("circuit_failure_threshold", "2"),
    "LITEAGENT_CIRCUIT_RECOVERY_TIMEOUT": ("circuit_recovery_timeout", "15"),
}


def test_variables_are_read_and_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    documented = (ROOT / ".env.example").read_text()
    for name, (_, value) in VARIABLES.items():
        assert name in documented, f"{name} missing from .env.example"
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    for name, (field, value) in VARIABLES.items():
        got = getattr(settings, field)
        got = got.get_secret_value() if hasattr(got, "get_secret_value") else got
        assert str(got) == value or float(got) == float(value), name
    # Keys are secrets: printing the settings never shows them.
    assert "sk-ant-xyz-0123456789" not in repr(settings)
    assert "nvapi-0123456789" not in str(settings)


def test_blank_keys_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "")
    assert Settings(_env_file=None).anthropic_api_key is None
