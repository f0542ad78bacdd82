"""WorkflowState and WorkflowDefinition are plain data: JSON round-trips and stable hashes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from liteagent.workflows import (
    NodeExecution,
    NodeStatus,
    WorkflowBuilder,
    WorkflowDefinition,
    WorkflowState,
    WorkflowStatus,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)
names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
executions = st.builds(
    NodeExecution,
    node_id=names,
    status=st.sampled_from(NodeStatus),
    started_at=st.none() | datetimes,
    completed_at=st.none() | datetimes,
    input_data=st.dictionaries(names, json_values, max_size=3),
    output_data=st.dictionaries(names, json_values, max_size=3),
    error=st.none() | st.text(max_size=30),
    runs=st.integers(min_value=0, max_value=100),
)
states = st.builds(
    WorkflowState,
    workflow_id=names,
    execution_id=st.uuids().map(lambda u: u.hex),
    status=st.sampled_from(WorkflowStatus),
    current_nodes=st.lists(names, max_size=4),
    node_executions=st.dictionaries(names, executions, max_size=4),
    variables=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    created_at=datetimes,
    updated_at=datetimes,
    metadata=st.dictionaries(names, json_values, max_size=3),
    waiting=st.dictionaries(names, st.sampled_from(["human", "event:x"]), max_size=2),
    merge_arrivals=st.dictionaries(names, st.lists(names, max_size=3), max_size=2),
    loop_counters=st.dictionaries(names, st.integers(min_value=0, max_value=1000), max_size=2),
    history=st.lists(names, max_size=6),
    usage=st.dictionaries(
        st.sampled_from(["prompt_tokens", "completion_tokens"]), st.integers(0, 10**6)
    ),
    step_count=st.integers(min_value=0, max_value=1000),
    error=st.none() | st.text(max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(states)
def test_state_round_trips_through_json(state: WorkflowState) -> None:
    text = state.to_json()
    restored = WorkflowState.from_json(text)
    assert restored == state
    assert restored.to_dict() == json.loads(text)
    assert restored.compute_hash() == state.compute_hash()


@settings(max_examples=100, deadline=None)
@given(states, st.text(min_size=1, max_size=10), json_values)
def test_hash_changes_with_content(state: WorkflowState, name: str, value: object) -> None:
    changed = state.copy()
    changed.set_variable(name, value)
    same = json.dumps(changed.variables, sort_keys=True) == json.dumps(
        state.variables, sort_keys=True
    )
    if same:
        assert changed.compute_hash() == state.compute_hash()
    else:
        assert changed.compute_hash() != state.compute_hash()


def test_hash_ignores_key_order_and_is_the_same_in_another_process() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a = WorkflowState("wf", "e1", variables={"x": 1, "y": [1, 2]}, created_at=created,
                      updated_at=created + timedelta(seconds=1))  # fmt: skip
    b = WorkflowState("wf", "e1", variables={"y": [1, 2], "x": 1}, created_at=created,
                      updated_at=created + timedelta(seconds=1))  # fmt: skip
    assert a.compute_hash() == b.compute_hash()
    code = (
        "import sys; from liteagent.workflows import WorkflowState; "
        "print(WorkflowState.from_json(sys.stdin.read()).compute_hash())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=a.to_json(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == a.compute_hash()


def test_state_accessors() -> None:
    state = WorkflowState("wf")
    assert state.get_node_execution("nope").status is NodeStatus.PENDING
    state.set_variable("k", "v")
    assert state.get_variable("k") == "v"
    assert state.get_variable("missing", 3) == 3
    assert state.status is WorkflowStatus.PENDING and not state.is_finished


def test_definition_round_trips_and_queries() -> None:
    definition = (
        WorkflowBuilder("wf", "Demo")
        .add_start()
        .add_condition("check", "x > 1")
        .add_end()
        .connect("start", "check")
        .connect("check", "end", "condition_result")
        .connect("check", "end2", None)
        .add_end("end2")
        .build()
    )
    restored = WorkflowDefinition.from_dict(json.loads(json.dumps(definition.to_dict())))
    assert restored == definition
    assert definition.get_start_node() is not None
    assert definition.get_start_node().id == "start"  # type: ignore[union-attr]
    assert [e.target for e in definition.get_outgoing_edges("check")] == ["end", "end2"]
    assert [e.source for e in definition.get_incoming_edges("end")] == ["check"]
    assert definition.get_node("nope") is None
