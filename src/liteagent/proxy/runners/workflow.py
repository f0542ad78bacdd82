"""The ``workflow`` kind: a workflow (``liteagent.workflows``) served as a chat model.

Each request is one turn of a conversation. The runner

1. loads the run stored for this chat (``RequestContext.session_key``) and checks it against
   the conversation the client sent (fingerprints of the user turns, as for agents: a
   regenerated or edited history does not match, so a stale question is never answered on
   another branch; a regenerated question closes the run that asked it);
2. either resumes a run waiting at a HUMAN node with the message as the answer, or launches a
   new run with ``input`` (the new message), ``history`` (earlier turns) and ``system`` (the
   client's system text) as variables;
3. steps the engine, streaming a status line per step, one finished block per node, the AGENT
   nodes' tool calls, and the final answer (live, token by token, when the node that writes it
   leads straight to END); a run that reaches a HUMAN node asks its question in the chat and is
   saved (compare-and-set on a row version), so the answer resumes it after a restart or on
   another replica, exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from liteagent.agents.builtin_tools import ToolContext
from liteagent.agents.tools import Tool
from liteagent.catalog import AgentSpec
from liteagent.catalog.assembly import build_tools
from liteagent.catalog.specs import WorkflowSpec
from liteagent.config import Settings
from liteagent.log import get_logger
from liteagent.mcp import McpToolsets
from liteagent.proxy.chunks import tool_block
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import (
    ReasoningDelta,
    RunEvent,
    RunFinished,
    StatusUpdate,
    TextDelta,
    ToolStep,
    UsageReport,
)
from liteagent.proxy.runners.agent_chat import ChatTurn, fingerprint, read_turn
from liteagent.proxy.runners.chat_session import ChatSession, StopReport
from liteagent.proxy.runners.workflow_render import (
    node_block,
    node_label,
    question_text,
    result_text,
)
from liteagent.runtime.background import cancel_and_wait
from liteagent.storage import NoteRepository, StaleRunError, get_database
from liteagent.workflows import (
    HumanResponseError,
    NodeType,
    WorkflowDefinition,
    WorkflowEngine,
    WorkflowState,
    WorkflowStatus,
)
from liteagent.workflows.agent_node import AgentNodeEvent, AgentNodeRunner
from liteagent.workflows.run_store import WORKFLOW_RUNS, StoredWorkflowRun, WorkflowRunStore

__all__ = ["WorkflowRunner", "build_workflow_runner", "definition_hash"]

logger = get_logger(__name__)

ALREADY_HANDLED = "This answer was already given, so nothing was run again."
CHANGED = "This workflow was changed since it asked you, so it starts again with your message."
CANCELLED = "Cancelled. Nothing else was run."
STOPPED_REASON = "Stopped by the user before it finished."
_CANCEL = {"cancel", "abort", "stop", "cancel it", "abort it"}


def definition_hash(definition: WorkflowDefinition) -> str:
    """A stable digest of the graph: a run saved under another graph is not resumed."""
    data = json.dumps(definition.to_dict(), sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def live_nodes(definition: WorkflowDefinition) -> frozenset[str]:
    """AGENT nodes whose answer is the run's result: every edge leads to an END node that reports
    the variable the node writes. Their text can be streamed while it is generated."""
    live: set[str] = set()
    for node in definition.nodes:
        if node.type is not NodeType.AGENT:
            continue
        output = node.config.get("output_variable", "output")
        edges = definition.get_outgoing_edges(node.id)
        targets = [definition.get_node(e.target) for e in edges]
        if edges and all(
            t is not None
            and t.type is NodeType.END
            and t.config.get("output_variable", "output") == output
            for t in targets
        ):
            live.add(node.id)
    return frozenset(live)


def waiting_question(
    definition: WorkflowDefinition, state: WorkflowState
) -> tuple[str, str, list[str] | None] | None:
    """(node id, prompt, options) of the first HUMAN node the run waits for, in graph order."""
    for node in definition.nodes:
        if state.waiting.get(node.id) == "human":
            out = state.get_node_execution(node.id).output_data
            options = out.get("options")
            return node.id, str(out.get("prompt") or ""), list(options) if options else None
    return None


_LEADING_MARKS = re.compile(r"[\s`'\"*]*")
_TRAILING_MARKS = re.compile(r"[\s`'\"*.!]*")


def normalise_answer(text: str, options: Sequence[str] | None) -> str:
    """The person's reply as an answer: an option's own spelling when it names one (ignoring
    case, quotes and trailing punctuation) or its number; otherwise the text as written."""
    reply = text.strip()
    if not options:
        return reply
    leading = _LEADING_MARKS.match(reply)
    bare = reply[leading.end() if leading else 0 :]
    trailing = _TRAILING_MARKS.match(bare[::-1])  # reversed: linear, unlike a search for $
    bare = bare[: len(bare) - (trailing.end() if trailing else 0)].lower()
    for option in options:
        if option.strip().lower() == bare:
            return option
    if bare.isdigit() and 1 <= int(bare) <= len(options):
        return options[int(bare) - 1]
    return reply


def _closed(state: WorkflowState, reason: str) -> WorkflowState:
    """A copy of ``state`` ended for good: ``FAILED`` with ``reason``, waiting for nothing."""
    closed = state.copy()
    closed.status = WorkflowStatus.FAILED
    closed.error = reason
    closed.current_nodes = []
    closed.waiting.clear()
    return closed


@dataclass(frozen=True)
class _Step:
    state: WorkflowState


@dataclass(frozen=True)
class _Done:
    pass


_Item = AgentNodeEvent | _Step | _Done | BaseException


class WorkflowRunner:
    """Runs one catalog workflow for one user (built once, cached, shared by that user's chats)."""

    def __init__(
        self,
        spec: WorkflowSpec,
        settings: Settings,
        *,
        nodes: AgentNodeRunner,
        store: WorkflowRunStore | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.definition = spec.definition
        self.digest = definition_hash(spec.definition)
        self.live = live_nodes(spec.definition)
        self.nodes = nodes
        self.store = store
        self.engine = WorkflowEngine()

    async def aclose(self) -> None:
        await self.nodes.aclose()

    async def run(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        session = _Session(self, ctx, await read_turn(ctx))
        async with aclosing(session.run()) as events:
            async for event in events:
                yield event


class _Session(ChatSession[WorkflowState, StoredWorkflowRun]):
    """One request's work on one conversation."""

    def __init__(self, runner: WorkflowRunner, ctx: RequestContext, turn: ChatTurn) -> None:
        super().__init__(
            ctx,
            turn,
            runner.store,
            runner.spec.name,
            WORKFLOW_RUNS,
            abort_poll_interval=runner.settings.abort_poll_interval,
        )
        self.runner = runner
        self.definition = runner.definition
        self.engine = runner.engine
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.context: dict[str, Any] = {
            "agent_runner": runner.nodes.with_events(self.queue.put_nowait)
        }
        self.resumed = False
        self.model: str | None = None
        self.live_node: str | None = None
        self.live_started = False
        self.streamed: set[str] = set()
        self.running_labels: tuple[str, ...] = ()  # the steps running now, for the person
        self.cut_off: tuple[str, ...] = ()  # the steps a stop cancelled while they ran

    # ------------------------------------------------------------------ text helpers
    def _block(self, text: str) -> TextDelta:
        sofar = "".join(self.emitted)
        return self._text(("\n" if sofar and not sofar.endswith("\n") else "") + text)

    def _finished(self, state: WorkflowState | None = None) -> RunFinished:
        metadata: dict[str, Any] = {"model": self.model}
        if state is not None:
            metadata["status"] = state.status.value
        return RunFinished(metadata=metadata)

    # ------------------------------------------------------------------ decide
    async def run(self) -> AsyncGenerator[RunEvent, None]:
        record = await self._load()
        prior = fingerprint(self.turn.history)
        answered = fingerprint(self.turn.with_message())
        state: WorkflowState | None = None
        if record is not None:
            saved = record.state
            waiting = (
                saved.status is WorkflowStatus.WAITING_HUMAN
                and waiting_question(self.definition, saved) is not None
            )
            if waiting and record.paused_fingerprint == prior:
                if saved.metadata.get("definition_hash") != self.runner.digest:
                    logger.info("workflow_run_superseded", workflow=self.name, reason="definition")
                    yield self._say(CHANGED)
                else:
                    async with aclosing(self._resume(record)) as events:
                        async for event in events:
                            yield event
                    return
            elif record.answer_fingerprint == answered:
                logger.info(
                    "workflow_answer_replayed", workflow=self.name, execution=saved.execution_id
                )
                yield self._say(ALREADY_HANDLED)
                if saved.status is WorkflowStatus.COMPLETED:
                    yield self._say(result_text(saved.result))
                yield self._finished(saved)
                return
            elif waiting and record.paused_fingerprint == answered:
                # regenerate of our question: the same user turns, so close it for good
                await self._supersede(record)
            elif waiting:
                logger.info("workflow_run_set_aside", workflow=self.name, reason="history")
        state = self.engine.launch(
            self.definition,
            {
                "input": self.turn.message,
                "history": self.turn.history,
                "system": "\n\n".join(self.turn.system),
            },
        )
        state.metadata["definition_hash"] = self.runner.digest
        if self.ctx.input_flags:  # the input checks the request matched (input_validation: flag)
            state.metadata["input_flags"] = list(self.ctx.input_flags)
        logger.info("workflow_run_started", workflow=self.name, execution=state.execution_id)
        async with aclosing(self._drive(state)) as events:
            async for event in events:
                yield event

    async def _supersede(self, record: StoredWorkflowRun) -> None:
        """Close a waiting run whose question is being regenerated, so a later message on the new
        branch (same user turns) cannot be taken as its answer."""
        logger.info("workflow_run_superseded", workflow=self.name, reason="history")
        assert self.store is not None
        record.state = _closed(record.state, "Superseded by a newer message.")
        record.paused_fingerprint = None
        try:
            await self.store.save(record, expected_version=record.version)
        except StaleRunError:  # someone else moved it on: nothing to close
            return

    async def _resume(self, record: StoredWorkflowRun) -> AsyncGenerator[RunEvent, None]:
        """Apply the person's reply to the waiting HUMAN node, then carry on running."""
        assert self.store is not None
        state = record.state
        question = waiting_question(self.definition, state)
        assert question is not None  # checked by the caller
        node_id, prompt, options = question
        answer = normalise_answer(self.turn.message, options)
        cancel = answer.lower().rstrip(".!") in _CANCEL and answer not in (options or [])
        if cancel:
            new = _closed(state, "Cancelled by the user.")
        else:
            try:
                new = await self.engine.provide_human_response(
                    self.definition, state, node_id, answer, self.context, run=False
                )
            except HumanResponseError as exc:
                async for event in self._ask_again(record, exc.message, prompt, options):
                    yield event
                return
        record.state = new
        record.answer_fingerprint = fingerprint(self.turn.with_message())
        record.paused_fingerprint = None
        try:
            await self.store.save(record, expected_version=record.version)
        except StaleRunError:
            logger.info("workflow_answer_ignored", workflow=self.name, node=node_id)
            yield self._say(ALREADY_HANDLED)
            yield self._finished()
            return
        self.resumed = True
        logger.info(
            "workflow_run_resumed",
            workflow=self.name,
            execution=new.execution_id,
            node=node_id,
            cancelled=cancel,
        )
        if cancel:
            yield StatusUpdate("Cancelled", done=True)
            yield self._say(CANCELLED)
            await self._save(new, final=True)
            yield self._finished(new)
            return
        node = self.definition.get_node(node_id)
        if node is not None:
            yield self._block(node_block(node, new.get_node_execution(node_id)))
        async with aclosing(self._drive(new)) as events:
            async for event in events:
                yield event

    async def _ask_again(
        self, record: StoredWorkflowRun, problem: str, prompt: str, options: list[str] | None
    ) -> AsyncGenerator[RunEvent, None]:
        assert self.store is not None
        yield StatusUpdate("Waiting for your answer", done=True)
        yield self._say(f"{problem[:1].upper()}{problem[1:].rstrip('.')}.")
        yield self._say(question_text(prompt, options))
        reply = {"role": "assistant", "content": "".join(self.emitted)}
        record.paused_fingerprint = fingerprint([*self.turn.with_message(), reply])
        try:
            await self.store.save(record, expected_version=record.version)
        except StaleRunError:
            logger.info("workflow_answer_ignored", workflow=self.name, reason="stale")
        yield self._finished(record.state)

    # ------------------------------------------------------------------ drive
    async def _produce(self, state: WorkflowState) -> None:
        try:
            async for current in self.engine.iterate(
                self.definition, state, self.context, self.runner.spec.max_steps
            ):
                self.queue.put_nowait(_Step(current))
            self.queue.put_nowait(_Done())
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            self.queue.put_nowait(exc)

    def _running(self, state: WorkflowState) -> StatusUpdate | None:
        self.running_labels = ()
        if state.status is WorkflowStatus.PENDING:
            self.live_node = None
            return StatusUpdate(f"Running {self.name}…")
        if state.status is not WorkflowStatus.RUNNING or not state.current_nodes:
            return None
        nodes = [self.definition.get_node(n) for n in state.current_nodes]
        labels = [node_label(n) for n in nodes if n is not None and n.type is not NodeType.END]
        self.running_labels = tuple(labels)
        only = state.current_nodes[0] if len(state.current_nodes) == 1 else None
        self.live_node = only if only in self.runner.live else None
        self.live_started = False
        return StatusUpdate(f"Running {', '.join(labels)}…") if labels else None

    def _finish_metadata(self) -> dict[str, object]:
        return {"model": self.model}

    async def _save_cancelled(self) -> StopReport:
        """The client went away (Open WebUI's Stop) or an abort arrived: the steps running are
        cancelled. A resumed run is saved as stopped, never left ``running``: its answer was
        applied and is not applied again; the next message starts a new run."""
        report = StopReport(interrupted=self.cut_off)
        record = self.stored
        if self.store is None or not self.resumed or record is None:
            return report
        if record.state.status is not WorkflowStatus.RUNNING:
            return StopReport(record.state.status.value, interrupted=self.cut_off)
        record.state = stopped = _closed(record.state, STOPPED_REASON)
        try:
            await self.store.save(record, expected_version=record.version)
        except StaleRunError:
            return report
        logger.info("workflow_run_cancelled", workflow=self.name, execution=stopped.execution_id)
        return StopReport(stopped.status.value, interrupted=self.cut_off)

    async def _drive_steps(self, state: WorkflowState) -> AsyncGenerator[RunEvent, None]:
        producer = asyncio.ensure_future(self._produce(state))
        previous = state
        try:
            if status := self._running(state):
                yield status
            while True:
                item = await self.queue.get()
                if isinstance(item, AgentNodeEvent):
                    for event in self._node_event(item):
                        yield event
                elif isinstance(item, _Step):
                    for event in self._after_step(previous, item.state):
                        yield event
                    previous = item.state
                    if status := self._running(previous):
                        yield status
                elif isinstance(item, _Done):
                    break
                else:
                    raise item
        finally:
            if not producer.done():
                self.cut_off = self.running_labels
                await cancel_and_wait(producer)
        async for event in self._finish(previous):
            yield event

    def _node_event(self, item: AgentNodeEvent) -> list[RunEvent]:
        events: list[RunEvent] = []
        live = item.node_id == self.live_node
        if item.llm is not None:
            llm = item.llm
            if llm.usage is not None:
                self.model = llm.model or self.model
                events.append(UsageReport(llm.usage, model=llm.model))
            if live and llm.reasoning:
                events.append(ReasoningDelta(llm.reasoning))
            if live and llm.text:
                if not self.live_started:
                    self.live_started = True
                    self.streamed.add(item.node_id)
                    events.append(self._say(llm.text.lstrip()))
                else:
                    events.append(self._text(llm.text))
        if item.tool is not None:
            tool = item.tool
            step = ToolStep(tool.call_id, tool.name, tool.arguments, tool.result, tool.is_error)
            sofar = "".join(self.emitted)
            # what the handler writes for it: the block, on a line of its own
            self.emitted.append(
                ("\n" if sofar and not sofar.endswith("\n") else "") + tool_block(step)
            )
            events.append(step)
        return events

    def _after_step(self, before: WorkflowState, after: WorkflowState) -> list[RunEvent]:
        events: list[RunEvent] = []
        for node_id in after.history[len(before.history) :]:
            node = self.definition.get_node(node_id)
            if node is None or node_id in self.streamed:
                continue
            block = node_block(node, after.get_node_execution(node_id))
            if block:
                events.append(self._block(block))
        return events

    async def _finish(self, state: WorkflowState) -> AsyncGenerator[RunEvent, None]:
        status = state.status
        question = waiting_question(self.definition, state)
        if status is WorkflowStatus.WAITING_HUMAN and question is not None:
            node_id, prompt, options = question
            yield StatusUpdate("Waiting for your answer", done=True)
            yield self._say(question_text(prompt, options))
            logger.info(
                "workflow_run_paused",
                workflow=self.name,
                execution=state.execution_id,
                node=node_id,
            )
            await self._save(state, final=True)
        elif status is WorkflowStatus.COMPLETED:
            yield StatusUpdate("Done", done=True)
            streamed = [n for n in self.streamed if n in state.node_executions]
            answer = state.result
            if not any(state.node_executions[n].output_data.get("response") == answer
                       for n in streamed):  # fmt: skip
                yield self._say(result_text(answer))
            logger.info(
                "workflow_run_completed",
                workflow=self.name,
                execution=state.execution_id,
                steps=state.step_count,
            )
            await self._save(state, final=True)
        else:
            reason = state.error or self._stuck_reason(state)
            yield StatusUpdate("Stopped", done=True)
            yield self._say(f"The workflow stopped: {reason}")
            logger.warning(
                "workflow_run_failed",
                workflow=self.name,
                execution=state.execution_id,
                status=status.value,
                error=reason,
            )
            await self._save(state, final=True)
        yield self._finished(state)

    @staticmethod
    def _stuck_reason(state: WorkflowState) -> str:
        events = sorted(k.removeprefix("event:") for k in state.waiting.values() if k != "human")
        if events:
            return f"it waits for the event {', '.join(events)}, which a chat cannot send."
        return f"it is {state.status.value}."

    async def _save(self, state: WorkflowState, *, final: bool = False) -> None:
        """Store the run when it waits for the person, or when it finished after an answer."""
        waiting = state.status is WorkflowStatus.WAITING_HUMAN
        if self.store is None or not (waiting or self.resumed):
            return
        record = self._record_for(state)
        await self._write(record, final=final, waiting=waiting)


def _tools_for(ctx: RequestContext, notes: NoteRepository) -> Any:
    def build(spec: AgentSpec) -> list[Tool]:
        return build_tools(spec, ToolContext(owner=ctx.user_key, notes=notes))

    return build


def build_workflow_runner(
    spec: WorkflowSpec, ctx: RequestContext, settings: Settings
) -> WorkflowRunner:
    """Build the runner for a ``workflow`` entry for the request's user and options."""
    database = get_database(settings.database_url)
    has_human = any(n.type is NodeType.HUMAN for n in spec.definition.nodes)
    nodes = AgentNodeRunner(
        agents=spec.agents,
        model=spec.model,
        node_models=spec.node_models,
        settings=settings,
        temperature=ctx.temperature if ctx.temperature is not None else spec.temperature,
        max_tokens=ctx.max_tokens if ctx.max_tokens is not None else spec.max_tokens,
        tools_for=_tools_for(ctx, NoteRepository(database)),
        mcp=McpToolsets(settings, ctx.user_key)
        if any(a.mcp_servers for a in spec.agents.values())
        else None,
    )
    store = WorkflowRunStore(database) if has_human else None
    return WorkflowRunner(spec, settings, nodes=nodes, store=store)
