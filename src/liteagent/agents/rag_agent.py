"""RAG agents: the 12-factor agent with retrieval in front and citations behind.

``RAGAgent`` is a thin shell around ``Agent``: its first ``step`` retrieves passages for the
newest user message and records them in the run state (``state.metadata["rag"]``), every later
step is the agent's own reducer step with the numbered passages in the system prompt, and a
completed answer ends with a numbered **Sources** list. The state stays plain JSON, so a RAG run
pauses, persists and resumes exactly like any agent run; retrieval is never repeated for a run.

Example::

    retriever = await RAGPipelineBuilder().with_documents(docs).build_retriever("hybrid")
    agent = await create_rag_agent("handbook", "Answer questions about the handbook.",
                                   retriever, llm_client=client)
    state = await agent.run_to_completion(agent.launch("How many vacation days do I get?"))
    print(state.final_answer)   # "... 25 days [1].\\n\\n**Sources**\\n1. `handbook.md`"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from liteagent.agents.state import AgentState
from liteagent.agents.twelve_factor_agent import (
    Agent,
    AgentConfig,
    HumanCallback,
    LLMClient,
    drive_to_completion,
)
from liteagent.agents.types import AgentStatus, AgentStep, StepType, ToolDefinition
from liteagent.rag.answer import (
    DEFAULT_INSTRUCTIONS,
    CitedSource,
    group_sources,
    sources_context,
    sources_markdown,
)
from liteagent.rag.pipeline import RAGPipelineBuilder
from liteagent.rag.retriever import Retriever
from liteagent.rag.types import Document, SearchResult

__all__ = ["RAGAgent", "RAGAgentConfig", "RAGPipelineBuilder", "create_rag_agent"]

_RAG_KEY = "rag"


@dataclass
class RAGAgentConfig:
    """How a RAG agent behaves.

    Attributes:
        agent_id: Name of the agent.
        purpose: What the agent is for (the start of its system prompt).
        retriever: Finds passages for a question.
        llm_client: The model (the seeds' ``LLMClient``).
        tools: Extra tools, as for ``AgentConfig``.
        max_iterations: LLM calls one run may make.
        top_k: Passages retrieved per question.
        include_sources: End the final answer with the numbered Sources list.
        max_context_chars: Budget for passage text in the system prompt.
        agent_options: Further ``AgentConfig`` fields (memory, max_execution_time, …).
    """

    agent_id: str
    purpose: str
    retriever: Retriever
    llm_client: LLMClient | None = None
    tools: list[ToolDefinition | Any] = field(default_factory=list)
    max_iterations: int = 10
    top_k: int = 5
    include_sources: bool = True
    max_context_chars: int = 6000
    agent_options: dict[str, Any] = field(default_factory=dict)


def _hit_to_json(hit: SearchResult) -> dict[str, Any]:
    doc = hit.document
    return {
        "document": {"id": doc.id, "content": doc.content, "metadata": dict(doc.metadata)},
        "score": float(hit.score),
        "rank": int(hit.rank),
    }


def _hit_from_json(data: dict[str, Any]) -> SearchResult:
    doc = data["document"]
    return SearchResult(
        document=Document(id=doc["id"], content=doc["content"], metadata=dict(doc["metadata"])),
        score=float(data["score"]),
        rank=int(data["rank"]),
    )


class RAGAgent:
    """An ``Agent`` that answers from retrieved passages and cites them."""

    def __init__(self, config: RAGAgentConfig) -> None:
        self.config = config
        self._base = self._agent(config.purpose)

    def _agent(self, purpose: str) -> Agent:
        cfg = self.config
        return Agent(
            AgentConfig(
                agent_id=cfg.agent_id,
                purpose=purpose,
                tools=list(cfg.tools),
                max_iterations=cfg.max_iterations,
                llm_client=cfg.llm_client,
                **cfg.agent_options,
            )
        )

    # ------------------------------------------------------------------ lifecycle
    def launch(
        self,
        user_message: str,
        *,
        history: Sequence[dict[str, Any]] = (),
        metadata: dict[str, Any] | None = None,
    ) -> AgentState:
        """Start a run; passages are retrieved by the first ``step``."""
        return self._base.launch(user_message, history=history, metadata=metadata)

    def pause(self, state: AgentState) -> AgentState:
        return self._base.pause(state)

    def resume(self, state: AgentState) -> AgentState:
        return self._base.resume(state)

    def provide_human_response(
        self, state: AgentState, response: str, approved: bool = True
    ) -> AgentState:
        return self._base.provide_human_response(state, response, approved)

    def sources(self, state: AgentState) -> list[CitedSource]:
        """The numbered sources retrieved for this run (empty before the first step)."""
        rag = state.metadata.get(_RAG_KEY) or {}
        return group_sources([_hit_from_json(h) for h in rag.get("hits", [])])

    # ------------------------------------------------------------------ steps
    async def step(self, state: AgentState) -> AgentState:
        """Retrieve once per run, then one step of the underlying agent."""
        if state.status not in (AgentStatus.IDLE, AgentStatus.RUNNING):
            return state.copy()
        if _RAG_KEY not in state.metadata:
            return await self._retrieve(state)
        new = await self._agent(self._purpose(state)).step(state)
        if new.status == AgentStatus.COMPLETED and self.config.include_sources:
            new = self._append_sources(new)
        return new

    async def run_to_completion(
        self, state: AgentState, human_callback: HumanCallback | None = None
    ) -> AgentState:
        """Step until the run ends or waits for a person no callback answers."""
        return await drive_to_completion(
            self.step, self._base.provide_human_response, state, human_callback
        )

    async def _retrieve(self, state: AgentState) -> AgentState:
        s = state.copy()
        question = s.last_step(StepType.USER_MESSAGE)
        query = str(question.content) if question is not None else ""
        result = await self.config.retriever.retrieve(query, limit=self.config.top_k)
        s.metadata[_RAG_KEY] = {
            "query": query,
            "strategy": result.strategy,
            "hits": [_hit_to_json(h) for h in result.documents],
        }
        return s

    def _purpose(self, state: AgentState) -> str:
        context = sources_context(self.sources(state), self.config.max_context_chars)
        return f"{self.config.purpose}\n\n{DEFAULT_INSTRUCTIONS}\n\nSources:\n\n{context}"

    def _append_sources(self, state: AgentState) -> AgentState:
        sources = self.sources(state)
        last = state.last_step(StepType.ASSISTANT_MESSAGE)
        if not sources or last is None or last.metadata.get("sources_appended"):
            return state
        s = state.copy()
        index = max(i for i, st in enumerate(s.steps) if st.step_type == StepType.ASSISTANT_MESSAGE)
        old = s.steps[index]
        s.steps[index] = AgentStep(
            old.step_type,
            str(old.content).rstrip() + sources_markdown(sources),
            old.timestamp,
            {**old.metadata, "sources_appended": True},
        )
        return s


async def create_rag_agent(
    agent_id: str,
    purpose: str,
    retriever: Retriever,
    llm_client: LLMClient | None = None,
    tools: list[ToolDefinition | Any] | None = None,
    **kwargs: Any,
) -> RAGAgent:
    """Build a ``RAGAgent``; ``kwargs`` are further ``RAGAgentConfig`` fields."""
    return RAGAgent(
        RAGAgentConfig(
            agent_id=agent_id,
            purpose=purpose,
            retriever=retriever,
            llm_client=llm_client,
            tools=list(tools or []),
            **kwargs,
        )
    )
