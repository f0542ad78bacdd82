"""A non-streaming request calls the model's ``chat``; only a streaming one streams from it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from liteagent.llm.base import ChatOptions, LLMChunk, LLMResponse, MessageLike
from liteagent.llm.testing import ScriptedModel
from tests.unit.test_agent_runner import Chat


@pytest.fixture
def modes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    chat, stream = ScriptedModel.chat, ScriptedModel.stream

    async def chat_spy(
        self: ScriptedModel, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> LLMResponse:
        seen.append("chat")
        return await chat(self, messages, options)

    def stream_spy(
        self: ScriptedModel, messages: Sequence[MessageLike], options: ChatOptions | None = None
    ) -> AsyncIterator[LLMChunk]:
        seen.append("stream")
        return stream(self, messages, options)

    monkeypatch.setattr(ScriptedModel, "chat", chat_spy)
    monkeypatch.setattr(ScriptedModel, "stream", stream_spy)
    return seen


async def test_a_non_streaming_request_does_not_stream_from_the_model(
    tmp_path: Path, modes: list[str]
) -> None:
    chat = Chat(tmp_path)
    chat.start(["Four.", "Five."], tools=[])
    assert await chat.say("2+2?") == "Four."
    assert modes == ["chat"]
    assert await chat.say("and 2+3?", stream=True) == "Five."
    assert modes == ["chat", "stream"]
