"""The ``agno`` kind: an Agno agent (``agno.agent.Agent``) served as a chat model.

One runner per (entry, options, user) — the handler's cache (Open WebUI's background tasks
never reach it: ``liteagent.proxy.tasks``). Per request it

1. runs toolkit interception (``liteagent.toolkits.ToolkitGate``): credentials pasted in the
   chat are checked, stored encrypted and removed from the conversation; "revoke <toolkit>"
   deletes them; unconfigured toolkits are asked for. Any of these answers without the agent;
2. otherwise runs the agent on the latest user message, with the user's configured toolkits
   and the chat's earlier turns from Agno's own session database (session id: the request's
   ``session_key``, user id: its ``user_key``), streaming text, reasoning, a status while a
   tool runs and one finished tool block per call, and the real token usage.

Agno is imported here only, when an ``agno`` entry is first used.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import AsyncGenerator
from typing import Any

from liteagent.catalog import AgnoSpec
from liteagent.config import Settings
from liteagent.errors import AgentExecutionError, ConfigurationError
from liteagent.llm import BaseLLMProvider, ChatOptions, create_llm
from liteagent.llm.base import content_to_text
from liteagent.log import get_logger
from liteagent.proxy.context import RequestContext, strip_rendered_blocks
from liteagent.proxy.events import (
    ReasoningDelta,
    RunEvent,
    RunFinished,
    StatusUpdate,
    TextDelta,
    ToolStep,
    UsageReport,
)
from liteagent.proxy.request_options import chat_options
from liteagent.proxy.runners.agno_model import REQUEST_OPTIONS, agno_model
from liteagent.storage import get_database
from liteagent.toolkits import ToolkitGate, get_toolkit_service
from liteagent.toolkits.interception import last_user_text

logger = get_logger(__name__)

# Agno reports usage to its own service unless told not to; LiteAgent never phones home.
os.environ.setdefault("AGNO_TELEMETRY", "false")

_dbs: dict[str, Any] = {}
_dbs_lock = threading.Lock()


def agno_db(settings: Settings) -> Any:
    """Agno's session database: ``LITEAGENT_AGNO_DB_URL``, else LiteAgent's own database.

    With LiteAgent's database Agno shares its engine (one pool, SQLite's WAL and busy timeout),
    and its ``agno_*`` tables sit beside LiteAgent's.
    """
    url = settings.agno_db_url or settings.database_url
    with _dbs_lock:
        db = _dbs.get(url)
        if db is not None:
            return db
        backend = url.split(":", 1)[0].split("+", 1)[0]
        engine = None if settings.agno_db_url else get_database(url).engine
        if backend == "sqlite":
            from agno.db.sqlite import AsyncSqliteDb

            db = (
                AsyncSqliteDb(db_engine=engine) if engine is not None else AsyncSqliteDb(db_url=url)
            )
        elif backend.startswith("postgres"):
            from agno.db.postgres import AsyncPostgresDb

            db = (
                AsyncPostgresDb(db_engine=engine)
                if engine is not None
                else AsyncPostgresDb(db_url=url)
            )
        else:
            raise ConfigurationError(
                f"Agno's session history needs SQLite or PostgreSQL; the database URL uses "
                f"'{backend}'. Set LITEAGENT_AGNO_DB_URL to a sqlite+aiosqlite:// or "
                "postgresql+psycopg_async:// URL."
            )
        _dbs[url] = db
        return db


class AgnoRunner:
    """Runs one ``agno`` entry for one user.

    The Agno agent is built on first use and rebuilt when the set of toolkits the user has
    configured changes (also when it changed through another replica). Toolkit tools read the
    user's credentials at call time, so a refreshed or replaced token is used at once.
    """

    def __init__(
        self,
        spec: AgnoSpec,
        user_key: str,
        provider: BaseLLMProvider,
        options: ChatOptions,
        settings: Settings,
    ) -> None:
        self.spec = spec
        self.user_key = user_key
        self.provider = provider
        self.options = options
        self.settings = settings
        service = get_toolkit_service(settings)
        self.toolkits = service.configs(spec.toolkits)
        self.gate = ToolkitGate(self.toolkits)
        self.max_iterations = spec.max_iterations or settings.max_iterations
        self._agent: Any = None
        self._agent_toolkits: frozenset[str] | None = None

    async def aclose(self) -> None:
        await self.provider.aclose()

    # ------------------------------------------------------------------ building the agent
    async def _agent_for(self, configured: frozenset[str]) -> Any:
        if self._agent is not None and configured == self._agent_toolkits:
            return self._agent
        from agno.agent import Agent

        tools = []
        instructions = [self.spec.instructions.strip()]
        for config in self.toolkits:
            if config.name not in configured:
                continue
            toolkit = await config.get_toolkit(self.user_key)
            if toolkit is not None:
                tools.append(toolkit)
                instructions += config.get_agent_instructions()
        self._agent = Agent(
            name=self.spec.name,
            id=f"liteagent-{self.spec.name}",
            model=agno_model(
                self.provider,
                temperature=self.options.temperature,
                max_tokens=self.options.max_tokens,
            ),
            instructions=instructions,
            tools=tools,
            db=agno_db(self.settings),
            add_history_to_context=self.spec.history_runs > 0,
            num_history_runs=self.spec.history_runs or None,
            tool_call_limit=self.spec.tool_call_limit or self.max_iterations,
            markdown=self.spec.markdown,
            telemetry=False,
        )
        self._agent_toolkits = configured
        logger.info(
            "agno_agent_built",
            agent=self.spec.name,
            user=self.user_key,
            toolkits=sorted(configured),
        )
        return self._agent

    # ------------------------------------------------------------------ one request
    async def run(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        decision = await self.gate.intercept(ctx)
        if decision.reply is not None:
            yield TextDelta(decision.reply)
            yield RunFinished(metadata={"model": self.provider.model_id, "toolkit_reply": True})
            return
        message = strip_rendered_blocks(last_user_text(decision.messages)).strip()
        if not message:
            message = content_to_text(decision.messages[-1].get("content")) or "Continue."
        agent = await self._agent_for(decision.configured)
        async for event in self._run_agent(agent, message, ctx):
            yield event

    async def _run_agent(
        self, agent: Any, message: str, ctx: RequestContext
    ) -> AsyncGenerator[RunEvent, None]:
        # this request's stop and top_p reach the model calls of this run only
        token = REQUEST_OPTIONS.set(chat_options(ctx.options))
        try:
            async with contextlib.aclosing(self._events(agent, message, ctx)) as events:
                async for event in events:
                    yield event
        finally:
            with contextlib.suppress(ValueError):  # closed from another context
                REQUEST_OPTIONS.reset(token)

    async def _events(
        self, agent: Any, message: str, ctx: RequestContext
    ) -> AsyncGenerator[RunEvent, None]:
        from agno.run.agent import (
            ModelRequestCompletedEvent,
            ModelRequestStartedEvent,
            ReasoningContentDeltaEvent,
            RunCancelledEvent,
            RunCompletedEvent,
            RunContentEvent,
            RunErrorEvent,
            ToolCallCompletedEvent,
            ToolCallErrorEvent,
            ToolCallStartedEvent,
        )

        finish = "stop"
        model_calls = 0
        stream = agent.arun(
            message,
            stream=True,
            stream_events=True,
            session_id=ctx.session_key,
            user_id=ctx.user_key,
        )
        async for event in stream:
            if isinstance(event, ModelRequestStartedEvent):
                model_calls += 1
                if model_calls > self.max_iterations:
                    # Agno loops for as long as the model keeps asking for tools (small models
                    # can do that for ever): stop it, and say so.
                    await stream.aclose()
                    logger.warning(
                        "agno_run_iteration_limit",
                        agent=self.spec.name,
                        user=ctx.user_key,
                        model_calls=self.max_iterations,
                    )
                    yield TextDelta(
                        f"\n\nI stopped after {self.max_iterations} model calls without reaching "
                        "an answer. Try a more specific request (or a larger model)."
                    )
                    finish = "length"
                    break
            elif isinstance(event, RunContentEvent):
                if event.reasoning_content:
                    yield ReasoningDelta(event.reasoning_content)
                if isinstance(event.content, str) and event.content:
                    yield TextDelta(event.content)
            elif isinstance(event, ReasoningContentDeltaEvent):
                if event.reasoning_content:
                    yield ReasoningDelta(event.reasoning_content)
            elif isinstance(event, ToolCallStartedEvent) and event.tool is not None:
                yield StatusUpdate(f"Running {event.tool.tool_name}…")
            elif isinstance(event, ToolCallCompletedEvent | ToolCallErrorEvent):
                tool = event.tool
                if tool is None:
                    continue
                failed = isinstance(event, ToolCallErrorEvent) or bool(tool.tool_call_error)
                result = tool.result if tool.result is not None else getattr(event, "error", "")
                yield StatusUpdate(f"Ran {tool.tool_name}", done=True)
                yield ToolStep(
                    call_id=tool.tool_call_id or "",
                    name=tool.tool_name or "",
                    arguments=json.dumps(tool.tool_args or {}),
                    result=str(result or ""),
                    is_error=failed,
                )
            elif isinstance(event, ModelRequestCompletedEvent):
                yield UsageReport(
                    _usage(event.input_tokens, event.output_tokens), model=self.provider.model_id
                )
            elif isinstance(event, RunErrorEvent):
                logger.warning(
                    "agno_run_failed",
                    agent=self.spec.name,
                    user=ctx.user_key,
                    error_type=event.error_type,
                )
                raise AgentExecutionError(
                    f"The agent '{self.spec.name}' failed: {event.content or 'unknown error'}"
                )
            elif isinstance(event, RunCancelledEvent):
                finish = "stop"
            elif isinstance(event, RunCompletedEvent):
                logger.info("agno_run_completed", agent=self.spec.name, user=ctx.user_key)
        yield RunFinished(finish_reason=finish, metadata={"model": self.provider.model_id})


def _usage(prompt: int | None, completion: int | None) -> Any:
    from liteagent.llm.base import Usage

    return Usage(prompt or 0, completion or 0)


def build_agno_runner(spec: AgnoSpec, ctx: RequestContext, settings: Settings) -> AgnoRunner:
    """Build the runner for an ``agno`` entry for the request's user and options."""
    return AgnoRunner(
        spec,
        ctx.user_key,
        create_llm(spec.model, settings=settings),
        chat_options(ctx.options, temperature=spec.temperature, max_tokens=spec.max_tokens),
        settings,
    )
