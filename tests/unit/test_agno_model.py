"""The Agno model bridge: Agno's LiteLLM model class answering through our provider."""

from __future__ import annotations

from agno.agent import Agent

from liteagent.llm.testing import ScriptedModel
from liteagent.proxy.runners.agno_model import ProviderCompletionClient, agno_model, clean_tools


async def test_non_streaming_run_with_a_tool_call() -> None:
    provider = ScriptedModel(
        [{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}, "2 + 3 = 5"]
    )

    def add(a: int, b: int) -> int:
        """Add two numbers.

        Args:
            a: First number.
            b: Second number.
        """
        return a + b

    agent = Agent(
        model=agno_model(provider, temperature=0.1, max_tokens=50), tools=[add], telemetry=False
    )
    output = await agent.arun("what is 2+3?")
    assert output.content == "2 + 3 = 5"
    (_, options), (second, _) = provider.calls
    assert options.temperature == 0.1 and options.max_tokens == 50
    assert [t["function"]["name"] for t in options.tools] == ["add"]
    assert second[-1].role == "tool" and second[-1].content == "5"


def test_tools_lose_agnos_private_keys() -> None:
    tools = clean_tools(
        [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "d",
                    "parameters": {},
                    "requires_confirmation": False,
                    "external_execution": False,
                },
            }
        ]
    )
    assert tools == (
        {"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}},
    )


async def test_completion_response_shape() -> None:
    client = ProviderCompletionClient(ScriptedModel([{"content": "hi", "reasoning": "think"}]))
    response = await client.acompletion(messages=[{"role": "user", "content": "x"}])
    assert response.choices[0].message.content == "hi"
    assert response.choices[0].message.reasoning_content == "think"
    assert response.usage.completion_tokens == 1
