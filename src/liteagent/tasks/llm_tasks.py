"""LLM jobs: a chat answered in the background, batch embeddings, conversation summaries."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from liteagent.log import get_logger
from liteagent.tasks.base import PermanentJobError

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = ["batch_embed_documents", "process_chat_async", "summarize_conversation"]

logger = get_logger(__name__)

_handlers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)

SUMMARY_PROMPT = (
    "Summarise the conversation below for someone who did not read it: the user's goal, what "
    "was decided or answered, and anything still open. Plain prose, no preamble."
)


async def process_chat_async(
    agent_id: str, messages: list[dict[str, Any]], user_id: str, *, settings: Settings
) -> dict[str, Any]:
    """Answer a chat with a catalog model, exactly as the proxy would, in the background.

    The request goes through LiteAgent's LiteLLM handler (``liteagent/<agent_id>``), so the
    agent, RAG agent or workflow runs with its tools, limits and per-user state; ``user_id``
    is the user the run belongs to (as LiteLLM's ``user_api_key_user_id`` of a proxy request).

    Returns:
        The OpenAI chat-completion response as a dict.

    Raises:
        PermanentJobError: ``agent_id`` is not in the catalog.
    """
    import litellm

    from liteagent.catalog import load_catalog
    from liteagent.server import create_handler

    catalog = load_catalog(settings.catalog_path)
    if agent_id not in catalog.entries:
        raise PermanentJobError(
            f"'{agent_id}' is not a model of the catalog; available: "
            + ", ".join(sorted(catalog.entries))
        )
    # One handler per event loop and catalog: building one loads the catalog and ingests its
    # knowledge bases, which a worker must not repeat for every chat.
    loop_handlers = _handlers.setdefault(asyncio.get_running_loop(), {})
    key = str(settings.catalog_path)
    handler = loop_handlers.get(key)
    if handler is None:
        handler = loop_handlers[key] = create_handler()
    litellm.custom_provider_map = [{"provider": "liteagent", "custom_handler": handler}]
    litellm.utils.custom_llm_setup()  # type: ignore[no-untyped-call]
    response = await litellm.acompletion(
        model=f"liteagent/{agent_id}",
        messages=messages,
        # The identity the proxy would attach to an authenticated request of this user.
        metadata={"user_api_key_user_id": user_id},
    )
    data: dict[str, Any] = response.model_dump(exclude_none=True)
    return data


async def batch_embed_documents(
    documents: list[str], model: str = "local", *, settings: Settings
) -> list[list[float]]:
    """Embed many texts at once with an embedder of ``liteagent.rag``.

    Args:
        documents: The texts.
        model: ``<provider>[/<model>]`` as in ``LITEAGENT_EMBEDDER`` (``local``,
            ``openai/text-embedding-3-small``…).
    """
    from liteagent.rag import create_embedder

    if not documents:
        return []
    embedder = create_embedder(model, settings=settings)
    if not embedder.dimension:
        raise PermanentJobError(f"The embedder '{model}' makes no vectors.")
    try:
        return await embedder.embed_documents(list(documents))
    finally:
        await embedder.aclose()


def _transcript(states: list[Any]) -> str:
    from liteagent.agents.types import StepType

    lines: list[str] = []
    for state in states:
        for step in state.steps:
            if step.step_type == StepType.USER_MESSAGE:
                lines.append(f"User: {step.content}")
            elif step.step_type == StepType.ASSISTANT_MESSAGE:
                lines.append(f"Assistant: {step.content}")
    return "\n".join(lines)


async def summarize_conversation(
    conversation_id: str, max_tokens: int = 500, *, settings: Settings
) -> str:
    """Summarise a stored conversation with the default model.

    Args:
        conversation_id: The conversation's session key as stored with its runs
            (``<user>:chat:<chat id>``, see ``RequestContext.session_key``).
        max_tokens: Longest summary.

    Raises:
        PermanentJobError: No stored run belongs to that conversation.
    """
    from sqlalchemy import select

    from liteagent.agents.state import AgentState
    from liteagent.catalog import load_catalog
    from liteagent.llm import ChatOptions, create_provider
    from liteagent.storage.database import Database
    from liteagent.storage.models import AgentRunRecord

    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            rows = (
                await session.scalars(
                    select(AgentRunRecord)
                    .where(AgentRunRecord.session_key == conversation_id)
                    .order_by(AgentRunRecord.created_at)
                )
            ).all()
            states = [AgentState.from_json(r.state) for r in rows]
    finally:
        await database.engine.dispose()
    transcript = _transcript(states)
    if not transcript:
        raise PermanentJobError("No stored conversation has that id.")
    catalog = load_catalog(settings.catalog_path)
    llm = create_provider(
        settings.resolved_default_model(), settings=settings, providers=catalog.providers
    )
    try:
        answer = await llm.chat(
            [
                {"role": "system", "content": SUMMARY_PROMPT},
                {"role": "user", "content": transcript},
            ],
            ChatOptions(max_tokens=max_tokens, temperature=0.2),
        )
    finally:
        await llm.aclose()
    logger.info("conversation_summarized", chars=len(answer.content))
    return answer.content.strip()
