"""The LiteLLM ``CustomLLM`` that serves every catalog entry as ``liteagent/<name>``.

The proxy calls only ``acompletion`` and ``astreaming``; the sync ``completion`` and
``streaming`` (for library users of ``litellm.completion``) drive the same async code on a
private event loop thread. There is one run loop — ``_events`` — from which the complete
response and the stream are both derived.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import AbstractContextManager, AsyncExitStack, aclosing
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from anyio.from_thread import BlockingPortal, start_blocking_portal
from litellm.exceptions import APIError
from litellm.llms.custom_llm import CustomLLM, CustomLLMError
from litellm.types.utils import (
    ChatCompletionMessageToolCall,
    Function,
    GenericStreamingChunk,
    ModelResponse,
    ModelResponseStream,
)
from litellm.types.utils import Usage as LiteLLMUsage
from sqlalchemy.exc import OperationalError

from liteagent.catalog import Catalog, ModelSpec, load_catalog
from liteagent.catalog.runtime_store import RuntimeCatalog
from liteagent.config import Settings, get_settings
from liteagent.errors import AgentNotFoundError, LiteAgentError, StorageUnavailableError
from liteagent.llm import BaseLLMProvider, create_llm
from liteagent.llm.base import Usage
from liteagent.llm.pricing import CallPricer
from liteagent.llm.provenance import (
    LLMCall,
    provenance_headers,
    record_llm_calls_of,
    summarize_calls,
)
from liteagent.log import get_logger
from liteagent.proxy.cache import SHARED, AgentCache, AgentCacheKey
from liteagent.proxy.chunks import (
    event_chunk,
    final_chunk,
    reasoning_chunk,
    status_event,
    text_chunk,
    tool_calls_chunk,
)
from liteagent.proxy.context import RequestContext, RequestLimits
from liteagent.proxy.dispatch import EventTranslator, Piece
from liteagent.proxy.events import (
    RunEvent,
    RunFinished,
    ToolStep,
)
from liteagent.proxy.heap import note_request
from liteagent.proxy.input_gate import check_input
from liteagent.proxy.request_options import check_for_entry
from liteagent.proxy.runners import Runner, build_runner, runner_is_per_user
from liteagent.proxy.runtime_models import CatalogRefresher, drop_stale
from liteagent.proxy.structured import instruction, json_answer
from liteagent.proxy.tasks import TaskAnswerer
from liteagent.redaction import redact_text
from liteagent.runtime.services import RuntimeServices
from liteagent.runtime.session_lock import (
    LockBackend,
    ReplicaLockBackend,
    SessionLocks,
    turn_key,
)
from liteagent.storage import dispose_databases

if TYPE_CHECKING:
    from liteagent.storage.locks import AdvisoryLocks
    from liteagent.toolkits.interception import ToolkitGate

logger = get_logger(__name__)
_background: set[asyncio.Future[None]] = set()

StreamItem = GenericStreamingChunk | ModelResponseStream
WORKING = "Working…"


# LiteLLM maps a handler's error by its status, and one outside its table (400, 401, 403, 404,
# 408, 422, 429, 5xx) becomes a 400. Its own ``APIError`` passes through with its status.
_UNMAPPED_STATUSES = frozenset({413})


def to_litellm_error(
    exc: BaseException, *, request_id: str | None = None
) -> CustomLLMError | APIError:
    """Turn any exception into an error the proxy renders as an OpenAI error with its status."""
    if isinstance(exc, CustomLLMError):
        return exc
    if isinstance(exc, LiteAgentError):
        if exc.status_code in _UNMAPPED_STATUSES:
            return APIError(
                status_code=exc.status_code, message=exc.message, llm_provider="liteagent", model=""
            )
        return _llm_error(exc.status_code, exc.message)
    if isinstance(exc, OperationalError):  # locked, read-only, disk full, file gone…
        return _llm_error(503, storage_unavailable(request_id).message)
    ref = f" (request {request_id})" if request_id else ""
    return _llm_error(500, f"LiteAgent hit an internal error{ref}; see the proxy logs.")


def storage_unavailable(request_id: str | None = None) -> StorageUnavailableError:
    """The error for a database that could not be used: retryable, nothing was lost."""
    ref = f" (request {request_id})" if request_id else ""
    return StorageUnavailableError(
        "LiteAgent's database is busy or unavailable just now, so nothing was run or changed"
        f"{ref}. Send the message again in a moment; if it keeps failing, the operator should "
        "check LITEAGENT_DATABASE_URL (the proxy logs say why)."
    )


def _llm_error(status_code: int, message: str) -> CustomLLMError:
    return CustomLLMError(status_code=status_code, message=message)  # type: ignore[no-untyped-call]


class LiteAgentLLM(CustomLLM):
    """Serves catalog agents through LiteLLM.

    Args:
        settings: Settings (default: read from the environment).
        catalog: The catalog (default: loaded from ``settings.catalog_path``).
    """

    def __init__(self, settings: Settings | None = None, catalog: Catalog | None = None) -> None:
        super().__init__()
        self.settings = settings or get_settings()
        self.catalog = catalog if catalog is not None else load_catalog(self.settings.catalog_path)
        budget = self.settings.agent_cache_mb
        self.cache: AgentCache[Runner] = AgentCache(
            self.settings.agent_cache_size,
            on_evict=self._close_evicted,
            max_bytes=int(budget * 1024 * 1024) if budget else None,
        )
        self.tasks = TaskAnswerer(self.settings)
        # Redis-backed when REDIS_URL is set (shared by replicas), else in-process
        self.runtime = RuntimeServices.from_settings(self.settings, database_ping=self._ping_db)
        if self.runtime.shared:
            self.runtime.install()
        self.runtime.invalidation.on(self._invalidated_elsewhere)
        # agents defined through the management API (docs/api.md)
        self.refresher = CatalogRefresher(
            self.catalog, self.settings, self._catalog_reloaded, self.runtime
        )
        self._advisory: AdvisoryLocks | None = None
        self.locks = SessionLocks(self._turn_locks())
        self._recognisers: ToolkitGate | None = None
        self.limits = RequestLimits.from_settings(self.settings)
        # Runners a request is using right now (by id): an evicted runner is closed only when
        # its last request is done with it.
        self._in_use: dict[int, int] = {}
        self._retired: dict[int, Runner] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._portal: BlockingPortal | None = None
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        if any(getattr(spec, "toolkits", ()) for spec in self.catalog):
            # Storing or revoking a user's credentials drops that user's cached agents.
            from liteagent.toolkits import get_toolkit_service

            get_toolkit_service(self.settings).storage.subscribe(self._credentials_changed)

    def _credentials_changed(self, user_key: str) -> None:
        self._credentials_changed_locally(user_key)
        if self.runtime.shared:  # and on every other replica
            publish = self.runtime.invalidation.publish("user_agents", user_key)
            try:
                task = asyncio.get_running_loop().create_task(publish)
            except RuntimeError:
                publish.close()
                return
            _background.add(task)
            task.add_done_callback(_background.discard)

    def _invalidated_elsewhere(self, kind: str, key: str) -> None:
        if kind == "user_agents":
            self._credentials_changed_locally(key)

    def _catalog_reloaded(self, old: RuntimeCatalog, new: RuntimeCatalog) -> None:
        self.catalog = new.catalog
        drop_stale(self.cache, old, new)  # runners and ingestions of changed entries

    async def catalog_changed(self) -> None:
        """After a write of the run-time catalog: reload here, and tell the other replicas."""
        await self.refresher.changed()

    def _credentials_changed_locally(self, user_key: str) -> None:
        dropped = self.cache.invalidate_user(user_key)
        logger.info("agent_cache_invalidated", user=user_key, dropped=dropped)

    def _turn_locks(self) -> LockBackend:
        """One turn at a time per chat: across replicas through Redis when it is configured,
        else through PostgreSQL's advisory locks when the runs live there, else in-process."""
        if self.runtime.shared:
            return self.runtime.lock_backend
        from liteagent.storage import get_database
        from liteagent.storage.locks import AdvisoryLocks

        database = get_database(self.settings.database_url)
        if database.dialect != "postgresql":
            return self.runtime.lock_backend
        self._advisory = AdvisoryLocks(database)
        return ReplicaLockBackend(self._advisory)

    async def _ping_db(self) -> None:
        from sqlalchemy import text

        from liteagent.storage import get_database

        async with get_database(self.settings.database_url).engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # ----------------------------------------------------------------- the run loop
    def _runner_for(self, spec: ModelSpec, ctx: RequestContext) -> Runner:
        # a runner that holds nothing of its user is built once for everyone
        user = ctx.user_key if runner_is_per_user(spec) else SHARED
        key = AgentCacheKey(spec.name, ctx.temperature, ctx.max_tokens, user)
        runner, hit = self.cache.get_or_build(key, lambda: build_runner(spec, ctx, self.settings))
        note_request()  # the heap is frozen once the first requests were served (proxy.heap)
        logger.info(
            "agent_cache_hit" if hit else "agent_built",
            model=spec.model_name,
            user=ctx.user_key,
            temperature=ctx.temperature,
            max_tokens=ctx.max_tokens,
            cached_agents=len(self.cache),
            cached_bytes=self.cache.cached_bytes,
        )
        return runner

    def _context(
        self, model: str, messages: Any, kwargs: dict[str, Any], *, stream: bool
    ) -> RequestContext:
        return RequestContext.from_litellm(
            model=model,
            messages=messages,
            optional_params=kwargs.get("optional_params"),
            litellm_params=kwargs.get("litellm_params"),
            stream=stream,
            openwebui_jwt_secret=self.settings.openwebui_jwt_secret,
            limits=self.limits,
        )

    async def _spec(self, ctx: RequestContext) -> ModelSpec:
        """The entry; refuses what the request asks that this entry cannot do (400). A name this
        replica does not know yet may have just been defined on another: the catalog is reloaded
        first if the database's version moved."""
        try:
            spec = self.catalog.get(ctx.model)
        except AgentNotFoundError:
            if not await self.refresher.refresh_quietly():
                raise
            spec = self.catalog.get(ctx.model)
        check_for_entry(
            spec.model_name,
            ctx.options,
            getattr(spec, "client_tools", "ignore"),
            kind=spec.kind,
        )
        return spec

    async def _admit(self, ctx: RequestContext) -> tuple[ModelSpec, RequestContext]:
        """The entry, once the request passed its input checks (400 in ``block`` mode)."""
        spec = await self._spec(ctx)
        verdict = await check_input(spec, ctx, self.settings)
        if verdict is not None and verdict.flagged:
            ctx = replace(ctx, input_flags=verdict.result.checks)
        return spec, ctx

    def _run(
        self, spec: ModelSpec, ctx: RequestContext, stack: AsyncExitStack
    ) -> AsyncGenerator[RunEvent, None]:
        fmt = ctx.options.response_format
        if fmt is None:
            return self._borrow(self._runner_for(spec, ctx), stack).run(ctx)
        # the answer must be JSON: the model is told so, and the answer checked
        asked = replace(
            ctx, messages=[{"role": "system", "content": instruction(fmt)}, *ctx.messages]
        )
        runner = self._borrow(self._runner_for(spec, asked), stack)
        provider = getattr(runner, "provider", None)
        if isinstance(provider, BaseLLMProvider):
            return json_answer(runner.run(asked), fmt, provider)
        repair = create_llm(spec.model, settings=self.settings)  # a workflow: the entry's model
        return json_answer(runner.run(asked), fmt, repair, owned=True)

    def events(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        """The run's events for ``ctx``, on the same path as a chat request (per-chat turn
        lock, credential scrubbing, cached runner, run store); used by the A2A server."""
        return self._events(ctx)

    async def _events(
        self, ctx: RequestContext, spec: ModelSpec | None = None
    ) -> AsyncGenerator[RunEvent, None]:
        if spec is None:  # else admitted by the caller
            spec, ctx = await self._admit(ctx)
        calls: list[LLMCall] = []
        price = CallPricer.for_entry(spec, self.catalog.providers)
        await self.runtime.start()  # once: listen for other replicas' invalidations
        metrics, model = self.runtime.metrics, spec.model_name
        started, outcome, stopped = time.monotonic(), "failed", False
        if not ctx.is_task_request:
            metrics.run_started(model)
        try:
            async with AsyncExitStack() as stack:
                if ctx.is_task_request:
                    # Open WebUI's background tasks never build or reach a runner, nor wait for
                    # the chat's turn: they touch no stored state (liteagent.proxy.tasks)
                    run = self.tasks.answer(spec, ctx)
                else:
                    # one turn at a time per chat: a concurrent request of it waits for this one
                    await stack.enter_async_context(
                        self.locks.hold(turn_key(spec.name, ctx.session_key))
                    )
                    metrics.record_histogram(
                        "queue_wait_seconds", time.monotonic() - started, {"model": model}
                    )
                    ctx = self._without_credentials(spec, ctx)
                    run = self._run(spec, ctx, stack)
                # closed at once when the client goes away, so the run learns it and saves itself
                events = await stack.enter_async_context(aclosing(record_llm_calls_of(run, calls)))
                async for event in events:
                    if isinstance(event, ToolStep):
                        metrics.tool_call(event.name, "error" if event.is_error else "ok")
                    if isinstance(event, RunFinished):
                        stopped = bool(event.metadata.get("stopped"))  # aborted: cancelled
                        # Which model answered (after any fallback), how many calls, what they
                        # cost: metadata["liteagent"].
                        summary = summarize_calls(calls, event.metadata.get("model"), price=price)
                        if ctx.input_flags and summary:
                            summary["input_flags"] = list(ctx.input_flags)
                        event = replace(event, metadata={**event.metadata, "liteagent": summary})
                    yield event
            outcome = "cancelled" if stopped else "completed"
        except (GeneratorExit, asyncio.CancelledError):
            outcome = "cancelled"
            raise
        finally:
            if not ctx.is_task_request:
                metrics.run_finished(model, outcome, time.monotonic() - started)

    def _without_credentials(self, spec: ModelSpec, ctx: RequestContext) -> RequestContext:
        """Credentials pasted into a chat (tokens of any known toolkit: ``glpat-…``,
        ``ATATT…``, "jira token …") never reach a model, the run store or a log, whatever the
        entry's kind. Entries with toolkits do this in their own gate, where pasted credentials
        are also recognised as configuration and the user's stored values are removed too."""
        if getattr(spec, "toolkits", ()):
            return ctx
        if self._recognisers is None:
            from liteagent.toolkits import get_toolkit_service
            from liteagent.toolkits.interception import ToolkitGate

            service = get_toolkit_service(self.settings)
            self._recognisers = ToolkitGate([], recognisers=service.recognisers())
        messages = self._recognisers.scrub_shapes(ctx.messages)
        if messages == ctx.messages:
            return ctx
        logger.info("credentials_removed", model=ctx.model, user=ctx.user_key)
        return replace(ctx, messages=messages)

    def _close_evicted(self, key: AgentCacheKey, runner: Runner) -> None:
        if self._in_use.get(id(runner)):
            self._retired[id(runner)] = runner  # closed when its last request is done
            return
        self._schedule_close(runner)

    def _schedule_close(self, runner: Runner) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._close_runner(runner))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_runner(runner: Runner) -> None:
        try:
            await runner.aclose()
        except Exception as exc:  # noqa: BLE001 - a failed close must not hurt any request
            logger.warning(
                "runner_close_failed", runner=type(runner).__name__, error=redact_text(str(exc))
            )

    def _borrow(self, runner: Runner, stack: AsyncExitStack) -> Runner:
        """Count ``runner`` as in use until ``stack`` closes (the request is done with it)."""
        key = id(runner)
        self._in_use[key] = self._in_use.get(key, 0) + 1

        async def give_back() -> None:
            left = self._in_use[key] - 1
            if left:
                self._in_use[key] = left
                return
            del self._in_use[key]
            retired = self._retired.pop(key, None)
            if retired is not None:
                await self._close_runner(retired)

        stack.push_async_callback(give_back)
        return runner

    async def aclose(self) -> None:
        """At shutdown: close every cached runner (waiting for closes already under way), the
        runtime services (Redis connections, listeners), then the database connection pools."""
        await self.refresher.aclose()
        self.cache.clear()
        for runner in list(self._retired.values()):
            await self._close_runner(runner)
        self._retired.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self.runtime.aclose()
        if self._advisory is not None:
            await self._advisory.dispose()
        await dispose_databases()

    # ----------------------------------------------------------------- async (proxy path)
    async def acompletion(  # type: ignore[override]
        self, model: str, messages: list[Any], **kwargs: Any
    ) -> ModelResponse:
        started = time.monotonic()
        ctx: RequestContext | None = None
        try:
            ctx = self._context(model, messages, kwargs, stream=False)
            text: list[str] = []
            reasoning: list[str] = []
            tool_calls: list[ChatCompletionMessageToolCall] = []
            translator = EventTranslator()
            async for event in self._events(ctx):
                for piece in translator.feed(event):
                    if piece.kind == "text":
                        text.append(piece.text)
                    elif piece.kind == "reasoning":
                        reasoning.append(piece.text)
                    elif piece.kind == "tool_calls":
                        tool_calls += [
                            ChatCompletionMessageToolCall(
                                id=c.id,
                                type="function",
                                function=Function(name=c.name, arguments=c.arguments),
                            )
                            for c in piece.calls
                        ]
                    # status lines and sources belong to streams only
            text += [p.text for p in translator.flush()]
            outcome = translator.outcome
            usage, finish, provenance = outcome.usage, outcome.finish, outcome.provenance
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clean API error
            raise self._fail(exc, model, ctx, started) from None
        response: ModelResponse = kwargs.get("model_response") or ModelResponse()
        response.model = ctx.model
        message = response.choices[0].message
        message.content = "".join(text)
        if tool_calls:
            message.tool_calls = [*tool_calls]
            message.content = message.content or None
        if reasoning:
            message.reasoning_content = "".join(reasoning)
        response.choices[0].finish_reason = cast(Any, finish)
        response.usage = LiteLLMUsage(  # type: ignore[attr-defined]
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )
        if provenance:  # a top-level "liteagent" object, and x-liteagent-* headers
            setattr(response, "liteagent", provenance)  # noqa: B010 - an extra body field
            hidden = dict(response._hidden_params or {})
            hidden["additional_headers"] = {
                **(hidden.get("additional_headers") or {}),
                **provenance_headers(provenance),
            }
            if "cost" in provenance:  # LiteLLM's response_cost: the sum of the inner calls
                hidden["response_cost"] = provenance["cost"]
            response._hidden_params = hidden
        self._log_done(ctx, usage, started, stream=False, provenance=provenance)
        return response

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[Any], **kwargs: Any
    ) -> AsyncGenerator[StreamItem, None]:
        started = time.monotonic()
        ctx: RequestContext | None = None
        response_id = f"chatcmpl-{uuid.uuid4().hex}"
        usage = Usage()
        finish = "stop"
        provenance: dict[str, Any] = {}
        events: AsyncGenerator[RunEvent, None] | None = None
        try:
            ctx = self._context(model, messages, kwargs, stream=True)
            # an unknown model (404), an unusable option or refused input (400), before any chunk
            spec, ctx = await self._admit(ctx)
            translator = EventTranslator()
            # A first chunk at once: the client sees that work started, and the proxy starts
            # serving the stream, so a client that goes away (Open WebUI's Stop) is noticed
            # and cancels the run even before the model's first token.
            yield event_chunk(status_event(WORKING, done=False))
            events = self._events(ctx, spec)
            async for event in events:
                for piece in translator.feed(event):
                    yield _stream_chunk(piece, response_id=response_id, model=ctx.model)
            for piece in translator.flush():
                yield text_chunk(piece.text)
            outcome = translator.outcome
            usage, finish, provenance = outcome.usage, outcome.finish, outcome.provenance
            if not outcome.reported_progress:  # close the first status, out of view
                yield event_chunk(status_event(WORKING, done=True, hidden=True))
        except (asyncio.CancelledError, GeneratorExit):
            logger.info("request_cancelled", model=model, user=ctx.user_key if ctx else None)
            if events is not None:  # the run learns at once, and saves itself as cancelled
                await events.aclose()
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clean API error
            raise self._fail(exc, model, ctx, started) from None
        last = final_chunk(usage, finish)
        if provenance:  # LiteLLM lifts these to a top-level "liteagent" key of the chunk
            last["provider_specific_fields"] = {"liteagent": provenance}
        if "cost" in provenance:  # LiteLLM takes a stream's response_cost from usage.cost
            last["usage"] = cast(Any, {**(last["usage"] or {}), "cost": provenance["cost"]})
        yield last
        self._log_done(ctx, usage, started, stream=True, provenance=provenance)

    def _fail(
        self, exc: Exception, model: str, ctx: RequestContext | None, started: float
    ) -> CustomLLMError | APIError:
        request_id = ctx.request_id if ctx else None
        error = to_litellm_error(exc, request_id=request_id)
        log = logger.warning if isinstance(exc, LiteAgentError) else logger.exception
        log(
            "request_failed",
            model=model,
            user=ctx.user_key if ctx else None,
            status=error.status_code,
            error=error.message,
            error_type=type(exc).__name__,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return error

    def _log_done(
        self,
        ctx: RequestContext | None,
        usage: Usage,
        started: float,
        *,
        stream: bool,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        provenance = provenance or {}
        logger.info(
            "request_completed",
            model=ctx.model if ctx else None,
            user=ctx.user_key if ctx else None,
            stream=stream,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            llm_model=provenance.get("model"),
            requested_llm_model=provenance.get("requested_model"),
            fallback_used=provenance.get("fallback_used"),
            llm_calls=provenance.get("llm_calls"),
            cost=provenance.get("cost"),
        )

    # ----------------------------------------------------------------- sync (library path)
    def _blocking_portal(self) -> BlockingPortal:
        if self._portal is None:
            self._portal_cm = start_blocking_portal()
            self._portal = self._portal_cm.__enter__()
        return self._portal

    def completion(  # type: ignore[override]
        self, model: str, messages: list[Any], **kwargs: Any
    ) -> ModelResponse:
        call: Callable[[], Any] = lambda: self.acompletion(model, messages, **kwargs)  # noqa: E731
        return self._blocking_portal().call(call)  # type: ignore[no-any-return]

    def streaming(  # type: ignore[override]
        self, model: str, messages: list[Any], **kwargs: Any
    ) -> Iterator[StreamItem]:
        portal = self._blocking_portal()
        agen = self.astreaming(model, messages, **kwargs)
        try:
            while True:
                try:
                    yield portal.call(agen.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            portal.call(agen.aclose)

    def close(self) -> None:
        """Stop the private event loop used by the sync methods."""
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
            self._portal = None


def _stream_chunk(piece: Piece, *, response_id: str, model: str) -> StreamItem:
    """The chunk that carries one piece of a streamed answer."""
    if piece.kind == "reasoning":
        return reasoning_chunk(piece.text, response_id=response_id, model=model)
    if piece.kind == "status" and piece.status is not None:
        return event_chunk(status_event(piece.status.description, piece.status.done))
    if piece.kind == "source" and piece.source is not None:
        return event_chunk(piece.source)
    if piece.kind == "tool_calls":
        return tool_calls_chunk(piece.calls, response_id=response_id, model=model)
    return text_chunk(piece.text)
