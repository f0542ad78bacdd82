"""``/agents``: agents, RAG agents, workflows and Agno agents served as ``liteagent/<name>``,
and chatting with them (``/agents/{id}/chat``)."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from liteagent.api.dependencies import Agents
from liteagent.api.routes import ResourceId, errors
from liteagent.api.routes.resource import ResourceRoutes
from liteagent.api.schemas import AgentCreate, AgentUpdate, ChatRequest, ChatResponse

_routes = ResourceRoutes(Agents)
router = _routes.router
_routes.create(
    AgentCreate,
    "Define an agent; every replica serves it as ``liteagent/<name>`` within seconds.",
    409,
    422,
)
_routes.list_all("The caller's agents (an admin's: all).")
_routes.get("One agent, with whether it is served.")
_routes.update(
    AgentUpdate, "Change an agent; its cached runners are dropped on every replica.", 404, 409, 422
)
_routes.delete("Remove an agent: ``liteagent/<name>`` stops being served.", 404)


@router.post(
    "/{agent_id}/chat",
    response_model=ChatResponse,
    responses={
        **errors(404, 409, 422, 503),
        200: {
            "description": "The answer (JSON), or with `stream: true` server-sent events of "
            "OpenAI chat.completion.chunk objects ending with `data: [DONE]`.",
            "content": {"text/event-stream": {}},
        },
    },
)
async def chat_with_agent(
    agent_id: ResourceId, request: ChatRequest, service: Agents
) -> ChatResponse | StreamingResponse:
    """One turn with the agent, on the same path as a chat through the proxy."""
    if request.stream:
        events = _routes.found(await service.stream(agent_id, request), agent_id)
        return StreamingResponse(events, media_type="text/event-stream")
    answer: ChatResponse = _routes.found(await service.chat(agent_id, request), agent_id)
    return answer
