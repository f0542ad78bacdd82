"""The A2A executor: one A2A message is one chat turn of the same handler path as the proxy's.

``LiteAgentExecutor.execute`` turns the A2A request into a ``RequestContext`` — the caller's
identity (set by the server's authentication), the A2A ``contextId`` as the chat id, the
conversation so far (the messages of this context's earlier tasks, kept by the A2A task store)
and the new message — and runs it through ``LiteAgentLLM.events``: the same runners, run store,
locks and credential scrubbing as a chat request. So a pending approval or a workflow's human
step is answered by the next A2A message of the context, exactly as by the next chat message.

Events become A2A task updates: text streams as chunks of one ``answer`` artifact, progress and
finished tool calls as ``working`` status messages (tool calls with a data part), and the turn
ends ``completed`` (the answer as the status message), ``input-required`` (the run waits for an
approval or an answer) or ``failed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from a2a.helpers import get_message_text, new_task_from_user_message, new_text_message
from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskStore, TaskUpdater
from a2a.types import ListTasksRequest, Message, Role, Task, TaskState
from a2a.utils.errors import UnsupportedOperationError
from starlette.authentication import AuthCredentials

from liteagent.errors import LiteAgentError
from liteagent.log import get_logger
from liteagent.proxy.context import RequestContext as ChatContext
from liteagent.proxy.events import RunFinished, StatusUpdate, TextDelta, ToolStep

if TYPE_CHECKING:
    from liteagent.proxy import LiteAgentLLM

__all__ = ["A2AIdentity", "LiteAgentExecutor", "chat_id_for"]

logger = get_logger(__name__)

ANSWER_ARTIFACT = "answer"
WAITING = "waiting_human"
ANSWER_MARK = "liteagent_answer"


class A2AIdentity(AuthCredentials):
    """Who is calling, as the server's authentication established it.

    Args:
        principal: The key's owner, named as the proxy names it (the LiteLLM user id,
            ``team:<id>``, ``key:<hash>``).
        end_user: The person behind a gateway (LiteLLM's ``x-litellm-user-id``), if any.
        metadata: LiteLLM's key metadata (``user_api_key_user_id``, ``…_team_id``,
            ``…_hash``) the chat path reads identity from (default: the principal as user id).
    """

    def __init__(
        self,
        principal: str,
        end_user: str | None = None,
        metadata: Mapping[str, str | None] | None = None,
    ) -> None:
        super().__init__(["authenticated"])
        self.principal = principal
        self.end_user = end_user
        self.metadata = dict(metadata or {"user_api_key_user_id": principal})

    @property
    def user_key(self) -> str:
        return f"{self.principal}/{self.end_user}" if self.end_user else self.principal


def chat_id_for(context_id: str) -> str:
    """The chat id an A2A context maps to (runs of it are stored under this chat)."""
    return f"a2a-{context_id}"


def _role(message: Message) -> str:
    return "user" if message.role == Role.ROLE_USER else "assistant"


class LiteAgentExecutor(AgentExecutor):
    """Runs one catalog entry for A2A requests through the proxy's handler.

    Args:
        handler: The handler whose runners, run store and locks serve the requests.
        model: The entry's model name, ``liteagent/<name>``.
        task_store: The A2A task store (earlier turns of a context are read from it).
    """

    def __init__(self, handler: LiteAgentLLM, model: str, task_store: TaskStore) -> None:
        self.handler = handler
        self.model = model
        self.task_store = task_store

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        if message is None:
            raise UnsupportedOperationError("a message is required")
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        identity = context.call_context.state.get("auth")
        if not isinstance(identity, A2AIdentity):
            await updater.failed(self._say(updater, "Not authenticated."))
            return
        history = await self._history(task, message, context.call_context)
        try:
            chat = ChatContext.from_litellm(
                model=self.model,
                messages=[*history, {"role": "user", "content": get_message_text(message)}],
                litellm_params={
                    "metadata": {
                        **identity.metadata,
                        "headers": {"x-openwebui-chat-id": chat_id_for(task.context_id)},
                    },
                    "proxy_server_request": {"body": {"user": identity.end_user}},
                },
                stream=True,
                limits=self.handler.limits,
            )
            await self._run(chat, updater)
        except LiteAgentError as exc:  # bad input, storage down, upstream failed: said as such
            logger.warning("a2a_turn_failed", model=self.model, error=exc.error_code)
            await updater.failed(self._say(updater, exc.message))

    async def _run(self, chat: ChatContext, updater: TaskUpdater) -> None:
        text: list[str] = []
        status: str | None = None
        async for event in self.handler.events(chat):
            if isinstance(event, TextDelta) and event.text:
                await updater.add_artifact(
                    [new_text_part(event.text)],
                    artifact_id=ANSWER_ARTIFACT,
                    name=ANSWER_ARTIFACT,
                    append=bool(text),
                )
                text.append(event.text)
            elif isinstance(event, StatusUpdate) and not event.done:
                note = new_text_message(
                    event.description, context_id=updater.context_id, task_id=updater.task_id
                )
                await updater.update_status(TaskState.TASK_STATE_WORKING, note)
            elif isinstance(event, ToolStep):
                call = {
                    "name": event.name,
                    "arguments": _json(event.arguments),
                    "result": event.result,
                    "is_error": event.is_error,
                }
                said = f"{'Failed' if event.is_error else 'Ran'} {event.name}"
                parts = [new_text_part(said), new_data_part({"tool_call": call})]
                await updater.update_status(
                    TaskState.TASK_STATE_WORKING,
                    Message(
                        role=Role.ROLE_AGENT,
                        message_id=f"{updater.task_id}-{event.call_id}",
                        task_id=updater.task_id,
                        context_id=updater.context_id,
                        parts=parts,
                    ),
                )
            elif isinstance(event, RunFinished):
                status = event.metadata.get("status")
        answer = "".join(text).strip()
        if text:
            await updater.add_artifact(
                [new_text_part("")], artifact_id=ANSWER_ARTIFACT, append=True, last_chunk=True
            )
        if status == WAITING:
            await updater.requires_input(self._say(updater, answer))
        elif status == "failed":
            await updater.failed(self._say(updater, answer))
        else:
            await updater.complete(self._say(updater, answer))

    @staticmethod
    def _say(updater: TaskUpdater, text: str) -> Message:
        """A turn's answer (marked: only answers, not progress notes, join the history)."""
        message = new_text_message(text, context_id=updater.context_id, task_id=updater.task_id)
        message.metadata.update({ANSWER_MARK: True})
        return message

    async def _history(
        self, current: Task, message: Message, call: ServerCallContext
    ) -> list[dict[str, Any]]:
        """The context's conversation before ``message``: the turns of its earlier tasks (in
        the order they were last updated), then this task's own."""
        tasks: list[Task] = []
        token = ""
        while True:
            page = await self.task_store.list(
                ListTasksRequest(context_id=current.context_id, page_token=token), call
            )
            tasks.extend(t for t in page.tasks if t.id != current.id)
            token = page.next_page_token
            if not token:
                break
        tasks.sort(key=lambda t: t.status.timestamp.ToNanoseconds())
        stored = [await self.task_store.get(t.id, call) for t in tasks]
        history: list[dict[str, Any]] = []
        seen: set[str] = {message.message_id}
        for task in [*(t for t in stored if t is not None), current]:
            messages = list(task.history)
            if task.id != current.id and task.status.HasField("message"):
                messages.append(task.status.message)
            for item in messages:
                content = get_message_text(item)
                answer = item.role == Role.ROLE_USER or item.metadata.fields.get(ANSWER_MARK)
                if item.message_id in seen or not content or not answer:
                    continue
                seen.add(item.message_id)
                history.append({"role": _role(item), "content": content})
        return history

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Runs stop when their client goes away; A2A cancellation is not offered."""
        raise UnsupportedOperationError("cancelling a task is not supported")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
