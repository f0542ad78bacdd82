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
from liteagent.config import Settings, get_settings
from liteagent.errors import LiteAgentError, StorageUnavailableError
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
    ContentWriter,
    event_chunk,
    final_chunk,
    reasoning_chunk,
    status_event,
    text_chunk,
    tool_calls_chunk,
)
from liteagent.proxy.context import RequestContext, RequestLimits
from liteagent.proxy.events import (
    ClientToolCalls,
    ReasoningDelta,
    RunEvent,
    RunFinished,
    SourcesEvent,
    StatusUpdate,
    TextDelta,
    ToolStep,
    UsageReport,
)
from liteagent.proxy.registration import schedule_registration
from liteagent.proxy.request_options import check_for_entry
from liteagent.proxy.runners import Runner, build_runner, runner_is_per_user
from liteagent.proxy.runners.rag import schedule_knowledge_ingestion
from liteagent.proxy.structured import instruction, json_answer
from liteagent.proxy.tasks import TaskAnswerer
from liteagent.runtime.session_lock import SessionLocks, turn_key

if TYPE_CHECKING:
    from liteagent.toolkits.interception import ToolkitGate

logger = get_logger(__name__)

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
        self.cache: AgentCache[Runner] = AgentCache(
            self.settings.agent_cache_size, on_evict=self._close_evicted
        )
        self.tasks = TaskAnswerer(self.settings)
        self.locks = SessionLocks()
        self._recognisers: ToolkitGate | None = None
        self.limits = RequestLimits.from_settings(self.settings)
        self._portal: BlockingPortal | None = None
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        if any(getattr(spec, "toolkits", ()) for spec in self.catalog):
            # Storing or revoking a user's credentials drops that user's cached agents.
            from liteagent.toolkits import get_toolkit_service

            get_toolkit_service(self.settings).storage.subscribe(self._credentials_changed)

    def _credentials_changed(self, user_key: str) -> None:
        dropped = self.cache.invalidate_user(user_key)
        logger.info("agent_cache_invalidated", user=user_key, dropped=dropped)

    # ----------------------------------------------------------------- the run loop
    def _runner_for(self, spec: ModelSpec, ctx: RequestContext) -> Runner:
        # a runner that holds nothing of its user is built once for everyone
        user = ctx.user_key if runner_is_per_user(spec) else SHARED
        key = AgentCacheKey(spec.name, ctx.temperature, ctx.max_tokens, user)
        runner, hit = self.cache.get_or_build(key, lambda: build_runner(spec, ctx, self.settings))
        logger.info(
            "agent_cache_hit" if hit else "agent_built",
            model=spec.model_name,
            user=ctx.user_key,
            temperature=ctx.temperature,
            max_tokens=ctx.max_tokens,
            cached_agents=len(self.cache),
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

    def _spec(self, ctx: RequestContext) -> ModelSpec:
        """The entry; refuses what the request asks that this entry cannot do (400)."""
        spec = self.catalog.get(ctx.model)
        check_for_entry(
            spec.model_name,
            ctx.options,
            getattr(spec, "client_tools", "ignore"),
            kind=spec.kind,
        )
        return spec

    def _run(self, spec: ModelSpec, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        fmt = ctx.options.response_format
        if fmt is None:
            return self._runner_for(spec, ctx).run(ctx)
        # the answer must be JSON: the model is told so, and the answer checked
        asked = replace(
            ctx, messages=[{"role": "system", "content": instruction(fmt)}, *ctx.messages]
        )
        runner = self._runner_for(spec, asked)
        provider = getattr(runner, "provider", None)
        if isinstance(provider, BaseLLMProvider):
            return json_answer(runner.run(asked), fmt, provider)
        repair = create_llm(spec.model, settings=self.settings)  # a workflow: the entry's model
        return json_answer(runner.run(asked), fmt, repair, owned=True)

    async def _events(self, ctx: RequestContext) -> AsyncGenerator[RunEvent, None]:
        spec = self._spec(ctx)
        calls: list[LLMCall] = []
        price = CallPricer.for_entry(spec, self.catalog.providers)
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
                ctx = self._without_credentials(spec, ctx)
                run = self._run(spec, ctx)
            # closed at once when the client goes away, so the run learns it and saves itself
            events = await stack.enter_async_context(aclosing(record_llm_calls_of(run, calls)))
            async for event in events:
                if isinstance(event, RunFinished):
                    # Which model answered (after any fallback), how many calls, what they
                    # cost: metadata["liteagent"].
                    summary = summarize_calls(calls, event.metadata.get("model"), price=price)
                    event = replace(event, metadata={**event.metadata, "liteagent": summary})
                yield event

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
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(runner.aclose())
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

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
            usage = Usage()
            finish = "stop"
            provenance: dict[str, Any] = {}
            tool_calls: list[ChatCompletionMessageToolCall] = []
            writer = ContentWriter()
            async for event in self._events(ctx):
                if isinstance(event, TextDelta):
                    text.append(writer.text(event.text))
                elif isinstance(event, ToolStep):
                    text.append(writer.tool(event))
                elif isinstance(event, ReasoningDelta):
                    if not writer.reasoning(event.text):
                        reasoning.append(event.text)
                elif isinstance(event, UsageReport):
                    usage = usage + event.usage
                elif isinstance(event, ClientToolCalls):
                    tool_calls += [
                        ChatCompletionMessageToolCall(
                            id=c.id,
                            type="function",
                            function=Function(name=c.name, arguments=c.arguments),
                        )
                        for c in event.calls
                    ]
                elif isinstance(event, RunFinished):
                    finish = event.finish_reason
                    provenance = event.metadata.get("liteagent") or {}
            text.append(writer.flush())
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
            self._spec(ctx)  # an unknown model (404) or an unusable option (400), before any chunk
            writer = ContentWriter()
            # A first chunk at once: the client sees that work started, and the proxy starts
            # serving the stream, so a client that goes away (Open WebUI's Stop) is noticed
            # and cancels the run even before the model's first token.
            yield event_chunk(status_event(WORKING, done=False))
            working = True
            events = self._events(ctx)
            async for event in events:
                if isinstance(event, TextDelta):
                    yield text_chunk(writer.text(event.text))
                elif isinstance(event, ToolStep):
                    yield text_chunk(writer.tool(event))
                elif isinstance(event, ReasoningDelta):
                    if not writer.reasoning(event.text):
                        yield reasoning_chunk(event.text, response_id=response_id, model=ctx.model)
                elif isinstance(event, StatusUpdate):
                    working = False  # the run reports its own progress from here on
                    yield event_chunk(status_event(event.description, event.done))
                elif isinstance(event, SourcesEvent):
                    for source in event.sources:
                        yield event_chunk(source)
                elif isinstance(event, UsageReport):
                    usage = usage + event.usage
                elif isinstance(event, ClientToolCalls):
                    if pending := writer.flush():
                        yield text_chunk(pending)
                    yield tool_calls_chunk(event.calls, response_id=response_id, model=ctx.model)
                elif isinstance(event, RunFinished):
                    finish = event.finish_reason
                    provenance = event.metadata.get("liteagent") or {}
            if pending := writer.flush():
                yield text_chunk(pending)
            if working:  # nothing else reported progress: close the first status, out of view
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


def create_handler(
    settings: Settings | None = None, catalog: Catalog | None = None
) -> LiteAgentLLM:
    """Build the handler and, inside a running proxy, register the catalog's models."""
    from liteagent.log import configure_logging
    from liteagent.security import check_encryption_key

    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    check_encryption_key(settings)
    handler = LiteAgentLLM(settings=settings, catalog=catalog)
    scheduled = schedule_registration(list(handler.catalog))
    schedule_knowledge_ingestion(list(handler.catalog), settings)
    logger.info(
        "liteagent_handler_ready",
        catalog=handler.catalog.source,
        models=handler.catalog.model_names(),
        default_model=settings.resolved_default_model(),
        registration="scheduled" if scheduled else "not in a proxy",
    )
    return handler
