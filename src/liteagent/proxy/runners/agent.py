"""The ``agent`` kind: a 12-factor agent (``liteagent.agents``) served as a chat model.

Each request is one turn of a conversation. The runner

1. loads the run stored for this chat (``RequestContext.session_key``: the Open WebUI chat id,
   else a hash of the user, model and first message) and checks it against the conversation the
   client sent (fingerprints of the user turns, see ``agent_chat``);
2. either resumes the paused run with the person's reply ("approve" runs the stored calls as
   they were proposed, "reject" plus a reason feeds the reason back, "cancel" aborts), or
   launches a new run on the whole conversation (the agent's memory strategy trims it for the
   model). A pending approval is never dropped silently: a reply that does not follow it (the
   chat was edited or regenerated) is told so and the run keeps waiting; a run of another
   branch that takes the chat's place says what was dropped; "approve" with nothing pending
   says so;
3. steps the pure reducer, streaming text as the model writes it, a status while tools run and
   one finished tool block per call, and saves the state after every step that used tools, so a
   paused run survives restarts and answers are applied once (compare-and-set on a version).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from liteagent.agents import (
    Agent,
    AgentConfig,
    AgentState,
    AgentStatus,
    AgentStep,
    HumanRequestType,
    StepType,
    SummaryMemory,
    Tool,
    ToolCall,
    ToolDefinition,
)
from liteagent.agents.builtin_tools import ToolContext
from liteagent.agents.llm_client import LLMEvent, ProviderLLMClient
from liteagent.agents.memory import summarizer_for
from liteagent.agents.run_store import AGENT_RUNS, RunStore, StoredRun
from liteagent.agents.twelve_factor_agent import EXTERNAL_TOOL_CALLS, ToolChoice
from liteagent.catalog import AgentSpec
from liteagent.catalog.assembly import build_memory, build_tools
from liteagent.config import Settings
from liteagent.llm import BaseLLMProvider, ChatOptions, LLMToolCall, create_llm
from liteagent.log import get_logger
from liteagent.mcp import McpToolsets
from liteagent.proxy.context import RequestContext
from liteagent.proxy.events import (
    ClientToolCalls,
    ReasoningDelta,
    RunEvent,
    RunFinished,
    StatusUpdate,
    ToolStep,
    UsageReport,
)
from liteagent.proxy.request_options import chat_options
from liteagent.proxy.runners.agent_chat import (
    ChatTurn,
    fingerprint,
    is_approval_word,
    is_reply_word,
    parse_reply,
    read_turn,
)
from liteagent.proxy.runners.agent_stop import (
    ASK_AGAIN,
    FINISH_LATER,
    RUNNING_CALLS,
    at_last_approval,
    left_behind,
    tool_steps,
)
from liteagent.proxy.runners.base import user_scoped
from liteagent.proxy.runners.chat_session import START_AGAIN, ChatSession, StopReport
from liteagent.runtime.background import cancel_and_wait
from liteagent.runtime.metrics import metrics
from liteagent.storage import NoteRepository, StaleRunError, get_database

logger = get_logger(__name__)

ALREADY_HANDLED = "This request was already answered, so nothing was run again."
NOTHING_WAITING = "Nothing is waiting for your approval in this chat; nothing was run."
UNMATCHED = (
    "A request for your approval is waiting in this chat ({calls}), but your reply is not below "
    "it: the conversation changed since it was asked (an edited or regenerated message). "
    "Nothing was run. To run it, reply **approve** right below that request; to drop it, send "
    "a new message instead."
)
STOPPED_REASON = "Stopped by the user before it finished."
INTERRUPTED_REASON = "Interrupted, and not resumed: a newer message came first."
CALL_INTERRUPTED = (
    "Interrupted while running: this call may or may not have taken effect, and it was not run "
    "again. Tell the user, and let them check."
)
STOPPED = (
    "This request was stopped before it finished (the answer was interrupted), so nothing more "
    "was run. Send a new message to start again."
)
SUPERSEDED = (
    "_The request for your approval ({calls}) on another branch of this chat was dropped; "
    "nothing was run._"
)


def request_options(spec: AgentSpec, ctx: RequestContext) -> ChatOptions:
    """Generation options: the request's, else the catalog entry's."""
    return chat_options(ctx.options, temperature=spec.temperature, max_tokens=spec.max_tokens)


def client_tools(spec: AgentSpec, ctx: RequestContext) -> tuple[list[ToolDefinition], ToolChoice]:
    """The client's tools the model is offered (``client_tools: offer``), and the tool choice.

    With ``ignore`` (the default) none are offered: Open WebUI sends its own tools with every
    request, and it would run any call of them we returned. A ``tool_choice`` of ``none``
    offers none of the client's tools and lets the model call none of its own either.
    """
    choice = ctx.options.tool_choice
    if spec.client_tools != "offer" or choice == "none":
        return [], "none" if choice == "none" else spec.tool_choice
    tools = [
        ToolDefinition(
            name=t["function"]["name"],
            description=t["function"].get("description", ""),
            parameters=t["function"]["parameters"],
        )
        for t in ctx.options.tools
    ]
    return tools, spec.tool_choice if choice in (None, "auto") else choice


def _client_steps(exchange: list[dict[str, Any]], state: AgentState) -> AgentState:
    """The client's tool calls and results (``ChatTurn.tool_exchange``) as steps of ``state``."""
    s = state.copy()
    now = state.created_at
    names: dict[str, str] = {}
    for n, msg in enumerate(exchange):
        text = msg.get("content") if isinstance(msg.get("content"), str) else None
        if msg["role"] == "tool":
            call_id = str(msg.get("tool_call_id") or "")
            content = {
                "tool_call_id": call_id,
                "name": names.get(call_id, str(msg.get("name") or "")),
                "content": text or "",
            }
            s.add_step(AgentStep(StepType.TOOL_RESULT, content, now, {"is_error": False}))
            continue
        calls = msg.get("tool_calls") or []
        if not calls:
            if text:
                s.add_step(AgentStep(StepType.ASSISTANT_MESSAGE, text, now))
            continue
        for call in calls:
            fn = call["function"]
            raw = fn.get("arguments") or "{}"
            try:
                arguments = json.loads(raw)
            except json.JSONDecodeError:
                arguments = None
            if not isinstance(arguments, dict):
                arguments = {"_raw": raw}
            names[call["id"]] = fn["name"]
            meta: dict[str, Any] = {"batch": f"client-{n}", "client_tool": True}
            if text:
                meta["assistant_text"] = text
            step = ToolCall(call["id"], fn["name"], arguments).to_dict()
            s.add_step(AgentStep(StepType.TOOL_CALL, step, now, meta))
    return s


def _had_approval(state: AgentState) -> bool:
    return any(
        step.step_type == StepType.HUMAN_RESPONSE
        and step.metadata.get("request_type") == HumanRequestType.APPROVAL.value
        for step in state.steps
    )


def _interrupted(state: AgentState) -> bool:
    """Approved work was cut short (stopped, crashed, upstream failed) and can be finished."""
    return state.status in (AgentStatus.RUNNING, AgentStatus.PAUSED)


def _results(state: AgentState) -> int:
    return sum(1 for s in state.steps if s.step_type == StepType.TOOL_RESULT)


def _pending_calls(state: AgentState) -> str:
    """What a waiting run holds, named for the person: "`save_note`", or "a question to you"."""
    request = state.pending_request
    names = list(dict.fromkeys(c.name for c in request.tool_calls)) if request else []
    return ", ".join(f"`{n}`" for n in names) or "a question to you"


class AgentChatRunner:
    """Runs one catalog agent for one user (built once, cached, shared by that user's chats)."""

    def __init__(
        self,
        spec: AgentSpec,
        provider: BaseLLMProvider,
        options: ChatOptions,
        settings: Settings,
        *,
        tools: list[Tool] | None = None,
        store: RunStore | None = None,
        mcp: McpToolsets | None = None,
    ) -> None:
        self.spec = spec
        self.mcp = mcp  # the user's MCP sessions (liteagent.mcp), closed with the runner
        self.provider = provider
        self.options = options
        self.store = store
        self.abort_poll_interval = settings.abort_poll_interval
        self.client = ProviderLLMClient(provider, options)
        self.config = AgentConfig(
            agent_id=spec.name,
            purpose=spec.system_prompt,
            tools=list(tools or []),
            max_iterations=spec.max_iterations or settings.max_iterations,
            max_execution_time=spec.max_execution_time or settings.max_execution_time,
            memory=build_memory(spec, self.client),
            human_input_tool=spec.ask_human,
            tool_choice=spec.tool_choice,
            tool_timeout=settings.step_timeout,
        )

    async def aclose(self) -> None:
        if self.mcp is not None:
            await self.mcp.aclose()
        await self.provider.aclose()

    # ------------------------------------------------------------------ entry point
    async def run(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        offered, tool_choice = client_tools(self.spec, ctx)
        turn = await read_turn(ctx, client_tools=bool(offered))
        queue: asyncio.Queue[LLMEvent] = asyncio.Queue()
        purpose = "\n\n".join([self.spec.system_prompt.strip(), *turn.system])
        # the request's own options (stop, top_p, response_format…) for this request only
        client = ProviderLLMClient(
            self.provider, request_options(self.spec, ctx), profile=self.client.profile
        )
        memory = self.config.memory
        if isinstance(memory, SummaryMemory):
            # summaries are billed too: their usage joins the request's, their text does not
            usage_only = self.client.with_events(
                lambda e: (
                    queue.put_nowait(LLMEvent(usage=e.usage, model=e.model))
                    if e.usage is not None
                    else None
                )
            )
            memory = memory.with_summarizer(summarizer_for(usage_only))
        mcp_tools = await self.mcp.tools_for(self.spec) if self.mcp is not None else []
        agent = Agent(
            dataclasses.replace(
                self.config,
                tools=[*self.config.tools, *mcp_tools],
                purpose=purpose,
                llm_client=client.with_events(queue.put_nowait, stream=ctx.stream),
                memory=memory,
                external_tools=offered,
                tool_choice=tool_choice,
            )
        )
        session = _Session(self, ctx, turn, agent, queue)
        async with aclosing(session.run()) as events:
            async for event in events:
                yield event


class _Session(ChatSession[AgentState, StoredRun]):
    """One request's work on one conversation."""

    def __init__(
        self,
        runner: AgentChatRunner,
        ctx: RequestContext,
        turn: ChatTurn,
        agent: Agent,
        queue: asyncio.Queue[LLMEvent],
    ) -> None:
        # the client ran its tools: its messages hold the whole conversation, and a stored run
        # of this chat is not touched
        store = None if turn.tool_exchange else runner.store
        super().__init__(
            ctx,
            turn,
            store,
            runner.spec.name,
            AGENT_RUNS,
            abort_poll_interval=runner.abort_poll_interval,
        )
        self.runner = runner
        self.agent = agent
        self.queue = queue
        self.persist = False
        self.displaced: AgentState | None = None
        # the waiting state and its fingerprint an approval claimed, to give it back if the
        # client leaves before any approved work started
        self.claimed: tuple[AgentState, str | None] | None = None
        self.running_tools: asyncio.Future[AgentState] | None = None
        self.running_from: AgentState | None = None  # the state ``running_tools`` started from
        self.cut_off: tuple[str, ...] = ()  # calls a stop cancelled while they ran
        self.tools_started = False

    # ------------------------------------------------------------------ decide
    async def run(self) -> AsyncGenerator[RunEvent, None]:
        record = await self._load()
        prior = fingerprint(self.turn.history)
        answered = fingerprint(self.turn.with_message())
        message = self.turn.message
        model_id = self.runner.provider.model_id
        state: AgentState | None = None
        left: dict[str, str] | None = None  # what an unfinished run closed here had run
        if record is not None:
            s = record.state
            waiting = s.status == AgentStatus.WAITING_HUMAN and s.pending_request is not None
            # a request is answered right below it, or right below the answer a stop cut short
            # before any approved call started (the approval was given back)
            if waiting and prior in (record.paused_fingerprint, record.answer_fingerprint):
                result = await self._resume(record)
                if result is None:
                    yield self._say(ALREADY_HANDLED)
                    yield RunFinished(metadata={"model": model_id})
                    return
                state = result
                async for event in self._replay_new_steps(s, state):
                    yield event
            elif _interrupted(s) and (
                record.answer_fingerprint == answered
                or (record.answer_fingerprint == prior and is_approval_word(message))
            ):
                # the same reply again, or an approval right below the answer that was cut
                # short (a stop, a crash or an upstream failure): finish the approved work from
                # its last durable phase
                state = self._recover(s)
                record.answer_fingerprint = answered
                self.persist = True
                logger.info("agent_run_recovered", agent=self.name, run_id=s.run_id)
                # the calls that ran since the approval: the answer that ran them may have
                # been cut (Open WebUI's Stop) before it could show them
                async for event in self._replay_new_steps(at_last_approval(s), state):
                    yield event
            elif record.answer_fingerprint == answered:
                logger.info("agent_answer_replayed", agent=self.name, run_id=s.run_id)
                stopped = s.status == AgentStatus.ABORTED and s.error == STOPPED_REASON
                yield self._say(STOPPED if stopped else ALREADY_HANDLED)
                if s.final_answer:
                    yield self._say(s.final_answer)
                yield RunFinished(metadata={"model": model_id})
                return
            elif waiting and is_reply_word(message):
                # A reply meant for the waiting run, sent on another branch of the chat (the
                # history was edited or regenerated since we asked): say so, keep the run.
                logger.info("agent_reply_unmatched", agent=self.name, run_id=s.run_id)
                yield self._say(UNMATCHED.format(calls=_pending_calls(s)))
                yield RunFinished(metadata={"model": model_id})
                return
            elif (
                not waiting
                and is_approval_word(message)
                and record.final_fingerprint == prior
                and _had_approval(s)
            ):
                yield self._say(NOTHING_WAITING)
                yield RunFinished(metadata={"model": model_id})
                return
            elif _interrupted(s):
                # left unfinished and answered by something else than a retry: closed for good;
                # what it ran of the approved work is said (the person may never have seen it,
                # the model of the new run learns it from the history)
                await self._close(record, INTERRUPTED_REASON)
                if behind := left_behind(s):
                    note, left = behind
                    yield self._say(note + "\n\n")
            elif waiting and record.paused_fingerprint == answered:
                # Regenerate of our question: its branch cannot be told apart from the new one
                # by the user turns, so the waiting run is closed for good (a later reply on
                # this branch must not revive it); the new answer takes its place.
                await self._supersede(record)
            elif waiting:
                # A message on another branch (an earlier message was edited): the run keeps
                # waiting on its own branch until a run of this branch takes the chat's slot.
                logger.info("agent_run_set_aside", agent=self.name, run_id=s.run_id)
                self.displaced = s
        elif (
            is_approval_word(message)
            and not self.turn.history
            and any(t.requires_human_approval for t in self.runner.config.tools)
        ):
            yield self._say(NOTHING_WAITING)
            yield RunFinished(metadata={"model": model_id})
            return
        if state is None:
            # the input checks the request matched stay with the run (input_validation: flag)
            flags = {"input_flags": list(self.ctx.input_flags)} if self.ctx.input_flags else None
            history = [*self.turn.history, *([left] if left else [])]
            state = self.agent.launch(message, history=history, metadata=flags)
            if self.turn.tool_exchange:
                state = _client_steps(self.turn.tool_exchange, state)
            logger.info("agent_run_started", agent=self.name, run_id=state.run_id)
        async with aclosing(self._drive(state)) as events:
            async for event in events:
                yield event

    async def _supersede(self, record: StoredRun) -> None:
        """Close a waiting run whose question is being regenerated."""
        logger.info(
            "agent_run_superseded", agent=self.name, run_id=record.state.run_id, reason="regenerate"
        )
        await self._close(record, "Regenerated: superseded by a new answer.")

    def _recover(self, state: AgentState) -> AgentState:
        """An interrupted run, ready to go on: calls that were started but never reported are
        settled as interrupted (never run twice); finished results are kept."""
        if state.status == AgentStatus.PAUSED:
            state = self.agent.resume(state)
        started = [str(i) for i in state.metadata.get(RUNNING_CALLS) or ()]
        if started:
            state = self.agent.interrupt_calls(state, started, CALL_INTERRUPTED)
            state.metadata.pop(RUNNING_CALLS, None)
        return state

    async def _close(self, record: StoredRun, reason: str) -> None:
        """End a stored run for good (compare-and-set: if it moved on meanwhile, leave it)."""
        assert self.store is not None
        closed = StoredRun(
            session_key=record.session_key,
            agent=record.agent,
            state=self.agent.abort(record.state, reason),
            version=record.version,
        )
        with contextlib.suppress(StaleRunError):  # someone else moved it on: nothing to close
            await self.store.save(closed, expected_version=record.version)
            self.stored = closed

    async def _resume(self, record: StoredRun) -> AgentState | None:
        """Apply the person's reply; ``None`` when another request applied one first."""
        state = record.state
        request = state.pending_request
        assert request is not None
        reply = parse_reply(self.turn.message, request.request_type)
        if reply.kind == "abort":
            new = self.agent.abort(state, "Cancelled by the user.")
        else:
            new = self.agent.provide_human_response(
                state,
                reply.text,
                approved=reply.kind in ("approve", "answer"),
                request_id=request.request_id,
            )
        if self.ctx.input_flags:  # the reply matched input checks (input_validation: flag)
            flags = dict.fromkeys([*new.metadata.get("input_flags", ()), *self.ctx.input_flags])
            new.metadata = {**new.metadata, "input_flags": list(flags)}  # a copy: ``state`` stays
        self.claimed = (state, record.paused_fingerprint)
        record.state = new
        record.answer_fingerprint = fingerprint(self.turn.with_message())
        record.paused_fingerprint = None
        assert self.store is not None
        try:
            await self.store.save(record, expected_version=record.version)
        except StaleRunError:
            logger.info("agent_answer_ignored", agent=self.name, request_id=request.request_id)
            return None
        self.persist = True
        metrics.approval(reply.kind)  # approve | reject | answer | abort, counted once
        logger.info(
            "agent_run_resumed",
            agent=self.name,
            run_id=new.run_id,
            request_id=request.request_id,
            reply=reply.kind,
        )
        return new

    # ------------------------------------------------------------------ drive
    def _finish_metadata(self) -> dict[str, object]:
        return {"model": self.runner.provider.model_id}

    async def _save_cancelled(self) -> StopReport:
        """The client went away (Open WebUI's Stop), an abort arrived or the request failed.
        From the last durable phase of the stored run:

        - an approval claimed by this request with none of its work started is given back: the
          run waits for the approval again (answered again at the same point, or right below
          the answer the stop cut short);
        - approved work that started is kept, paused: calls that were running are let finish
          (never cut off halfway, their results kept), and the same reply again, or an approval
          right below, finishes the run (a started call is never run twice);
        - any other run is saved as stopped: the calls that were running are cancelled, nothing
          else of it runs.
        """
        finished: tuple[ToolStep, ...] = ()
        if self.running_tools is not None:
            # calls that started are finished and their results kept, never cut off halfway
            done = await self.running_tools
            if RUNNING_CALLS in done.metadata:
                done = done.copy()
                del done.metadata[RUNNING_CALLS]
            await self._save(done)
            before = self.running_from or done
            finished = tuple(tool_steps(before, done))
        record = self.stored
        if self.store is None or not self.persist or record is None:
            return StopReport(finished=finished, interrupted=self.cut_off)
        answer = record.answer_fingerprint
        for _ in range(2):
            if record.state.run_id != self.run_id or record.state.status.is_terminal:
                break
            event = self._settle(record)
            if event is None:
                break
            try:
                await self.store.save(record, expected_version=record.version or None)
            except StaleRunError:
                # Our own last write may have landed while the stop cut it short (its new
                # version never reached this record): decide again on what is stored, unless
                # another answer moved the run on.
                fresh = await self.store.load_run(session_key=self.key, owner=self.name)
                if fresh is None or fresh.answer_fingerprint != answer:
                    logger.info(
                        "agent_run_cancel_ignored", agent=self.name, run_id=record.state.run_id
                    )
                    return StopReport(finished=finished, interrupted=self.cut_off)
                record = self.stored = fresh
                continue
            logger.info(event, agent=self.name, run_id=record.state.run_id)
            break
        return self._report(record.state, finished)

    def _report(self, state: AgentState, finished: tuple[ToolStep, ...]) -> StopReport:
        """What a stop left of the run, saved as ``state`` (see ``_save_cancelled``)."""
        if state.run_id != self.run_id:
            return StopReport(finished=finished, interrupted=self.cut_off)
        if state.status == AgentStatus.WAITING_HUMAN and state.pending_request is not None:
            calls = tuple(c.name for c in state.pending_request.tool_calls)
            return StopReport(state.status.value, not_run=calls, next_step=ASK_AGAIN)
        if _interrupted(state):
            return StopReport(
                state.status.value,
                finished=finished,
                interrupted=self.cut_off,
                next_step=FINISH_LATER,
            )
        return StopReport(
            state.status.value, finished=finished, interrupted=self.cut_off, next_step=START_AGAIN
        )

    def _settle(self, record: StoredRun) -> str | None:
        """Change ``record`` as a stop at its phase requires; the event to log (``None``:
        nothing to change)."""
        if self.claimed is not None and not self._work_started(record.state):
            # the reply that claimed it stays the answer's fingerprint: a reply right below
            # the answer the stop cut short answers the request too
            record.state, record.paused_fingerprint = self.claimed
            return "agent_approval_given_back"
        if self.claimed is not None:
            if record.state.status == AgentStatus.PAUSED:
                return None
            record.state = self.agent.pause(record.state)
            return "agent_run_interrupted"
        record.state = self.agent.abort(record.state, STOPPED_REASON)
        record.paused_fingerprint = None
        return "agent_run_cancelled"

    def _work_started(self, stored: AgentState) -> bool:
        """Whether any approved call started since the approval was claimed (this process
        knows: a "calls running" mark saved just before a stop does not count)."""
        assert self.claimed is not None
        return self.tools_started or _results(stored) > _results(self.claimed[0])

    async def _drive_steps(self, state: AgentState) -> AsyncGenerator[RunEvent, None]:
        model_id = self.runner.provider.model_id
        while state.status == AgentStatus.RUNNING:
            names = ", ".join(dict.fromkeys(c.name for c in state.queued_tool_calls))
            if names:
                yield StatusUpdate(f"Running {names}…")
            if state.queued_tool_calls and self.persist and self.store is not None:
                # durable phase "calls running": a crash from here on never runs them twice
                marked = state.copy()
                marked.metadata[RUNNING_CALLS] = [c.id for c in state.queued_tool_calls]
                if not await self._save(marked):
                    async for event in self._lost(state):
                        yield event
                    return
                state = marked
            before = state
            self.tools_started = self.tools_started or bool(state.queued_tool_calls)
            result: list[AgentState] = []
            async for event in self._step(before, result):
                yield event
            state = result[0]
            if RUNNING_CALLS in state.metadata:  # durable phase "calls done" (saved below)
                state = state.copy()
                del state.metadata[RUNNING_CALLS]
            async for event in self._replay_new_steps(before, state):
                yield event
            if names:
                yield StatusUpdate(f"Ran {names}", done=True)
            if not state.metadata.get(EXTERNAL_TOOL_CALLS) and any(
                s.step_type == StepType.TOOL_CALL for s in state.steps[len(before.steps) :]
            ):
                self.persist = True  # (a call of the client's tools is the client's to keep)
            if self.persist and self.displaced is not None:
                # this run now takes the chat's slot: the one waiting on another branch goes
                yield self._say(SUPERSEDED.format(calls=_pending_calls(self.displaced)))
                logger.info(
                    "agent_run_superseded",
                    agent=self.name,
                    run_id=self.displaced.run_id,
                    reason="history",
                )
                self.displaced = None
            if not await self._save(state):
                async for event in self._lost(state):
                    yield event
                return
        async for event in self._finish(state):
            yield event
        finish = "stop"
        if calls := state.metadata.get(EXTERNAL_TOOL_CALLS):
            # the model called the client's tools: the client runs them and sends the results
            yield ClientToolCalls(
                tuple(
                    LLMToolCall(c["id"], c["name"], json.dumps(c["arguments"], ensure_ascii=False))
                    for c in calls
                )
            )
            finish = "tool_calls"
            logger.info(
                "agent_client_tools_called",
                agent=self.name,
                run_id=state.run_id,
                tools=[c["name"] for c in calls],
            )
        yield RunFinished(
            finish_reason=finish, metadata={"model": model_id, "status": state.status.value}
        )

    async def _lost(self, state: AgentState) -> AsyncGenerator[RunEvent, None]:
        """Another request moved this run on meanwhile (another replica): stop here; what that
        request does is the run's truth."""
        logger.info("agent_run_moved_on", agent=self.name, run_id=state.run_id)
        yield self._say(ALREADY_HANDLED)
        yield RunFinished(metadata={"model": self.runner.provider.model_id})

    async def _step(
        self, state: AgentState, out: list[AgentState]
    ) -> AsyncGenerator[RunEvent, None]:
        """Run ``agent.step`` while forwarding the model's deltas as they arrive."""
        task = asyncio.ensure_future(self.agent.step(state))
        try:
            while True:
                getter = asyncio.ensure_future(self.queue.get())
                done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    for event in self._llm_event(getter.result()):
                        yield event
                    continue
                getter.cancel()
                while not self.queue.empty():
                    for event in self._llm_event(self.queue.get_nowait()):
                        yield event
                out.append(task.result())
                return
        finally:
            if not task.done() and self._approved_running(state):
                # calls the person approved finish, never cut off halfway (see _save_cancelled)
                self.running_tools, self.running_from = task, state
            elif not task.done():
                # the model's stream and the other tools see the cancellation
                self.cut_off = tuple(c.name for c in state.queued_tool_calls)
                await cancel_and_wait(task)

    def _approved_running(self, state: AgentState) -> bool:
        """Whether the calls running in ``state`` include one that needed an approval."""
        approval = {t.name for t in self.agent.config.tools if t.requires_human_approval}
        return any(c.name in approval for c in state.queued_tool_calls)

    def _llm_event(self, event: LLMEvent) -> list[RunEvent]:
        events: list[RunEvent] = []
        if event.reasoning:
            events.append(ReasoningDelta(event.reasoning))
        if event.text:
            events.append(self._text(event.text))
        if event.usage is not None:
            events.append(UsageReport(event.usage, model=event.model))
        return events

    async def _replay_new_steps(
        self, before: AgentState, after: AgentState
    ) -> AsyncGenerator[RunEvent, None]:
        for step in tool_steps(before, after):
            yield step

    async def _finish(self, state: AgentState) -> AsyncGenerator[RunEvent, None]:
        status = state.status
        if status == AgentStatus.WAITING_HUMAN and state.pending_request is not None:
            request = state.pending_request
            waiting = {
                HumanRequestType.APPROVAL.value: "Waiting for your approval",
                HumanRequestType.INPUT.value: "Waiting for your answer",
            }.get(request.request_type, "Waiting for your guidance")
            yield StatusUpdate(waiting, done=True)
            yield self._say(request.message)
            logger.info(
                "agent_run_paused",
                agent=self.name,
                run_id=state.run_id,
                request_id=request.request_id,
                request_type=request.request_type,
            )
        elif status == AgentStatus.FAILED:
            yield self._say(f"I had to stop: {state.error}")
            logger.warning(
                "agent_run_failed", agent=self.name, run_id=state.run_id, error=state.error
            )
        elif status == AgentStatus.ABORTED:
            yield self._say("Cancelled. Nothing else was run.")
            logger.info("agent_run_aborted", agent=self.name, run_id=state.run_id)
        else:
            logger.info(
                "agent_run_completed",
                agent=self.name,
                run_id=state.run_id,
                iterations=state.current_iteration,
            )
        await self._save(state, final=True)

    async def _save(self, state: AgentState, *, final: bool = False) -> bool:
        """Store ``state``: a run's first write takes the chat's slot; later writes are
        compare-and-set. ``False`` when the stored run moved on meanwhile (never overwritten)."""
        if self.store is None or not self.persist:
            return True
        record = self._record_for(state)
        waiting = state.status == AgentStatus.WAITING_HUMAN
        return await self._write(record, final=final, waiting=waiting)


# Only an agent's tools know its user (notes, toolkits): without tools it is shared by all.
@user_scoped(lambda spec: bool(spec.tools))
def build_agent_runner(spec: AgentSpec, ctx: RequestContext, settings: Settings) -> AgentChatRunner:
    """Build the runner for an ``agent`` entry for the request's user and options."""
    store: RunStore | None = None
    notes: NoteRepository | None = None
    if spec.tools or spec.ask_human or spec.mcp_servers:
        database = get_database(settings.database_url)
        store = RunStore(database)
        notes = NoteRepository(database)
    tools = build_tools(spec, ToolContext(owner=ctx.user_key, notes=notes))
    return AgentChatRunner(
        spec,
        create_llm(spec.model, settings=settings),
        request_options(spec, ctx),
        settings,
        tools=tools,
        store=store,
        mcp=McpToolsets(settings, ctx.user_key) if spec.mcp_servers else None,
    )


__all__ = [
    "AgentChatRunner",
    "build_agent_runner",
    "client_tools",
    "request_options",
]
