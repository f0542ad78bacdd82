"""The two paths a chat with an agent takes: through LiteLLM inside the proxy, or straight to
the handler standalone. Both end on the handler's normal path (turn lock, credential scrubbing,
cached runner, run store and approvals)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from litellm.types.utils import ModelResponse

from liteagent.api.principal import Principal
from liteagent.api.proxy_chat import ProxyChatGateway
from liteagent.api.schemas import ChatRequest, ChatResponse, ChatUsage
from liteagent.api.streaming import sse_events
from liteagent.proxy import LiteAgentLLM

__all__ = ["ChatPath", "GatewayPath", "HandlerPath"]


def _messages(request: ChatRequest) -> list[dict[str, str]]:
    messages = [m.model_dump() for m in request.history]
    messages.append({"role": "user", "content": request.message})
    return messages


def _options(request: ChatRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.max_tokens is not None:
        options["max_tokens"] = request.max_tokens
    return options


def _answer(model: str, request: ChatRequest, choice: Any, usage: Any) -> ChatResponse:
    def count(name: str) -> int:
        value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, 0)
        return int(value or 0)

    message = choice["message"] if isinstance(choice, Mapping) else choice.message
    content = message.get("content") if isinstance(message, Mapping) else message.content
    finish = choice.get("finish_reason") if isinstance(choice, Mapping) else choice.finish_reason
    return ChatResponse(
        model=model,
        content=content or "",
        finish_reason=finish,
        conversation_id=request.conversation_id,
        usage=ChatUsage(
            prompt_tokens=count("prompt_tokens"),
            completion_tokens=count("completion_tokens"),
            total_tokens=count("total_tokens"),
        ),
    )


# ----------------------------------------------------------------- standalone: the handler
def _handler_call(principal: Principal, model: str, request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments LiteLLM would pass, with the caller as LiteLLM's key metadata."""
    headers = {"x-openwebui-chat-id": request.conversation_id} if request.conversation_id else {}
    metadata: dict[str, Any] = {
        "user_api_key_user_id": principal.user_id,
        "user_api_key_team_id": principal.team_id,
        "user_api_key_hash": principal.subject,
        "headers": headers,
    }
    return {
        "litellm_params": {
            "metadata": metadata,
            "proxy_server_request": {"body": {"model": model}},
        },
        "optional_params": _options(request),
    }


class HandlerPath:
    """Standalone: chats go straight to the handler, as the caller.

    Args:
        handler: The handler serving the agents.
        principal: The caller, passed on as LiteLLM's key metadata.
    """

    def __init__(self, handler: LiteAgentLLM, principal: Principal) -> None:
        self.handler = handler
        self.principal = principal

    async def chat(self, model: str, request: ChatRequest) -> ChatResponse:
        """One turn through the handler's ``acompletion``."""
        response = await self.handler.acompletion(
            model,
            _messages(request),
            model_response=ModelResponse(),
            **_handler_call(self.principal, model, request),
        )
        return _answer(model, request, response.choices[0], getattr(response, "usage", None))

    async def stream(self, model: str, request: ChatRequest) -> AsyncIterator[str]:
        """One turn through the handler's ``astreaming``, as server-sent events."""
        chunks = self.handler.astreaming(
            model, _messages(request), **_handler_call(self.principal, model, request)
        )
        return await sse_events(chunks, model=model)


# ----------------------------------------------------------------- in the proxy: LiteLLM
def _gateway_call(
    model: str, request: ChatRequest, headers: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    body: dict[str, Any] = {"model": model, "messages": _messages(request), **_options(request)}
    forwarded = dict(headers)
    if request.conversation_id:
        forwarded["x-openwebui-chat-id"] = request.conversation_id
    return body, forwarded


class GatewayPath:
    """Inside the proxy: chats go through LiteLLM's ``/v1/chat/completions`` with the caller's
    key (its checks, budgets and spend logs apply).

    Args:
        gateway: The proxy's chat endpoint.
        headers: The caller's request headers (its key among them).
    """

    def __init__(self, gateway: ProxyChatGateway, headers: Mapping[str, str]) -> None:
        self.gateway = gateway
        self.headers = headers

    async def chat(self, model: str, request: ChatRequest) -> ChatResponse:
        """One turn through the proxy's ``/v1/chat/completions`` with the caller's key."""
        body, forwarded = _gateway_call(model, request, self.headers)
        answer, reply_headers = await self.gateway.complete(body, forwarded)
        reply = _answer(model, request, answer["choices"][0], answer.get("usage") or {})
        reply.litellm_call_id = reply_headers.get("x-litellm-call-id")
        return reply

    async def stream(self, model: str, request: ChatRequest) -> AsyncIterator[bytes]:
        """One streamed turn through the proxy: its server-sent events, as they come."""
        body, forwarded = _gateway_call(model, request, self.headers)
        return await self.gateway.stream(body, forwarded)


ChatPath = HandlerPath | GatewayPath
