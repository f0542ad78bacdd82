"""The openai SDK's transport failures, through either HTTP library it may speak with."""

from __future__ import annotations

import httpx
import pytest

from liteagent.errors import LLMTimeoutError, LLMUnavailableError
from liteagent.llm.openai_provider import map_openai_error

httpx2 = pytest.importorskip("httpx2")


@pytest.mark.parametrize("module", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_transport_failures_are_told_apart(module: object) -> None:
    cut = map_openai_error(module.RemoteProtocolError("peer closed"), "openai", "m")  # type: ignore[attr-defined]
    assert isinstance(cut, LLMUnavailableError)
    assert "ended before the answer was complete" in cut.message
    refused = map_openai_error(module.ConnectError("refused"), "openai", "m")  # type: ignore[attr-defined]
    assert isinstance(refused, LLMUnavailableError)
    assert "could not connect" in refused.message
    slow = map_openai_error(module.ReadTimeout("slow"), "openai", "m")  # type: ignore[attr-defined]
    assert isinstance(slow, LLMTimeoutError)


def test_a_wrapped_protocol_error_is_a_broken_stream() -> None:
    import openai

    request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    wrapped = openai.APIConnectionError(request=request)
    wrapped.__cause__ = httpx2.RemoteProtocolError("incomplete chunked read")
    error = map_openai_error(wrapped, "openai", "m")
    assert "ended before the answer was complete" in error.message
