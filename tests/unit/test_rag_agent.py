"""RAGAgent: the agent engine with retrieval in front and citations behind."""

from __future__ import annotations

import json

from liteagent.agents import AgentState, AgentStatus
from liteagent.agents.llm_client import ProviderLLMClient
from liteagent.agents.rag_agent import (
    RAGAgent,
    RAGAgentConfig,
    RAGPipelineBuilder,
    create_rag_agent,
)
from liteagent.llm import ScriptedModel
from liteagent.rag.retriever import BM25Retriever
from liteagent.rag.types import Document

DOCS = [
    Document(
        id="h1",
        content="Employees get 25 vacation days per year.",
        metadata={"source": "handbook.md", "name": "handbook.md"},
    ),
    Document(
        id="h2",
        content="The office opens at 8 am and closes at 6 pm.",
        metadata={"source": "office.md", "name": "office.md"},
    ),
    Document(
        id="h3",
        content="Expense reports are due on the 5th of each month.",
        metadata={"source": "finance.md", "name": "finance.md"},
    ),
]


def agent_with(script: list, **kw) -> tuple[RAGAgent, ScriptedModel]:
    model = ScriptedModel(script)
    retriever = BM25Retriever(DOCS)
    agent = RAGAgent(
        RAGAgentConfig(
            agent_id="hb",
            purpose="Answer handbook questions.",
            retriever=retriever,
            llm_client=ProviderLLMClient(model),
            top_k=2,
            **kw,
        )
    )
    return agent, model


async def test_retrieves_once_cites_and_lists_sources() -> None:
    agent, model = agent_with(["You get 25 vacation days [1]."])
    state = agent.launch("How many vacation days do I get?")
    state = await agent.run_to_completion(state)
    assert state.status == AgentStatus.COMPLETED
    answer = state.final_answer
    assert answer.startswith("You get 25 vacation days [1].")
    assert "**Sources**\n1. `handbook.md`" in answer
    # the passages reached the model's system prompt, numbered
    system = model.calls[0][0][0]
    assert system.role == "system" and "[1] handbook.md" in system.content
    assert "25 vacation days" in system.content
    assert model.call_count == 1


async def test_state_with_retrieval_round_trips_and_is_not_retrieved_again() -> None:
    agent, model = agent_with(["Opens at 8 am [1]."])
    state = await agent.step(agent.launch("When does the office open?"))
    assert model.call_count == 0  # the first step only retrieved
    restored = AgentState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert agent.sources(restored)[0].name == "office.md"
    done = await agent.run_to_completion(restored)
    assert done.final_answer.startswith("Opens at 8 am [1].")
    assert done.metadata["rag"]["query"] == "When does the office open?"


async def test_sources_can_be_left_out() -> None:
    agent, _ = agent_with(["Due on the 5th [1]."], include_sources=False)
    done = await agent.run_to_completion(agent.launch("When are expense reports due?"))
    assert done.final_answer == "Due on the 5th [1]."


async def test_create_rag_agent_with_pipeline_builder() -> None:
    retriever = await RAGPipelineBuilder().with_documents(DOCS).build_retriever("bm25")
    model = ScriptedModel(["25 days [1]."])
    agent = await create_rag_agent("hb", "Answer.", retriever, ProviderLLMClient(model), top_k=1)
    done = await agent.run_to_completion(agent.launch("vacation days?"))
    assert "handbook.md" in done.final_answer
    assert len(agent.sources(done)) == 1
