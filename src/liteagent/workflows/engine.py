"""The workflow engine: the thin shell that drives the reducer.

Every method takes a state and returns a new one; nothing is kept between calls, so a caller can
save the state after any call (``state.to_json()``) and carry on later in another process::

    engine = WorkflowEngine()
    state = engine.launch(definition, {"input": "my printer is on fire"})
    state = await engine.run_to_completion(definition, state, {"llm_client": client})
    if state.status is WorkflowStatus.WAITING_HUMAN:
        ...  # save; later, with the answer:
        state = await engine.provide_human_response(definition, state, "confirm", "yes", ctx)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from liteagent.log import get_logger
from liteagent.workflows.errors import WorkflowExecutionError
from liteagent.workflows.extensions import WorkflowHooks, workflow_hooks
from liteagent.workflows.reducer import WorkflowReducer
from liteagent.workflows.state import WorkflowDefinition, WorkflowState
from liteagent.workflows.types import WorkflowEvent, WorkflowStatus

__all__ = ["DEFAULT_MAX_STEPS", "WorkflowEngine"]

DEFAULT_MAX_STEPS = 100
logger = get_logger(__name__)


class WorkflowEngine:
    """Launches, steps, pauses and resumes workflow runs.

    Args:
        reducer: The reducer to drive (default: a new one using ``hooks``).
        hooks: Hooks for nodes and runs (default: the global ``workflow_hooks``).
    """

    def __init__(
        self, reducer: WorkflowReducer | None = None, hooks: WorkflowHooks | None = None
    ) -> None:
        if reducer is None:
            reducer = WorkflowReducer(hooks if hooks is not None else workflow_hooks)
        self.reducer = reducer
        self.hooks = reducer.hooks

    def launch(
        self, definition: WorkflowDefinition, input_data: dict[str, Any] | None = None
    ) -> WorkflowState:
        """A new ``PENDING`` run of ``definition`` whose variables are ``input_data``."""
        return WorkflowState(
            workflow_id=definition.id,
            variables=dict(input_data or {}),
            metadata={"workflow_name": definition.name},
        )

    async def start(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        input_data: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
    ) -> WorkflowState:
        """Run the ``before_workflow_start`` hooks and make the run ``RUNNING`` at START."""
        prepared = await self.hooks.run_before_workflow_start(definition, state.copy())
        event = WorkflowEvent("start", data={"input": dict(input_data or {})})
        new = await self.reducer.reduce(definition, prepared, event, context)
        logger.info("workflow_started", workflow_id=definition.id, execution_id=new.execution_id)
        return new

    async def step(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        context: dict[str, Any] | None = None,
    ) -> WorkflowState:
        """Execute the current nodes once (starting the run first if it is ``PENDING``).

        A run that is paused, waiting or finished is returned unchanged.
        """
        if state.status is WorkflowStatus.PENDING:
            state = await self.start(definition, state, context=context)
        new = await self.reducer.reduce(definition, state, WorkflowEvent("step"), context)
        return await self._after(definition, state, new)

    async def iterate(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        context: dict[str, Any] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> AsyncIterator[WorkflowState]:
        """Step until the run stops, yielding the state after every step (for progress).

        After ``max_steps`` steps a still-running run fails with a clear error.
        """
        steps = 0
        while state.status in (WorkflowStatus.PENDING, WorkflowStatus.RUNNING):
            if steps >= max_steps:
                state = state.copy()
                state.status = WorkflowStatus.FAILED
                state.error = (
                    f"the run did not finish within max_steps={max_steps} steps "
                    f"(still at: {', '.join(state.current_nodes) or 'nothing'})"
                )
                state.current_nodes = []
                yield state
                return
            state = await self.step(definition, state, context)
            steps += 1
            yield state

    async def run_to_completion(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        context: dict[str, Any] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> WorkflowState:
        """Step until the run completes, fails, pauses or waits; at most ``max_steps`` steps."""
        last = state
        async for current in self.iterate(definition, state, context, max_steps):
            last = current
        return last

    def pause(self, state: WorkflowState) -> WorkflowState:
        """A copy of ``state`` that is ``PAUSED``: ``step`` leaves it alone until ``resume``."""
        if state.is_finished:
            raise WorkflowExecutionError(f"cannot pause a run that is {state.status.value}")
        new = state.copy()
        new.status = WorkflowStatus.PAUSED
        return new

    def resume(self, state: WorkflowState) -> WorkflowState:
        """A copy of a paused ``state`` that runs (or waits) again."""
        from liteagent.workflows.reducer import derived_status

        new = state.copy()
        if new.status is WorkflowStatus.PAUSED:
            new.status = derived_status(new)
        return new

    async def provide_human_response(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        node_id: str,
        response: Any,
        context: dict[str, Any] | None = None,
        *,
        run: bool = True,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> WorkflowState:
        """Answer the HUMAN node ``node_id`` and (with ``run=True``) carry on running.

        Raises ``HumanResponseError`` if that node is not waiting or the answer is not one of
        its options (matched ignoring case and surrounding spaces).
        """
        event = WorkflowEvent("human_response", node_id=node_id, data={"response": response})
        return await self._deliver(definition, state, event, context, run, max_steps)

    async def send_event(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        event_name: str,
        data: Any = None,
        context: dict[str, Any] | None = None,
        *,
        run: bool = True,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> WorkflowState:
        """Deliver ``event_name`` to the WAIT nodes waiting for it and carry on running."""
        event = WorkflowEvent("external_event", data={"event": event_name, "data": data})
        return await self._deliver(definition, state, event, context, run, max_steps)

    async def _deliver(
        self,
        definition: WorkflowDefinition,
        state: WorkflowState,
        event: WorkflowEvent,
        context: dict[str, Any] | None,
        run: bool,
        max_steps: int,
    ) -> WorkflowState:
        """Apply ``event`` to ``state`` and (with ``run``) carry on running."""
        new = await self.reducer.reduce(definition, state, event, context)
        new = await self._after(definition, state, new)
        if run:
            new = await self.run_to_completion(definition, new, context, max_steps)
        return new

    async def _after(
        self, definition: WorkflowDefinition, before: WorkflowState, after: WorkflowState
    ) -> WorkflowState:
        if after.status is before.status or not after.is_finished:
            return after
        if after.status is WorkflowStatus.COMPLETED:
            after = await self.hooks.run_after_workflow_complete(definition, after)
        logger.info(
            "workflow_finished",
            workflow_id=definition.id,
            execution_id=after.execution_id,
            status=after.status.value,
            steps=after.step_count,
        )
        return after
