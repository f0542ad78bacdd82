"""The ``rag`` kind: answers from a knowledge base, citing its sources.

Knowledge bases are shared by every user of the entry (one per event loop, since their
connections belong to it). The sources an entry lists are ingested when the proxy starts; a
source that has not changed since the last run costs nothing. A request that arrives while the
ingestion still runs waits for it, with a status line in Open WebUI.
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from liteagent.catalog import ModelSpec, RagSpec
from liteagent.config import LOCAL_DEFAULT_MODEL, Settings
from liteagent.errors import LiteAgentError
from liteagent.llm import BaseLLMProvider, ChatOptions, LLMMessage, create_llm
from liteagent.log import get_logger
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import (
    RunEvent,
    RunFinished,
    SourcesEvent,
    StatusUpdate,
    TextDelta,
    UsageReport,
)
from liteagent.proxy.request_options import chat_options
from liteagent.proxy.runners.agent_chat import conversation
from liteagent.proxy.runners.base import user_scoped
from liteagent.rag import (
    AnswerDelta,
    AnswerFinished,
    AnswerUsage,
    KnowledgeBase,
    RagAnswerer,
    SourcesFound,
    create_chunker,
    openwebui_source_event,
)
from liteagent.rag.answer import strip_sources_section
from liteagent.rag.retriever import DEFAULT_RRF_K, DEFAULT_VECTOR_WEIGHT

__all__ = [
    "RagRunner",
    "answer_mode",
    "forget_ingestion",
    "knowledge_base_for",
    "schedule_knowledge_ingestion",
]

logger = get_logger(__name__)


class _LoopKnowledge:
    """The knowledge bases and ingestion tasks of one event loop."""

    def __init__(self) -> None:
        self.bases: dict[str, KnowledgeBase] = {}
        self.ingestions: dict[str, asyncio.Task[None]] = {}


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopKnowledge] = (
    weakref.WeakKeyDictionary()
)


def _state() -> _LoopKnowledge:
    loop = asyncio.get_running_loop()
    state = _per_loop.get(loop)
    if state is None:
        state = _per_loop[loop] = _LoopKnowledge()
    return state


def _base_dir(settings: Settings) -> Path:
    return Path(settings.catalog_path).resolve().parent


def _open(spec: RagSpec, settings: Settings) -> KnowledgeBase:
    state = _state()
    name = spec.knowledge_base_name
    kb = state.bases.get(name)
    if kb is None:
        chunker = create_chunker(
            spec.chunker, chunk_size=spec.chunk_size, chunk_overlap=spec.chunk_overlap
        )
        kb = KnowledgeBase.open(name, settings, embedder=spec.embedder, chunker=chunker)
        state.bases[name] = kb
    return kb


@asynccontextmanager
async def _ingestion_turn(name: str, settings: Settings) -> AsyncIterator[None]:
    """With a shared store (pgvector) and Redis, replicas ingest a knowledge base one at a time:
    the next one finds every source unchanged (fingerprints) and writes nothing."""
    if settings.pgvector_url is None or settings.redis_url is None:
        yield
        return
    from liteagent.runtime.redis_backends import RedisLockBackend
    from liteagent.runtime.redis_client import RedisClientWrapper

    redis = RedisClientWrapper(settings)
    try:
        async with RedisLockBackend(redis, lease=60, namespace="ingest").hold(name):
            yield
    finally:
        await redis.close()


async def _ingest(spec: RagSpec, settings: Settings) -> None:
    kb = _open(spec, settings)
    async with _ingestion_turn(kb.name, settings):
        await _ingest_now(spec, settings, kb)


async def _ingest_now(spec: RagSpec, settings: Settings, kb: KnowledgeBase) -> None:
    logger.info("knowledge_ingestion_started", kb=kb.name, sources=spec.sources)
    try:
        report = await kb.ingest_sources(spec.sources, settings, base_dir=_base_dir(settings))
    except LiteAgentError as exc:
        logger.warning("knowledge_ingestion_failed", kb=kb.name, error=exc.message)
        return
    for source, error in report.failures:
        logger.warning("knowledge_source_failed", kb=kb.name, source=source, error=error)
    logger.info("knowledge_ready", kb=kb.name, summary=report.summary())


def _start_ingestion(spec: RagSpec, settings: Settings) -> asyncio.Task[None] | None:
    if not spec.sources:
        return None
    state = _state()
    task = state.ingestions.get(spec.knowledge_base_name)
    if task is None:
        task = asyncio.get_running_loop().create_task(_ingest(spec, settings))
        state.ingestions[spec.knowledge_base_name] = task
    return task


def forget_ingestion(spec: RagSpec) -> bool:
    """Let the next request ingest the entry's sources again (after its definition or a data
    source it reads changed; unchanged sources cost nothing). An ingestion under way is left
    to finish. Returns whether a finished ingestion was forgotten."""
    try:
        state = _state()
    except RuntimeError:  # no running loop: nothing was ingested in one
        return False
    task = state.ingestions.get(spec.knowledge_base_name)
    if task is None or not task.done():
        return False
    del state.ingestions[spec.knowledge_base_name]
    return True


def schedule_knowledge_ingestion(specs: Iterable[ModelSpec], settings: Settings) -> int:
    """Start ingesting every RAG entry's sources in the running loop (no-op without one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return 0
    started = 0
    for spec in specs:
        if isinstance(spec, RagSpec) and _start_ingestion(spec, settings) is not None:
            started += 1
    return started


async def knowledge_base_for(spec: RagSpec, settings: Settings) -> KnowledgeBase:
    """The entry's knowledge base, after its start-up ingestion (started if need be)."""
    task = _start_ingestion(spec, settings)
    if task is not None:
        await asyncio.shield(task)
    return _open(spec, settings)


def _question_and_history(ctx: RequestContext) -> tuple[str, list[LLMMessage]]:
    messages = conversation(ctx, None)
    last_user = max(i for i, m in enumerate(messages) if m.role == "user")
    history = [
        LLMMessage(m.role, strip_sources_section(m.content or "")) if m.role == "assistant" else m
        for m in messages[:last_user]
    ]
    return messages[last_user].content or "", history


class RagRunner:
    """Retrieves, answers with citations, and emits Open WebUI source events."""

    def __init__(
        self,
        spec: RagSpec,
        settings: Settings,
        llm: BaseLLMProvider | None,
        options: ChatOptions,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.llm = llm
        self.options = options

    async def run(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        kb_name = self.spec.knowledge_base_name
        yield StatusUpdate(f"Searching the {kb_name} knowledge base…")
        kb = await knowledge_base_for(self.spec, self.settings)
        retriever = await kb.retriever(
            self.spec.retriever,
            vector_weight=self.spec.vector_weight
            if self.spec.vector_weight is not None
            else DEFAULT_VECTOR_WEIGHT,
            rrf_k=self.spec.rrf_k if self.spec.rrf_k is not None else DEFAULT_RRF_K,
        )
        answerer = RagAnswerer(
            retriever,
            self.llm,
            top_k=self.spec.top_k,
            system_prompt=self.spec.system_prompt,
            # this request's stop, top_p…; temperature and max_tokens are the runner's own
            options=dataclasses.replace(
                chat_options(ctx.options),
                temperature=self.options.temperature,
                max_tokens=self.options.max_tokens,
            ),
        )
        question, history = _question_and_history(ctx)
        async for step in answerer.stream(question, history):
            if isinstance(step, SourcesFound):
                count = len(step.sources)
                yield StatusUpdate(
                    f"Found {count} source{'s' if count != 1 else ''} in {kb_name}", done=True
                )
                yield SourcesEvent(tuple(openwebui_source_event(s) for s in step.sources))
            elif isinstance(step, AnswerDelta):
                yield TextDelta(step.text)
            elif isinstance(step, AnswerUsage):
                yield UsageReport(step.usage, model=step.model)
            elif isinstance(step, AnswerFinished):
                yield RunFinished(
                    finish_reason=step.finish_reason,
                    metadata={"answer_mode": step.mode, "cited": step.cited},
                )

    async def aclose(self) -> None:
        if self.llm is not None:
            await self.llm.aclose()


def answer_mode(spec: RagSpec, settings: Settings) -> Literal["generate", "extractive"]:
    """The entry's ``answer``; unset, extractive when it would use the bundled local model."""
    if spec.answer is not None:
        return spec.answer
    model = spec.model or settings.resolved_default_model()
    bundled = model == LOCAL_DEFAULT_MODEL and settings.local_model_path is None
    return "extractive" if bundled else "generate"


@user_scoped(lambda spec: False)  # holds no user state
def build_rag_runner(spec: RagSpec, ctx: RequestContext, settings: Settings) -> RagRunner:
    """Build the runner for a ``rag`` entry with the request's generation options."""
    options = chat_options(ctx.options, temperature=spec.temperature, max_tokens=spec.max_tokens)
    llm: BaseLLMProvider | None = None
    if answer_mode(spec, settings) == "generate":
        try:
            llm = create_llm(spec.model, settings=settings)
        except LiteAgentError as exc:
            # A RAG model still answers (extractively) when its LLM cannot be built.
            logger.warning("rag_llm_unavailable", model=spec.model_name, error=exc.message)
    return RagRunner(spec, settings, llm, options)
