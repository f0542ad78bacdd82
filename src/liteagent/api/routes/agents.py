"""``/agents``: agents, RAG agents, workflows and Agno agents served as ``liteagent/<name>``,
and chatting with them (``/agents/{id}/chat``)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import StreamingResponse

from liteagent.api.dependencies import Agents
from liteagent.api.routes import ResourceId, errors
from liteagent.api.schemas import Agent, AgentCreate, AgentUpdate, ChatRequest, ChatResponse
from liteagent.errors import AgentNotFoundError

router = APIRouter(prefix="/agents", tags=["agents"])


def _missing(agent_id: str) -> AgentNotFoundError:
    return AgentNotFoundError(f"No agent '{agent_id}'.")


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409, 422))
async def create_agent(data: AgentCreate, service: Agents) -> Agent:
    """Define an agent; every replica serves it as ``liteagent/<name>`` within seconds."""
    return await service.create(data)


@router.get("", responses=errors())
async def list_agents(service: Agents) -> list[Agent]:
    """The caller's agents (an admin's: all)."""
    return await service.get_all()


@router.get("/{agent_id}", responses=errors(404))
async def get_agent(agent_id: ResourceId, service: Agents) -> Agent:
    """One agent, with whether it is served."""
    agent = await service.get_by_id(agent_id)
    if agent is None:
        raise _missing(agent_id)
    return agent


@router.patch("/{agent_id}", responses=errors(404, 409, 422))
async def update_agent(agent_id: ResourceId, data: AgentUpdate, service: Agents) -> Agent:
    """Change an agent; its cached runners are dropped on every replica."""
    agent = await service.update(agent_id, data)
    if agent is None:
        raise _missing(agent_id)
    return agent


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_agent(agent_id: ResourceId, service: Agents) -> Response:
    """Remove an agent: ``liteagent/<name>`` stops being served."""
    if not await service.delete(agent_id):
        raise _missing(agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
        events = await service.stream(agent_id, request)
        if events is None:
            raise _missing(agent_id)
        return StreamingResponse(events, media_type="text/event-stream")
    answer = await service.chat(agent_id, request)
    if answer is None:
        raise _missing(agent_id)
    return answer
